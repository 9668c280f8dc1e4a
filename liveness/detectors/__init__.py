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
and models that name none keep the SSD.
"""
from liveness.detectors.base import Detector, clip_box, iou, merge_overlapping  # noqa: F401
from liveness.errors import LivenessError

DETECTOR_TYPES = ("ssd", "ssd-squashed", "retinaface", "haar", "hog", "mmod")
DEFAULT_TYPE = "ssd"


def create_detector(kind="ssd", folder=None, min_confidence=None):
    """A detector of --detector-type `kind`; --detector (`folder`) is where its files are, for ssd and retinaface;
    `min_confidence` None: the detector's own default (0.5; 0.1 for retinaface)."""
    if kind in ("ssd", "ssd-squashed"):
        from liveness.detectors.ssd import SsdDetector
        return SsdDetector(folder, min_confidence, squash=kind == "ssd-squashed")
    if kind == "retinaface":
        from liveness.detectors.retinaface import RetinaFaceDetector
        return RetinaFaceDetector(folder, min_confidence)
    if kind == "haar":
        from liveness.detectors.haar import HaarDetector
        return HaarDetector(min_confidence)
    if kind in ("hog", "mmod"):
        from liveness.detectors.dlib_models import HogDetector, MmodDetector
        return (HogDetector if kind == "hog" else MmodDetector)(min_confidence)
    raise LivenessError(f"--detector-type must be one of {', '.join(DETECTOR_TYPES)}, got {kind}")


def resolve_detector_type(kind=None, model_path=None):
    """(detector type, where the choice came from): the flag, else the model's metadata, else the SSD."""
    from liveness.metadata import metadata_path, read_metadata

    if kind is not None:
        return kind, "--detector-type"
    stored = read_metadata(model_path).get("detector") if model_path else None
    if stored is None:
        return DEFAULT_TYPE, "the default: the model names none"
    if stored not in DETECTOR_TYPES:
        raise LivenessError(f"{metadata_path(model_path)} names the face detector {stored!r}, not one of "
                            f"{', '.join(DETECTOR_TYPES)}; pass --detector-type")
    return stored, f"named by the model in {metadata_path(model_path)}"


def detector_for(args, model_path=None):
    """The detector a command's flags and model ask for, with its [INFO] line printed."""
    kind, source = resolve_detector_type(args.detector_type, model_path)
    detector = create_detector(kind, args.detector, args.confidence)
    print(f"[INFO] face detector: {kind} ({source}), confidence {detector.min_confidence}")
    return detector


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
