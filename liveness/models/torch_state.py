"""PyTorch state dicts (.pth) as NumPy arrays, without PyTorch and without running pickled code.

`torch.load` unpickles, and a pickle can call any function it names. A state
dict needs only a handful: an OrderedDict, the tensor rebuild function and
the storage types. This reader resolves those to harmless stand-ins of its
own and refuses every other name, as liveness.models.labels reads le.pickle.

Two layouts are read:
- zip (torch >= 1.6): `<archive>/data.pkl` plus one raw file per storage,
  `<archive>/data/<key>`;
- legacy (older torch, the published MiniFASNet files): four pickles in a row
  (magic number, protocol version, system info, the state dict), then the
  storage keys, then each storage as an int64 element count and its bytes.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from liveness.common.unpickling import AllowListUnpickler
from liveness.errors import LivenessError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class -> NumPy dtype (little-endian, as torch writes them)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    """Stands in for torch.FloatStorage and friends: only its dtype is ever used."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor still to be read: which storage, and where in it."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, int(offset), tuple(shape), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _StateDictUnpickler(AllowListUnpickler):
    allowed = _ALLOWED

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError("refused a persistent id that is not a plain storage")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        return (pid[1], str(pid[2]), int(pid[4]))


def _unpickle(stream):
    return _StateDictUnpickler(stream).load()


def _materialize(ref, buffers):
    """The array a _TensorRef points at, copied out of its storage."""
    storage_type, key, count = ref.storage
    data = np.frombuffer(buffers[key], dtype=storage_type.dtype, count=count)
    if not ref.shape:
        return np.array(data[ref.offset])
    itemsize = data.itemsize
    needed = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride)) + 1
    if any(n == 0 for n in ref.shape):
        return np.zeros(ref.shape, data.dtype)
    if needed > data.size or ref.offset < 0 or any(s < 0 for s in ref.stride):
        raise LivenessError(f"a tensor reaches past its storage {key}")
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], shape=ref.shape,
                                           strides=[s * itemsize for s in ref.stride], writeable=False)
    return np.array(view)


def _tensors(state, buffers):
    if not isinstance(state, dict):
        raise LivenessError("the file does not hold a state dict (a mapping of names to tensors)")
    out = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise LivenessError(f"state dict entry {name!r} is not a tensor")
        out[name] = _materialize(value, buffers)
    return out


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise LivenessError(f"{path} is a zip but not a PyTorch checkpoint (no single data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        state = _unpickle(io.BytesIO(archive.read(pickles[0])))
        keys = {ref.storage[1] for ref in state.values() if isinstance(ref, _TensorRef)} if isinstance(state, dict) else ()
        buffers = {}
        for key in keys:
            member = f"{prefix}data/{key}"
            if member not in names:
                raise LivenessError(f"{path} lacks the storage {member}")
            buffers[key] = archive.read(member)
    return _tensors(state, buffers)


def _read_legacy(path):
    with open(path, "rb") as f:
        stream = io.BytesIO(f.read())
    if _unpickle(stream) != LEGACY_MAGIC:
        raise LivenessError(f"{path} is neither a zip nor a legacy PyTorch file")
    if _unpickle(stream) != LEGACY_PROTOCOL:
        raise LivenessError(f"{path}: unsupported legacy PyTorch protocol")
    info = _unpickle(stream)
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise LivenessError(f"{path} was written on a big-endian machine, which this reader does not support")
    state = _unpickle(stream)
    keys = _unpickle(stream)
    if not isinstance(keys, list):
        raise LivenessError(f"{path}: the storage list is missing")
    types = {ref.storage[1]: ref.storage[0] for ref in state.values() if isinstance(ref, _TensorRef)} \
        if isinstance(state, dict) else {}
    buffers = {}
    for key in keys:
        header = stream.read(8)
        if len(header) < 8 or key not in types:
            raise LivenessError(f"{path} is truncated or names a storage it does not use")
        (count,) = struct.unpack("<q", header)
        size = count * types[key].dtype.itemsize
        buffers[key] = stream.read(size)
        if len(buffers[key]) != size:
            raise LivenessError(f"{path} is truncated (storage {key})")
    return _tensors(state, buffers)


def load_state_dict(path):
    """{name: np.ndarray} from a PyTorch .pth state dict, refusing any pickle that names other code."""
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        return _read_legacy(path)
    except OSError as error:
        raise LivenessError(f"cannot read {path}: {error.strerror or error}") from None
    except pickle.UnpicklingError as error:
        raise LivenessError(f"{path} is not a plain PyTorch state dict ({error})") from None
    except LivenessError:
        raise
    except Exception as error:  # truncated or garbled bytes raise many kinds
        raise LivenessError(f"{path} is not a readable PyTorch state dict ({type(error).__name__}: {error})") from None
