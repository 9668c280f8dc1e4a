"""le.pickle without the risk: a restricted unpickler for LabelEncoders.

`pickle.load` on a file from a stranger runs whatever code the file names.
Users share le.pickle files with their models, so this reader resolves only
the handful of globals a pickled scikit-learn LabelEncoder needs (the class
itself and NumPy's array reconstruction) and refuses every other one.
"""
import codecs
import io
import pickle
import warnings

import numpy as np
from sklearn.preprocessing import LabelEncoder

from liveness.common.atomic import write_bytes
from liveness.common.unpickling import AllowListUnpickler
from liveness.errors import LivenessError

_ALLOWED = {
    # LabelEncoder's module moved between scikit-learn versions.
    ("sklearn.preprocessing._label", "LabelEncoder"): LabelEncoder,
    ("sklearn.preprocessing.label", "LabelEncoder"): LabelEncoder,
    # NumPy 1 pickles name numpy.core, NumPy 2 numpy._core; both mean the same.
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # protocol 2 pickles spell bytes as _codecs.encode(str, "latin1"): a pure function
    ("_codecs", "encode"): codecs.encode,
}


class _LabelEncoderUnpickler(AllowListUnpickler):
    allowed = _ALLOWED


def _check_classes(classes):
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size < 2 or classes.dtype.kind not in "UiuSb":
        raise LivenessError("label encoder must hold two or more string or integer classes")
    if classes.dtype.kind == "S":
        classes = classes.astype(str)
    return classes


def load_label_encoder(path):
    """A LabelEncoder from `path`, refusing any pickle that is not plainly one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise LivenessError(f"cannot read label encoder {path}: {error.strerror}") from None
    try:
        with warnings.catch_warnings():
            # An encoder from an older scikit-learn warns; only its class names are kept.
            warnings.simplefilter("ignore")
            loaded = _LabelEncoderUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as error:
        raise LivenessError(f"{path} is not a plain LabelEncoder pickle ({error})") from None
    except Exception as error:  # truncated or garbled bytes raise many kinds
        raise LivenessError(f"{path} is not a readable LabelEncoder pickle ({type(error).__name__})") from None
    if not isinstance(loaded, LabelEncoder) or not hasattr(loaded, "classes_"):
        raise LivenessError(f"{path} does not hold a fitted LabelEncoder")
    # A fresh encoder: nothing from the file but the class names survives.
    encoder = LabelEncoder()
    encoder.classes_ = _check_classes(loaded.classes_)
    return encoder


def save_label_encoder(encoder, path):
    """Pickle `encoder` to `path` atomically (readable by the original scripts too)."""
    write_bytes(path, pickle.dumps(encoder))
