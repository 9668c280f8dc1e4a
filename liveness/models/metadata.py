"""What a model's users must know besides its weights, kept beside it in <model>.json.

The liveness threshold calibrated by evaluate_liveness.py --calibrate lives
here, so the demo and every later command decide the way it was calibrated;
so does the face detector whose boxes the model was trained on.
"""
import json
import os

from liveness.common.atomic import write_bytes
from liveness.errors import LivenessError
from liveness.faces.detectors import DEFAULT_TYPE, DETECTOR_TYPES, create_detector

DEFAULT_THRESHOLD = 0.5


def metadata_path(model_path):
    return f"{model_path}.json"


def read_metadata(model_path):
    """The model's metadata, or {} if it has none."""
    path = metadata_path(model_path)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        raise LivenessError(f"cannot read model metadata {path}: {error}") from None
    if not isinstance(data, dict):
        raise LivenessError(f"model metadata {path} is not a JSON object")
    return data


def update_metadata(model_path, replace=False, **fields):
    """Merge `fields` into the model's metadata (or, with `replace`, start it afresh), written atomically."""
    data = {} if replace else read_metadata(model_path)
    data.update(fields)
    write_bytes(metadata_path(model_path), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return data


def check_threshold(threshold, what="--threshold"):
    if threshold is None or not 0.0 <= threshold <= 1.0:
        raise LivenessError(f"{what} must be in [0, 1], got {threshold}")
    return float(threshold)


def resolve_threshold(model_path, threshold=None):
    """(threshold, where it came from): the flag, else the calibrated one beside the model, else 0.5."""
    if threshold is not None:
        return check_threshold(threshold), "--threshold"
    stored = read_metadata(model_path).get("threshold")
    if stored is not None:
        return check_threshold(stored, f"threshold in {metadata_path(model_path)}"), f"calibrated ({metadata_path(model_path)})"
    return DEFAULT_THRESHOLD, "default"


def resolve_detector_type(kind=None, model_path=None):
    """(detector type, where the choice came from): the flag, else the model's metadata, else the SSD."""
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
