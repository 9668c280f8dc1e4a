"""Fixtures made in the tests themselves: tiny synthetic clips, ROIs and a briefly trained model.

Nothing here reads ../shared: the suite passes on a machine without it.
"""
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from liveness.data.sample import real_frames, replay_frames, write_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_SIZE = (320, 240)
CLIP_FRAMES = 8


def run_script(script, *args, cwd=None):
    """Run one of the project's commands as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)],
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=600)


def run_script_without_file_override(script, *args):
    """run_script, without the power to read what its permissions forbid: root's file-permission override
    dropped (util-linux's setpriv), as an ordinary user runs it."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            import pytest

            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run([*prefix, sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def assert_one_line_error(result, *words):
    """An expected mistake: non-zero exit, one [ERROR] line naming the problem, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """A tiny real clip and a tiny replay clip, as the built-in sample makes them."""
    folder = tmp_path_factory.mktemp("clips")
    real = str(folder / "real.mov")
    fake = str(folder / "fake.mp4")
    write_video(real, real_frames(CLIP_FRAMES, CLIP_SIZE))
    write_video(fake, replay_frames(CLIP_FRAMES, CLIP_SIZE))
    return {"real": real, "fake": fake, "frames": CLIP_FRAMES}


@pytest.fixture(scope="session")
def roi_dataset(tmp_path_factory):
    """dataset/{real,fake} with a dozen small face-like ROIs each, made without the detector."""
    folder = tmp_path_factory.mktemp("dataset")
    for label, frames in (("real", real_frames(12, (120, 120), seed=3)), ("fake", replay_frames(12, (120, 160), seed=4))):
        os.makedirs(folder / label)
        for i, frame in enumerate(frames):
            cv2.imwrite(str(folder / label / f"{label}_{i:06d}.png"), frame)
    return folder


@pytest.fixture(scope="session")
def gathered(clips, tmp_path_factory):
    """ROIs gathered with their manifest, as a user's dataset/."""
    dataset = tmp_path_factory.mktemp("gathered")
    for label in ("real", "fake"):
        result = run_script("gather_examples.py", "-i", clips[label], "-o", dataset / label, "-s", 1)
        assert result.returncode == 0, result.stderr
    return dataset


@pytest.fixture(scope="session")
def trained(roi_dataset, tmp_path_factory):
    """A model, label encoder, plot and report from a short run of train_liveness.py."""
    out = tmp_path_factory.mktemp("trained")
    paths = {k: str(out / n) for k, n in
             (("model", "liveness.keras"), ("le", "le.pickle"), ("plot", "plot.png"), ("report", "report.txt"))}
    result = run_script("train_liveness.py", "--dataset", roi_dataset, "--model", paths["model"], "--le", paths["le"],
                        "--plot", paths["plot"], "--report", paths["report"], "--epochs", 2, "--batch-size", 4,
                        "--no-export")  # the Keras model itself; tests/test_export.py exports its own copy
    assert result.returncode == 0, result.stderr
    paths["stdout"] = result.stdout
    return paths


@pytest.fixture
def face_frame():
    """One 320x240 frame with the sample's face in it."""
    return next(real_frames(1, CLIP_SIZE))


def read_video(path):
    """All frames of a video file."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def pixels_equal(a, b):
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.fixture(scope="session")
def eval_set(clips, roi_dataset, tmp_path_factory):
    """Class folders mixing a video (through the detector) and ROIs (taken as they are)."""
    folder = tmp_path_factory.mktemp("evalset")
    for label in ("real", "fake"):
        os.makedirs(folder / label)
        shutil.copy(clips[label], folder / label / f"subjV_{label}{os.path.splitext(clips[label])[1]}")
        for path in sorted((roi_dataset / label).iterdir())[:4]:
            shutil.copy(path, folder / label / f"subjR_{path.name}")
    return folder


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """A stand-in for the second network with its interface: (N, 3, 128, 128) in, [real, spoof] logits out.

    Its real-minus-spoof logit is 6 x (mean red - mean blue) of the crop: a real ONNX file that ONNX Runtime runs.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.array([[3.0, -3.0], [0.0, 0.0], [-3.0, 3.0]], "float32"), "weights")
    axes = numpy_helper.from_array(np.array([2, 3], "int64"), "axes")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input", "axes"], ["means"], keepdims=0),
         helper.make_node("MatMul", ["means", "weights"], ["output"])], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, 128, 128])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", 2])], [weights, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, str(path))
    return str(path)
