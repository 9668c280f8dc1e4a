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

from liveness.common.atomic import write_bytes
from liveness.common.unpickling import AllowListUnpickler
from liveness.errors import LivenessError

class _PickledEncoder:
    """What the unpickler builds where the file names scikit-learn's LabelEncoder: its saved attributes and no
    code. Only its class names are read from it, so reading them imports no scikit-learn (70 MB in each of the
    service's scoring processes)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a LabelEncoder's state is a dict of attributes")
        self.__dict__.update(state)


_ALLOWED = {
    # LabelEncoder's module moved between scikit-learn versions.
    ("sklearn.preprocessing._label", "LabelEncoder"): _PickledEncoder,
    ("sklearn.preprocessing.label", "LabelEncoder"): _PickledEncoder,
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


def read_classes(path):
    """The class names of the LabelEncoder pickled in `path`, refusing any pickle that is not plainly one."""
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
    if not isinstance(loaded, _PickledEncoder) or not hasattr(loaded, "classes_"):
        raise LivenessError(f"{path} does not hold a fitted LabelEncoder")
    return _check_classes(loaded.classes_)


def load_label_encoder(path):
    """A fresh scikit-learn LabelEncoder holding nothing from `path` but its class names (read_classes)."""
    from sklearn.preprocessing import LabelEncoder

    encoder = LabelEncoder()
    encoder.classes_ = read_classes(path)
    return encoder


def save_label_encoder(encoder, path):
    """Pickle `encoder` to `path` atomically (readable by the original scripts too)."""
    write_bytes(path, pickle.dumps(encoder))
