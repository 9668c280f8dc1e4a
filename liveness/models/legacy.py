"""Models saved by the original tutorial under Keras 2 (HDF5), loaded in Keras 3.

Keras 3's own HDF5 reader fails on these files (it turns Keras 2's
`batch_input_shape` into a five-dimensional input). The file holds everything
needed: `model_config` (the layer list as JSON) and `model_weights/<layer>/...`
(the arrays, in the order named by each layer's `weight_names`). This module
rebuilds the Sequential model layer by layer from the config and sets those
weights, so the model predicts exactly as it did.
"""
import json

import h5py
import keras
import numpy as np

from liveness.errors import LivenessError

# Config keys that carry the architecture. Initializers, regularizers and
# constraints only matter for training from scratch and changed form across
# Keras versions, so they are left out: the saved weights replace them.
_KEYS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias"),
    "Dense": ("units", "activation", "use_bias"),
    "Activation": ("activation",),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "GlobalAveragePooling2D": (),
    "GlobalMaxPooling2D": (),
    "Dropout": ("rate",),
    "Flatten": (),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding", "depth_multiplier", "activation", "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "activation", "use_bias"),
}


def is_keras2_hdf5(path):
    """True if `path` is an HDF5 model file written by Keras 2 (or Keras 1)."""
    if not h5py.is_hdf5(path):
        return False
    with h5py.File(path, "r") as f:
        version = f.attrs.get("keras_version", b"")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return version.startswith(("1.", "2."))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _layer_list(config):
    """The Sequential layer list from a Keras 1 or Keras 2 model_config."""
    if config.get("class_name") != "Sequential":
        raise LivenessError(f"only Sequential legacy models can be loaded, this one is {config.get('class_name')}")
    inner = config["config"]
    return inner["layers"] if isinstance(inner, dict) else inner


def _input_shape(layers):
    for layer in layers:
        cfg = layer["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if shape:
            return tuple(shape[1:])
    raise LivenessError("legacy model config names no input shape")


def _build_layer(layer):
    kind = layer["class_name"]
    if kind not in _KEYS:
        raise LivenessError(f"legacy model uses layer {kind}, which this loader does not know")
    cfg = layer["config"]
    kwargs = {k: cfg[k] for k in _KEYS[kind] if k in cfg}
    for key in ("kernel_size", "strides", "pool_size", "dilation_rate"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    if kind == "BatchNormalization" and isinstance(kwargs.get("axis"), list):
        kwargs["axis"] = kwargs["axis"][0]
    return getattr(keras.layers, kind)(name=cfg["name"], **kwargs)


def _saved_weights(group, name):
    layer_group = group[name]
    names = [_text(n) for n in layer_group.attrs.get("weight_names", [])]
    return [np.asarray(layer_group[n]) for n in names]


def load_keras2_hdf5(path):
    """A Keras 3 model with the architecture and weights of a Keras 2 HDF5 file."""
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise LivenessError(f"{path} holds weights only, no model config")
        config = json.loads(_text(f.attrs["model_config"]))
        layers = _layer_list(config)
        model = keras.Sequential([keras.Input(shape=_input_shape(layers))])
        for layer in layers:
            if layer["class_name"] == "InputLayer":
                continue
            model.add(_build_layer(layer))
        group = f["model_weights"] if "model_weights" in f else f
        for layer in model.layers:
            weights = _saved_weights(group, layer.name) if layer.name in group else []
            if len(weights) != len(layer.weights):
                raise LivenessError(f"legacy model layer {layer.name}: file holds {len(weights)} arrays, "
                                    f"layer needs {len(layer.weights)}")
            if weights:
                layer.set_weights(weights)
    return model
