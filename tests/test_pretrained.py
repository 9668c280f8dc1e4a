"""The pretrained MiniFASNet pair: the .pth reader, the port, the crop rule, and the model in every command.

No torch and no ../shared: the .pth files are written here by hand (tests/torch_files.py).
"""
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import cv2
import httpx
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_script
from liveness.data.sample import real_frames
from liveness.errors import LivenessError
from liveness.faces.crops import Crop, context_box, crop_region, shifted_box
from liveness.models.torch_state import load_state_dict
from torch_files import randomized, torch_state_of, write_legacy_pth, write_zip_pth


@pytest.fixture(scope="module")
def minifasnet():
    import minifasnet

    return minifasnet


def test_a_zip_state_dict_reads_back_as_written_without_torch(tmp_path):
    rng = np.random.default_rng(0)
    state = {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype("float32"),
             "linear.weight": rng.normal(size=(5, 7)).astype("float32"),
             "bn.num_batches_tracked": np.array(12, dtype="int64")}
    path = tmp_path / "small.pth"
    write_zip_pth(path, state, transposed={"linear.weight"})  # stored column-major: read through its strides
    read = load_state_dict(str(path))
    assert list(read) == list(state)
    for name, array in state.items():
        assert read[name].dtype == array.dtype and np.array_equal(read[name], array), name
    assert "torch" not in sys.modules


