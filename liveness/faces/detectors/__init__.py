"""Face detectors: one backend a file, one interface (base.Detector.detect), one factory (create_detector).

| --detector-type | backend | files |
| --- | --- | --- |
| ssd (default) | OpenCV's Caffe SSD, the frame letterboxed | face_detector/ (setup) |
| ssd-squashed | the same SSD fed the frame squashed to 300x300, as the tutorial did | face_detector/ |
| retinaface | the pretrained pair's own detector | face_detector/retinaface/ (python -m liveness.pretrained) |
| haar | OpenCV's frontal-face cascade | cv2.data |
| hog, mmod | dlib's, an optional extra | bash setup.sh --with-dlib |

A model names the detector whose boxes it was trained on (`detector` in its
metadata); every command uses that one unless --detector-type says otherwise,
and models that name none keep the SSD (liveness.models.metadata.detector_for).
"""
from liveness.errors import LivenessError
from liveness.faces.detectors.base import Detector, clip_box, iou, merge_overlapping  # noqa: F401

DETECTOR_TYPES = ("ssd", "ssd-squashed", "retinaface", "haar", "hog", "mmod")
DEFAULT_TYPE = "ssd"


def create_detector(kind="ssd", folder=None, min_confidence=None):
    """A detector of --detector-type `kind`; --detector (`folder`) is where its files are, for ssd and retinaface;
    `min_confidence` None: the detector's own default (0.5; 0.1 for retinaface)."""
    if kind in ("ssd", "ssd-squashed"):
        from liveness.faces.detectors.ssd import SsdDetector
        return SsdDetector(folder, min_confidence, squash=kind == "ssd-squashed")
    if kind == "retinaface":
        from liveness.faces.detectors.retinaface import RetinaFaceDetector
        return RetinaFaceDetector(folder, min_confidence)
    if kind == "haar":
        from liveness.faces.detectors.haar import HaarDetector
        return HaarDetector(min_confidence)
    if kind in ("hog", "mmod"):
        from liveness.faces.detectors.dlib_models import HogDetector, MmodDetector
        return (HogDetector if kind == "hog" else MmodDetector)(min_confidence)
    raise LivenessError(f"--detector-type must be one of {', '.join(DETECTOR_TYPES)}, got {kind}")


def add_detector_arguments(ap):
    """The face-detector flags, the same in every command."""
    ap.add_argument("-d", "--detector", type=str, default=None,
                    help="folder with the face detector's files (default: face_detector/ for the SSD, "
                         "face_detector/retinaface/ for retinaface)")
    ap.add_argument("--detector-type", choices=DETECTOR_TYPES, default=None,
                    help="the face detector (default: the one the model names, else ssd): ssd (letterboxed), "
                         "ssd-squashed (the tutorial's input), retinaface (the pretrained pair's own), "
                         "haar (OpenCV cascade), hog or mmod (dlib, optional extra)")
    ap.add_argument("-c", "--confidence", type=float, default=None,
                    help="minimum face confidence in [0, 1] (default: the detector's own, 0.5; 0.1 for retinaface, "
                         "whose scores run lower): the network's probability for ssd and retinaface, the logistic of "
                         "the score for the others")
