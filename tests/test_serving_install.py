"""The serving install (requirements-serve.txt, no TensorFlow) runs the service on an exported model.

CI makes a fresh venv from requirements-serve.txt and points LIVENESS_SERVE_PYTHON at its interpreter; without
it this test is skipped (the other tests run in the full install).
"""
import os
import shutil
import subprocess

import cv2
import httpx
import pytest

from conftest import ROOT
from liveness.data.sample import real_frames

SERVE_PYTHON = os.environ.get("LIVENESS_SERVE_PYTHON")


@pytest.mark.skipif(not SERVE_PYTHON, reason="LIVENESS_SERVE_PYTHON names no serving-install interpreter")
def test_the_serving_install_has_no_tensorflow_and_scores_with_an_export(trained, tmp_path):
    import sys

    check = subprocess.run([SERVE_PYTHON, "-c", "import importlib.util as u; print(u.find_spec('tensorflow'), "
                                                "u.find_spec('keras'))"], capture_output=True, text=True)
    assert check.stdout.split() == ["None", "None"], check.stdout + check.stderr
    model = tmp_path / "liveness.keras"
    shutil.copy(trained["model"], model)
    exported = subprocess.run([sys.executable, "-m", "liveness.export", model], cwd=ROOT, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    # the service's own start-up, as start_local does it, but with the serving interpreter
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([SERVE_PYTHON, os.path.join(ROOT, "liveness_api.py"), "-m", tmp_path / "liveness.tflite",
                                "-l", trained["le"], "--port", str(port), "--scorers", "1"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        image = cv2.imencode(".jpg", next(real_frames(1, (640, 480))))[1].tobytes()
        answer = httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=60)
        assert answer.status_code == 200 and len(answer.json()["faces"]) == 1
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(not SERVE_PYTHON, reason="LIVENESS_SERVE_PYTHON names no serving-install interpreter")
def test_the_serving_install_runs_a_fusion_with_no_tensorflow(trained, tiny_onnx, clips, tmp_path):
    import sys

    from liveness.models.fusion import write_fusion

    check = subprocess.run([SERVE_PYTHON, "-c", "import importlib.util as u; print(u.find_spec('onnxruntime'))"],
                           capture_output=True, text=True)
    assert check.stdout.split() == ["None"], check.stdout + check.stderr  # the second network needs no ONNX Runtime
    model, second = tmp_path / "liveness.keras", tmp_path / "second.onnx"
    shutil.copy(trained["model"], model)
    shutil.copy(tiny_onnx, second)
    for member in (model, second):  # both members exported, as python -m liveness.pretrained does
        exported = subprocess.run([sys.executable, "-m", "liveness.export", member], cwd=ROOT, capture_output=True,
                                  text=True)
        assert exported.returncode == 0, exported.stderr
    fusion = tmp_path / "fused.fusion"
    write_fusion(str(fusion), model, second, 0.3)
    demo = subprocess.run([SERVE_PYTHON, os.path.join(ROOT, "liveness_demo.py"), "-m", fusion, "-l", trained["le"],
                           "-i", clips["real"], "--no-display", "-o", tmp_path / "out.avi", "--detector-type", "ssd"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "the second network on LiteRT" in demo.stdout and "no TensorFlow" in demo.stdout
    assert (tmp_path / "out.avi").stat().st_size > 0
