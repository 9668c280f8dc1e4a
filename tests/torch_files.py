"""Writing PyTorch .pth files by hand, with zipfile and pickle only: no torch anywhere.

A state dict's pickle names `torch._utils._rebuild_tensor_v2` and storage
classes such as `torch.FloatStorage`; pickle writes a function by its module
and name, and checks it can import them. Stand-in modules named `torch` and
`torch._utils` live in sys.modules only while a file is being written.
"""
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

_DTYPE_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


@contextlib.contextmanager
def _fake_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in set(_DTYPE_STORAGE.values()):
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Tensor:
    def __init__(self, torch, key, array, transpose=False):
        self.torch, self.key, self.array, self.transpose = torch, key, np.array(array, order="C"), transpose

    def __reduce__(self):
        storage = ("storage", getattr(self.torch, _DTYPE_STORAGE[self.array.dtype]), self.key, "cpu", self.array.size)
        shape, stride = self.array.shape, tuple(s // self.array.itemsize for s in self.array.strides)
        if self.transpose:  # stored transposed: the tensor is a strided view of its storage
            shape, stride = shape[::-1], stride[::-1]
        return (self.torch._utils._rebuild_tensor_v2, (_Storage(storage), 0, shape, stride, False, {}))


class _Storage:
    def __init__(self, pid):
        self.pid = pid


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Storage) else None


def _state_pickle(torch, state, transposed=()):
    tensors = {name: _Tensor(torch, str(i), np.asarray(array).T if name in transposed else np.asarray(array), name in transposed)
               for i, (name, array) in enumerate(state.items())}
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(tensors)
    return buffer.getvalue(), tensors


def write_zip_pth(path, state, transposed=()):
    """`state` ({name: array}) as torch >= 1.6 writes it: archive/data.pkl and archive/data/<key>.

    Names in `transposed` hold their array's transpose, read back through strides.
    """
    with _fake_torch() as torch:
        data, tensors = _state_pickle(torch, state, transposed)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        for t in tensors.values():
            archive.writestr(f"archive/data/{t.key}", t.array.tobytes())


def write_legacy_pth(path, state):
    """`state` as torch before 1.6 wrote it: magic, protocol, system info, state, keys, raw storages."""
    with _fake_torch() as torch:
        data, tensors = _state_pickle(torch, state)
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(data)
        keys = sorted(t.key for t in tensors.values())
        pickle.dump(keys, f, protocol=2)
        by_key = {t.key: t for t in tensors.values()}
        for key in keys:
            f.write(struct.pack("<q", by_key[key].array.size))
            f.write(by_key[key].array.tobytes())


def torch_state_of(model):
    """A MiniFASNet's weights in PyTorch's layout and names (what the published files hold), the inverse of the converter."""
    from keras import layers

    state = {}
    for layer in model.layers:
        n, weights = layer.name, layer.get_weights()
        if isinstance(layer, layers.DepthwiseConv2D):
            state[f"module.{n}.weight"] = weights[0].transpose(2, 3, 0, 1)
        elif isinstance(layer, layers.Conv2D):
            state[f"module.{n}.weight"] = weights[0].transpose(3, 2, 0, 1)
        elif isinstance(layer, layers.BatchNormalization):
            for key, w in zip(("weight", "bias", "running_mean", "running_var"), weights):
                state[f"module.{n}.{key}"] = w
            state[f"module.{n}.num_batches_tracked"] = np.array(7, dtype="int64")
        elif isinstance(layer, layers.PReLU):
            state[f"module.{n}.weight"] = weights[0].reshape(-1)
        elif isinstance(layer, layers.Dense):
            state[f"module.{n}.weight"] = weights[0].T
    return {k: np.array(v, order="C") for k, v in state.items()}


def randomized(model, seed):
    """The model with every weight random (BatchNorm variances positive), so a wrong mapping shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            new = [rng.normal(0, 0.3, w.shape).astype("float32") for w in weights]
            if layer.__class__.__name__ == "BatchNormalization":
                new[3] = rng.uniform(0.5, 1.5, weights[3].shape).astype("float32")
            layer.set_weights(new)
    return model