def test_a_legacy_state_dict_reads_back_as_written(tmp_path):
    state = {"a.weight": np.arange(24, dtype="float32").reshape(2, 3, 4), "a.count": np.array(3, dtype="int64")}
    path = tmp_path / "legacy.pth"
    write_legacy_pth(path, state)
    read = load_state_dict(str(path))
    assert all(np.array_equal(read[k], v) for k, v in state.items()) and list(read) == list(state)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_pth_whose_pickle_calls_a_function_is_refused_and_runs_nothing(tmp_path, layout):
    marker = tmp_path / "code_ran"
    evil = pickle.dumps({"conv.weight": _RunsCode(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", evil)
    else:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(evil)
    with pytest.raises(LivenessError, match="refused to load (posix|os).system"):
        load_state_dict(str(path))
    assert not marker.exists()


def test_a_file_that_is_no_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(LivenessError):
        load_state_dict(str(path))


def _conv_nchw(x, weight, stride, padding, groups=1):
    """PyTorch's Conv2d (no bias) in NumPy, on one NCHW image: the reference the port must equal."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    out_c, in_per_group, kh, kw = weight.shape
    h = (x.shape[1] - kh) // stride + 1
    w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((out_c, h, w))
    per_group = out_c // groups
    for o in range(out_c):
        g = o // per_group
        for i in range(kh):
            for j in range(kw):
                patch = x[g * in_per_group:(g + 1) * in_per_group, i:i + stride * h:stride, j:j + stride * w:stride]
                out[o] += np.tensordot(weight[o, :, i, j], patch, axes=1)
    return out


def _bn_prelu(x, state, name):
    scale = state[f"{name}.bn.weight"] / np.sqrt(state[f"{name}.bn.running_var"] + 1e-5)
    x = (x - state[f"{name}.bn.running_mean"][:, None, None]) * scale[:, None, None] + state[f"{name}.bn.bias"][:, None, None]
    alpha = state[f"{name}.prelu.weight"][:, None, None]
    return np.where(x > 0, x, alpha * x)


def test_the_port_computes_the_first_blocks_as_pytorch_defines_them(minifasnet):
    import keras

    model = randomized(minifasnet.MiniFASNet.build("v2"), seed=0)
    state = {k[len("module."):]: v.astype("float64") for k, v in torch_state_of(model).items()}
    image = np.random.default_rng(1).uniform(0, 255, (80, 80, 3)).astype("float32")
    x = image.transpose(2, 0, 1).astype("float64")
    x = _bn_prelu(_conv_nchw(x, state["conv1.conv.weight"], stride=2, padding=1), state, "conv1")
    x = _bn_prelu(_conv_nchw(x, state["conv2_dw.conv.weight"], stride=1, padding=1, groups=32), state, "conv2_dw")
    probe = keras.Model(model.input, model.get_layer("conv2_dw.prelu").output)
    ported = probe(image[None])[0].numpy().transpose(2, 0, 1)
    assert ported.shape == x.shape == (32, 40, 40)
    assert np.abs(ported - x).max() < 1e-3 * max(1.0, np.abs(x).max())


@pytest.mark.parametrize("variant", ["v2", "v1se"])
def test_converted_weights_give_the_network_they_came_from(minifasnet, tmp_path, variant):
    source = randomized(minifasnet.MiniFASNet.build(variant), seed=2)
    path = tmp_path / f"{variant}.pth"
    write_zip_pth(path, torch_state_of(source))
    converted = minifasnet.set_torch_weights(minifasnet.MiniFASNet.build(variant), load_state_dict(str(path)))
    batch = np.random.default_rng(3).uniform(0, 255, (4, 80, 80, 3)).astype("float32")
    expected, got = source(batch).numpy(), converted(batch).numpy()
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_a_checkpoint_of_the_other_network_is_refused(minifasnet, tmp_path):
    path = tmp_path / "v2.pth"
    write_zip_pth(path, torch_state_of(minifasnet.MiniFASNet.build("v2")))
    with pytest.raises(LivenessError, match="minifasnet_v1se"):
        minifasnet.set_torch_weights(minifasnet.MiniFASNet.build("v1se"), load_state_dict(str(path)))


def test_the_shift_rule_keeps_the_box_shape_at_a_frame_corner():
    (width, height) = (640, 480)
    for box in ((0, 0, 99, 149), (560, 400, 639, 479)):  # top-left and bottom-right corners
        (x0, y0, x1, y1) = shifted_box(box, 2.0, width, height)
        assert 0 <= x0 and 0 <= y0 and x1 <= width - 1 and y1 <= height - 1
        box_w, box_h = box[2] - box[0] + 1, box[3] - box[1] + 1
        assert abs((x1 - x0) - 2 * box_w) <= 1 and abs((y1 - y0) - 2 * box_h) <= 1  # shifted, not cut
    # clipping the same box at the corner loses its shape: a quarter of it is outside the frame
    (cx0, cy0, cx1, cy1) = context_box((0, 0, 99, 149), 2.0, width, height)
    assert (cx1 - cx0, cy1 - cy0) == (148, 224)  # three quarters of 198 x 297, on one side only


def test_a_face_larger_than_the_frame_gets_the_largest_crop_that_fits():
    (width, height) = (200, 100)
    box = (10, -20, 150, 130)  # 141 x 151: taller than the frame
    (x0, y0, x1, y1) = shifted_box(box, 2.7, width, height)
    assert (y0, y1) == (0, height - 1)  # the scale was capped at the frame's height
    assert 0 <= x0 < x1 <= width - 1
    assert abs((x1 - x0) / (y1 - y0) - 141 / 151) < 0.02  # and the box kept its shape
    frame = np.zeros((height, width, 3), "uint8")
    assert crop_region(frame, box, 2.7, "shift").shape[:2] == (y1 - y0 + 1, x1 - x0 + 1)


def test_a_crop_of_several_scales_stacks_each_at_the_model_size():
    frame = next(real_frames(1, (320, 240)))
    box = (120, 60, 200, 160)
    roi = Crop((2.7, 4.0), "shift")(frame, box, (80, 80))
    assert roi.shape == (80, 80, 6)
    assert np.array_equal(roi[:, :, :3], cv2.resize(crop_region(frame, box, 2.7, "shift"), (80, 80)))
    assert np.array_equal(roi[:, :, 3:], cv2.resize(crop_region(frame, box, 4.0, "shift"), (80, 80)))


def run_module(module, *args):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_files_whose_sha256_differs_from_the_published_are_refused(tmp_path):
    from liveness.models.pretrained import NETWORKS

    folder = tmp_path / "downloads"
    folder.mkdir()
    for name, _, _ in NETWORKS:
        (folder / name).write_bytes(b"someone else's weights")
    out = tmp_path / "out"
    result = run_module("liveness.pretrained", "--from", folder, "-m", out / "m.keras", "-l", out / "le.pickle")
    assert_one_line_error(result, "SHA-256", "refusing")
    assert not (out / "m.keras").exists() and not (out / "le.pickle").exists()


def test_offline_the_command_says_in_one_line_how_to_get_the_files(tmp_path, monkeypatch, capsys):
    import liveness.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "RAW", "http://127.0.0.1:9/")  # nothing listens there: the network is "down"
    with pytest.raises(SystemExit) as exit:
        pretrained.main(["--cache", str(tmp_path / "cache"), "-m", str(tmp_path / "m.keras"), "-l", str(tmp_path / "le.pickle"),
                         "--timeout", "5"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[ERROR]")]
    assert exit.value.code == 1 and len(errors) == 1
    assert "--from FOLDER" in errors[0] and "anti_spoof_models" in errors[0]
    assert not list((tmp_path / "cache").glob("*"))  # no partial download left behind


@pytest.fixture(scope="module")
def converted(minifasnet, tmp_path_factory):
    """A pair converted from two .pth files written here (one zip, one legacy), saved as the command saves it."""
    from liveness.models.pretrained import build_pair, save_pretrained

    folder = tmp_path_factory.mktemp("pretrained")
    paths = [str(folder / "v2.pth"), str(folder / "v1se.pth")]
    write_zip_pth(paths[0], torch_state_of(minifasnet.MiniFASNet.build("v2")))
    write_legacy_pth(paths[1], torch_state_of(minifasnet.MiniFASNet.build("v1se")))
    model = build_pair(paths)
    out = {"model": str(folder / "minifasnet.keras"), "le": str(folder / "le.pickle")}
    save_pretrained(model, out["model"], out["le"], paths)
    out["probabilities"] = model(np.full((1, 80, 80, 6), 0.5, "float32")).numpy()
    return out


def test_the_converted_pair_saves_and_loads_with_its_crop_rule(converted):
    from liveness.models.model_io import load_classifier

    classifier, _ = load_classifier(converted["model"], converted["le"])
    assert classifier.classes == ["fake", "real"] and classifier.size == (80, 80)
    assert classifier.cropper == Crop((2.7, 4.0), "shift")
    again = classifier.model(np.full((1, 80, 80, 6), 0.5, "float32")).numpy()
    assert np.allclose(again, converted["probabilities"], atol=1e-6) and np.isclose(again.sum(), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def video_set(clips, tmp_path_factory):
    folder = tmp_path_factory.mktemp("videoset")
    for label in ("real", "fake"):
        os.makedirs(folder / label)
        shutil.copy(clips[label], folder / label / f"subjV_{label}{os.path.splitext(clips[label])[1]}")
    return folder


def test_a_converted_model_runs_in_the_demo(converted, clips, tmp_path):
    out = tmp_path / "annotated.mp4"
    result = run_script("liveness_demo.py", "-m", converted["model"], "-l", converted["le"], "-i", clips["real"],
                        "-o", out, "--no-display", "--detector-type", "ssd")  # RetinaFace's files need a download
    assert result.returncode == 0, result.stderr
    assert "input 80x80, face crop x2.7+x4 (shift)" in result.stdout and out.stat().st_size > 0


def test_a_converted_model_runs_in_evaluation_with_its_failures_shown_crop_by_crop(converted, video_set, tmp_path):
    failures = tmp_path / "failures"
    result = run_script("evaluate_liveness.py", "-m", converted["model"], "-l", converted["le"], "--dataset", video_set,
                        "-o", tmp_path / "eval", "--threshold", 1.0, "--save-failures", failures,
                        "--detector-type", "ssd")  # RetinaFace's files need a download
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(tmp_path / "eval" / "metrics.json"))
    assert metrics["crop_rule"] == "shift" and metrics["crop_scale"] == [2.7, 4.0] and metrics["input_size"] == [80, 80]
    saved = list((failures / "real_as_fake").glob("*.png"))  # at threshold 1 every live face is rejected
    assert saved and cv2.imread(str(saved[0])).shape == (80, 160, 3)  # both crops side by side


def test_a_converted_model_serves_over_http(converted):
    from liveness_api import start_local

    process, url = start_local(converted["model"], converted["le"], "--scorers", 1, "--detector-type", "ssd")
    try:
        frame = next(real_frames(1, (640, 480)))
        response = httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", cv2.imencode(".jpg", frame)[1].tobytes())},
                              timeout=60)
        assert response.status_code == 200
        faces = response.json()["faces"]
        assert len(faces) == 1 and 0.0 <= faces[0]["score"] <= 1.0
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_fine_tuning_the_head_changes_only_the_head_and_keeps_the_crop(converted, gathered, tmp_path):
    from liveness.models.metadata import read_metadata
    from liveness.models.model_io import load_model

    out = tmp_path / "tuned.keras"
    result = run_script("train_liveness.py", "-d", gathered, "-m", out, "-l", tmp_path / "le.pickle", "-p", tmp_path / "plot.png",
                        "--init", converted["model"], "--trainable", "head", "--epochs", 1, "--batch-size", 4, "--lr", 1e-2, "--no-export")
    assert result.returncode == 0, result.stderr
    metadata = read_metadata(str(out))
    assert metadata["crop_rule"] == "shift" and metadata["crop_scale"] == [2.7, 4.0] and metadata["size"] == 80
    assert metadata["init"] == os.path.abspath(converted["model"]) and metadata["license"] == "Apache-2.0"
    assert metadata["detector"] == "ssd"  # the boxes it was tuned on, from the gather manifests
    before, after = load_model(converted["model"]), load_model(str(out))
    changed = set()
    for network in ("minifasnet_v2", "minifasnet_v1se"):
        for layer_before, layer_after in zip(before.get_layer(network).layers, after.get_layer(network).layers):
            for w0, w1 in zip(layer_before.get_weights(), layer_after.get_weights()):
                if not np.array_equal(w0, w1):
                    changed.add(layer_after.name)
    assert changed and changed <= {"linear", "prob"}  # BatchNorm statistics and the body stay as they were


def test_fine_tuning_refuses_options_that_would_rebuild_the_network(converted, gathered, tmp_path):
    result = run_script("train_liveness.py", "-d", gathered, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "--init", converted["model"], "--arch", "mobile")
    assert_one_line_error(result, "--init")
    assert not (tmp_path / "m.keras").exists()


def test_the_pull_adds_its_strength_times_the_squared_distance_from_the_start():
    import keras

    from train_liveness import pulled_to_start

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    wrapper = pulled_to_start(model, strength=0.5)
    wrapper.compile(loss="binary_crossentropy")
    x, y = np.ones((4, 3), "float32"), np.array([[1.0, 0.0]] * 4, "float32")
    at_start = float(wrapper.compute_loss(x=x, y=y, y_pred=wrapper(x)))
    base = float(keras.losses.binary_crossentropy(y, model(x)).numpy().mean())
    assert abs(at_start - base) < 1e-6  # no distance yet
    kernel, bias = model.get_weights()
    model.set_weights([kernel + 0.1, bias - 0.2])  # moved: squared distance 6 x 0.01 + 2 x 0.04 = 0.14
    moved = float(wrapper.compute_loss(x=x, y=y, y_pred=wrapper(x)))
    base = float(keras.losses.binary_crossentropy(y, model(x)).numpy().mean())
    assert abs(moved - (base + 0.5 * 0.14)) < 1e-5


def test_fine_tuning_with_a_pull_trains_and_records_it(converted, gathered, tmp_path):
    from liveness.models.metadata import read_metadata

    out = tmp_path / "pulled.keras"
    result = run_script("train_liveness.py", "-d", gathered, "-m", out, "-l", tmp_path / "le.pickle", "-p", tmp_path / "plot.png",
                        "--init", converted["model"], "--epochs", 1, "--batch-size", 4, "--pull", 0.1, "--no-export")
    assert result.returncode == 0, result.stderr
    metadata = read_metadata(str(out))
    assert metadata["pull"] == 0.1 and metadata["trainable"] == "all" and metadata["crop_rule"] == "shift"
