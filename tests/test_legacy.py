"""A Keras 2 HDF5 model, written here in the layout Keras 2.3 used, loads and predicts exactly."""
import json

import h5py
import numpy as np
import pytest

from liveness.errors import LivenessError
from liveness.models.model_io import load_model

EPS = 1e-3


def conv(name, filters, first=False):
    config = {"name": name, "trainable": True, "dtype": "float32", "filters": filters, "kernel_size": [3, 3],
              "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
              "activation": "linear", "use_bias": True,
              "kernel_initializer": {"class_name": "VarianceScaling",
                                     "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None}
    if first:
        config["batch_input_shape"] = [None, 32, 32, 3]
    return {"class_name": "Conv2D", "config": config}


def simple(kind, name, **config):
    return {"class_name": kind, "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def keras2_livenessnet_config():
    """The layer list exactly as the original tutorial's liveness.model stores it."""
    layers, n = [], {"conv": 0, "act": 0, "bn": 0, "pool": 0, "drop": 0}

    def nxt(kind):
        n[kind] += 1
        return n[kind]

    def bn():
        return simple("BatchNormalization", f"batch_normalization_{nxt('bn')}", axis=-1, momentum=0.99,
                      epsilon=EPS, center=True, scale=True)

    for filters in (16, 32):
        for _ in range(2):
            layers += [conv(f"conv2d_{nxt('conv')}", filters, first=not layers),
                       simple("Activation", f"activation_{nxt('act')}", activation="relu"), bn()]
        layers += [simple("MaxPooling2D", f"max_pooling2d_{nxt('pool')}", pool_size=[2, 2], padding="valid",
                          strides=[2, 2], data_format="channels_last"),
                   simple("Dropout", f"dropout_{nxt('drop')}", rate=0.25, noise_shape=None, seed=None)]
    layers += [simple("Flatten", "flatten_1", data_format="channels_last"),
               simple("Dense", "dense_1", units=64, activation="linear", use_bias=True),
               simple("Activation", f"activation_{nxt('act')}", activation="relu"), bn(),
               simple("Dropout", f"dropout_{nxt('drop')}", rate=0.5, noise_shape=None, seed=None),
               simple("Dense", "dense_2", units=2, activation="linear", use_bias=True),
               simple("Activation", f"activation_{nxt('act')}", activation="softmax")]
    return {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}


def random_weights(config, rng):
    """{layer name: [(weight name, array)]} in Keras 2's order, BatchNorm statistics included."""
    weights, channels, flat = {}, 3, None
    for layer in config["config"]["layers"]:
        kind, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        if kind == "Conv2D":
            weights[name] = [("kernel:0", rng.normal(0, 0.3, (3, 3, channels, cfg["filters"]))),
                             ("bias:0", rng.normal(0, 0.1, cfg["filters"]))]
            channels = cfg["filters"]
        elif kind == "Dense":
            inputs = flat if flat is not None else channels
            weights[name] = [("kernel:0", rng.normal(0, 0.1, (inputs, cfg["units"]))),
                             ("bias:0", rng.normal(0, 0.1, cfg["units"]))]
            channels, flat = cfg["units"], None
        elif kind == "BatchNormalization":
            weights[name] = [("gamma:0", rng.uniform(0.5, 1.5, channels)), ("beta:0", rng.normal(0, 0.2, channels)),
                             ("moving_mean:0", rng.normal(0, 0.5, channels)),
                             ("moving_variance:0", rng.uniform(0.5, 2.0, channels))]
        elif kind == "Flatten":
            flat = 8 * 8 * channels
    return {k: [(n, a.astype("float32")) for n, a in v] for k, v in weights.items()}


def write_keras2_hdf5(path, config, weights):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.3.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        names = [layer["config"]["name"] for layer in config["config"]["layers"]]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        group.attrs["keras_version"] = b"2.3.1"
        for name in names:
            layer_group = group.create_group(name)
            arrays = weights.get(name, [])
            layer_group.attrs["weight_names"] = np.array([f"{name}/{w}".encode() for w, _ in arrays])
            for w, array in arrays:
                layer_group.create_dataset(f"{name}/{w}", data=array)


def reference_forward(x, config, weights):
    """Inference computed with NumPy alone, from the config and the weights."""
    for layer in config["config"]["layers"]:
        kind, cfg = layer["class_name"], layer["config"]
        w = dict(weights.get(cfg["name"], []))
        if kind == "Conv2D":
            padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
            (n, h, wd, c) = x.shape
            patches = np.stack([padded[:, i:i + h, j:j + wd, :] for i in range(3) for j in range(3)], axis=3)
            x = np.einsum("nhwkc,kcf->nhwf", patches, w["kernel:0"].reshape(9, c, -1)) + w["bias:0"]
        elif kind == "Activation":
            if cfg["activation"] == "relu":
                x = np.maximum(x, 0)
            else:
                e = np.exp(x - x.max(axis=1, keepdims=True))
                x = e / e.sum(axis=1, keepdims=True)
        elif kind == "BatchNormalization":
            x = w["gamma:0"] * (x - w["moving_mean:0"]) / np.sqrt(w["moving_variance:0"] + EPS) + w["beta:0"]
        elif kind == "MaxPooling2D":
            (n, h, wd, c) = x.shape
            x = x.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
        elif kind == "Flatten":
            x = x.reshape(len(x), -1)
        elif kind == "Dense":
            x = x @ w["kernel:0"] + w["bias:0"]
    return x


@pytest.fixture
def keras2_model(tmp_path):
    rng = np.random.default_rng(7)
    config = keras2_livenessnet_config()
    weights = random_weights(config, rng)
    path = tmp_path / "liveness.model"
    write_keras2_hdf5(path, config, weights)
    return path, config, weights


def test_keras2_hdf5_model_predicts_as_its_weights_say(keras2_model):
    path, config, weights = keras2_model
    model = load_model(str(path))
    assert model.count_params() == 148_562
    x = np.random.default_rng(1).random((5, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False).numpy(), reference_forward(x.astype("float64"), config, weights),
                               rtol=1e-4, atol=1e-5)


def test_legacy_model_loads_under_any_name(keras2_model, tmp_path):
    path, _, _ = keras2_model
    renamed = tmp_path / "model.h5"
    renamed.write_bytes(path.read_bytes())
    x = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(load_model(str(renamed))(x).numpy(), load_model(str(path))(x).numpy())


def test_legacy_file_with_missing_weights_is_a_clear_error(keras2_model):
    path, _, _ = keras2_model
    with h5py.File(path, "a") as f:
        del f["model_weights/dense_2/dense_2"]
        f["model_weights/dense_2"].attrs["weight_names"] = np.array([], dtype="S1")
    with pytest.raises(LivenessError, match="dense_2"):
        load_model(str(path))


def test_a_file_that_is_no_model_is_a_clear_error(tmp_path):
    junk = tmp_path / "liveness.model"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(LivenessError, match="not a Keras model"):
        load_model(str(junk))
