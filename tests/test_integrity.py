"""What scores is what was checked: a file that decides a score, replaced or edited after it was made, is refused
in one line by every command and by the service's scoring processes, which back off and say why."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from conftest import ROOT, assert_one_line_error, run_script
from liveness_api import start_local
from test_api import scorer_processes


@pytest.fixture(scope="module")
def fused(trained, tiny_onnx, tmp_path_factory):
    """A trained model exported for LiteRT and fused with the stand-in second network, as a user would make them."""
    from liveness.models.fusion import write_fusion
    from liveness.models.metadata import update_metadata

    folder = tmp_path_factory.mktemp("fused")
    model = folder / "liveness.keras"
    shutil.copy(trained["model"], model)
    shutil.copy(trained["model"] + ".json", str(model) + ".json")
    shutil.copy(tiny_onnx, folder / "second.onnx")
    result = subprocess.run([sys.executable, "-m", "liveness.export", str(model)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    write_fusion(str(folder / "fused.fusion"), str(model), str(folder / "second.onnx"), 0.3)
    update_metadata(str(folder / "fused.fusion"), replace=True, detector="ssd")
    return folder


@pytest.fixture
def copy_of(fused, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(fused, folder)
    return folder


def flip_a_byte(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def demo(model, le, clips, tmp_path):
    return run_script("liveness_demo.py", "-m", model, "-l", le, "-i", clips["real"], "--no-display",
                      "-o", tmp_path / "out.mp4")


def test_an_export_replaced_beside_its_model_is_refused_not_served(copy_of, trained, clips, tmp_path):
    assert demo(copy_of / "liveness.keras", trained["le"], clips, tmp_path).returncode == 0
    flip_a_byte(copy_of / "liveness.tflite")
    result = demo(copy_of / "liveness.keras", trained["le"], clips, tmp_path)
    assert_one_line_error(result, "liveness.tflite", "SHA-256", "python -m liveness.export")


def test_every_part_of_a_fusion_is_pinned(copy_of, trained, clips, tmp_path):
    assert demo(copy_of / "fused.fusion", trained["le"], clips, tmp_path).returncode == 0
    spec = json.loads((copy_of / "fused.fusion").read_text())
    assert set(spec["parts_sha256"]) == {"liveness.keras", "liveness.keras.json", "second.onnx", "liveness.tflite",
                                         "liveness.tflite.json"}
    metadata = json.loads((copy_of / "liveness.keras.json").read_text())
    metadata["crop_scale"] = [1.0]  # the face seen at another scale: another score, silently, before
    (copy_of / "liveness.keras.json").write_text(json.dumps(metadata))
    result = demo(copy_of / "fused.fusion", trained["le"], clips, tmp_path)
    assert_one_line_error(result, "liveness.keras.json", "changed since", "make the fusion again")


def test_a_fusion_that_pins_nothing_is_refused(copy_of, trained, clips, tmp_path):
    spec = json.loads((copy_of / "fused.fusion").read_text())
    del spec["parts_sha256"]
    (copy_of / "fused.fusion").write_text(json.dumps(spec))
    assert_one_line_error(demo(copy_of / "fused.fusion", trained["le"], clips, tmp_path), "records no SHA-256")


def test_an_edited_face_detector_file_is_refused(trained, clips, tmp_path):
    from liveness.faces.detectors.ssd import find_detector_files

    folder = tmp_path / "ssd"
    folder.mkdir()
    for path in find_detector_files():
        shutil.copy(path, folder / os.path.basename(path).replace(".txt", ""))
    prototxt = folder / "deploy.prototxt"
    prototxt.write_text(prototxt.read_text().replace("confidence_threshold: 0.01", "confidence_threshold: 0.9"))
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"], "-i", clips["real"],
                        "-d", folder, "--no-display", "-o", tmp_path / "out.mp4")
    assert_one_line_error(result, "deploy.prototxt", "SHA-256")


def readyz(url):
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def test_a_scorer_that_cannot_load_backs_off_says_why_and_recovers(copy_of, trained):
    process, url = start_local(copy_of / "fused.fusion", trained["le"], "--scorers", 1)
    export = copy_of / "liveness.tflite"
    original = export.read_bytes()
    try:
        status, ready = readyz(url)
        assert status == 200
        # the hash reported stands for what scores: every file that decides a score, as loaded
        assert ready["model"]["files"]["liveness.tflite"] == hashlib.sha256(original).hexdigest()
        assert ready["model"]["sha256"] == hashlib.sha256((copy_of / "fused.fusion").read_bytes()).hexdigest()
        flip_a_byte(export)
        (scorer,) = scorer_processes(process.pid)
        os.kill(scorer, 9)  # its replacement loads the files again, and finds the export changed
        deadline = time.time() + 60
        while (answer := readyz(url))[0] == 200 and time.time() < deadline:
            time.sleep(0.5)
        status, body = answer
        assert status == 503 and "liveness.tflite" in body["detail"] and "changed since" in body["detail"]
        refused = httpx.post(f"{url}/v1/liveness", files={"file": ("a.png", b"\x89PNG")}, timeout=30)
        assert refused.status_code == 503 and "detail" in refused.json()
        time.sleep(4)  # back-off 1 s, then 2 s: a few tries, not a restart loop
        export.write_bytes(original)
        deadline = time.time() + 90
        while readyz(url)[0] != 200 and time.time() < deadline:
            time.sleep(0.5)
        assert readyz(url)[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    process.log.seek(0)
    failures = [line for line in process.log.read().splitlines() if "could not load the model" in line]
    assert 2 <= len(failures) <= 5, failures
    assert all("liveness.tflite" in line and line.startswith("[ERROR]") for line in failures)
    assert "trying again in 1 s" in failures[0] and "trying again in 2 s" in failures[1]
