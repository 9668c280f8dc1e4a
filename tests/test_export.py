"""LiteRT exports: the same probabilities as the Keras model, and commands that serve them import no TensorFlow."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_script


def run_module(module, *args, env=None):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The trained LivenessNet copied, exported by the command as a user would."""
    folder = tmp_path_factory.mktemp("exported")
    model = folder / "liveness.keras"
    shutil.copy(trained["model"], model)
    result = run_module("liveness.export", model)
    assert result.returncode == 0, result.stderr
    return {"model": str(model), "export": str(folder / "liveness.tflite"), "le": trained["le"]}


@pytest.fixture
def no_tensorflow(tmp_path):
    """An environment in which `import tensorflow` and `import keras` fail: a command that needs them fails."""
    for name in ("tensorflow", "keras"):
        (tmp_path / "blocked" / name).mkdir(parents=True)
        (tmp_path / "blocked" / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path / "blocked"))


def test_an_exported_livenessnet_gives_the_keras_probabilities(exported, roi_dataset):
    import cv2

    from liveness.faces.crops import roi_to_input
    from liveness.models.lite import LiteModel
    from liveness.models.model_io import load_model

    keras_model, lite = load_model(exported["model"]), LiteModel(exported["export"])
    rois = [cv2.imread(str(p)) for p in sorted((roi_dataset / "real").iterdir())[:5]]
    batch = np.stack([roi_to_input(r, (32, 32)) for r in rois])
    assert lite.input_shape == keras_model.input_shape and lite.output_shape == keras_model.output_shape
    assert np.abs(lite(batch) - keras_model(batch, training=False).numpy()).max() <= 1e-5
    assert np.abs(lite(batch[:1]) - keras_model(batch[:1], training=False).numpy()).max() <= 1e-5  # batch resized
    metadata = json.loads(open(exported["export"] + ".json").read())
    assert metadata["runtime"] == "litert" and metadata["exported_from"]["file"] == exported["model"]


def test_an_exported_pair_gives_the_keras_probabilities(tmp_path):
    import minifasnet
    from liveness.models.export import export
    from liveness.models.lite import LiteModel
    from liveness.models.pretrained import build_pair, save_pretrained
    from torch_files import torch_state_of, write_legacy_pth, write_zip_pth

    paths = [str(tmp_path / "v2.pth"), str(tmp_path / "v1se.pth")]
    write_zip_pth(paths[0], torch_state_of(minifasnet.MiniFASNet.build("v2")))
    write_legacy_pth(paths[1], torch_state_of(minifasnet.MiniFASNet.build("v1se")))
    model = build_pair(paths)
    save_pretrained(model, str(tmp_path / "pair.keras"), str(tmp_path / "le.pickle"), paths)
    written = export(str(tmp_path / "pair.keras"), model=model)
    batch = np.random.default_rng(0).random((3, 80, 80, 6), dtype=np.float32)
    assert np.abs(LiteModel(written)(batch) - model(batch, training=False).numpy()).max() <= 1e-5
    assert json.loads(open(written + ".json").read())["crop_scale"] == [2.7, 4.0]


def test_the_demo_and_evaluation_serve_an_export_without_tensorflow(exported, clips, eval_set, tmp_path, no_tensorflow):
    demo = subprocess.run([sys.executable, os.path.join(ROOT, "liveness_demo.py"), "-m", exported["model"], "-l",
                           exported["le"], "-i", clips["real"], "--no-display", "-o", tmp_path / "out.mp4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=no_tensorflow)
    assert demo.returncode == 0, demo.stderr
    assert "runtime: LiteRT" in demo.stdout and (tmp_path / "out.mp4").stat().st_size > 0
    evaluation = subprocess.run([sys.executable, os.path.join(ROOT, "evaluate_liveness.py"), "-m", exported["export"],
                                 "-l", exported["le"], "--dataset", eval_set, "-o", tmp_path / "eval"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300, env=no_tensorflow)
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["faces"] > 0


def test_the_services_scorers_serve_an_export_without_tensorflow(exported, monkeypatch, no_tensorflow):
    import cv2
    import httpx

    from liveness.data.sample import real_frames
    from liveness_api import start_local

    monkeypatch.setenv("PYTHONPATH", no_tensorflow["PYTHONPATH"])  # the service and its scorers inherit it
    process, url = start_local(exported["model"], exported["le"], "--scorers", 1)
    try:
        image = cv2.imencode(".jpg", next(real_frames(1, (640, 480))))[1].tobytes()
        answer = httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=60)
        assert answer.status_code == 200 and len(answer.json()["faces"]) == 1
        process.log.seek(0)
        assert "runtime: LiteRT" in process.log.read()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_stale_export_is_not_served_and_the_keras_model_is(exported, tmp_path):
    from liveness.models.lite import current_export

    model = tmp_path / "liveness.keras"
    shutil.copy(exported["model"], model)
    shutil.copy(exported["export"], tmp_path / "liveness.tflite")
    shutil.copy(exported["export"] + ".json", tmp_path / "liveness.tflite.json")
    assert current_export(str(model)) == str(tmp_path / "liveness.tflite")  # exported from the same bytes
    with open(model, "ab") as f:
        f.write(b"\0")  # the model changed since: its export no longer stands for it
    assert current_export(str(model)) is None


def test_a_corrupt_or_mismatched_export_gives_one_line(exported, clips, tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"TFL3 this is not a flatbuffer" * 10)
    result = run_script("liveness_demo.py", "-m", corrupt, "-l", exported["le"], "-i", clips["real"], "--no-display",
                        "-o", tmp_path / "out.mp4")
    assert_one_line_error(result, "cannot load the exported model", "python -m liveness.export")
    mismatched = tmp_path / "mismatched.tflite"
    shutil.copy(exported["export"], mismatched)
    (tmp_path / "mismatched.tflite.json").write_text(json.dumps({"crop_scale": [2.7, 4.0], "crop_rule": "shift"}))
    result = run_script("liveness_demo.py", "-m", mismatched, "-l", exported["le"], "-i", clips["real"],
                        "--no-display", "-o", tmp_path / "out.mp4")
    assert_one_line_error(result, "3 channels")


def test_training_writes_a_current_export_beside_the_model(roi_dataset, tmp_path):
    from liveness.models.lite import current_export

    model = tmp_path / "m.keras"
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", model, "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4)
    assert result.returncode == 0, result.stderr
    assert current_export(str(model)) == str(tmp_path / "m.tflite") and "[INFO] exported" in result.stdout
