"""Inputs that cannot be read are one [ERROR] line and a non-zero exit, never a traceback or a quiet skip; names
that a spreadsheet would run as formulas are written neutralised in the CSV files."""
import csv
import os
import shutil

import cv2
import pytest

from conftest import assert_one_line_error, run_script, run_script_without_file_override
from liveness.data.sample import real_frames


@pytest.fixture
def locked(tmp_path):
    """A folder nobody but root's override may read, opened again after the test."""
    folder = tmp_path / "locked"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)


def test_gather_from_a_folder_it_may_not_read_is_one_line(locked, clips, tmp_path):
    shutil.copy(clips["real"], locked / "real.mov")
    locked.chmod(0)
    result = run_script_without_file_override("gather_examples.py", "-i", locked, "-o", tmp_path / "out")
    assert_one_line_error(result, str(locked), "Permission denied")


def test_evaluate_stops_on_an_roi_it_may_not_read(roi_dataset, trained, tmp_path):
    dataset = tmp_path / "set"
    shutil.copytree(roi_dataset, dataset)
    unreadable = sorted((dataset / "real").iterdir())[0]
    unreadable.chmod(0)
    result = run_script_without_file_override("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"],
                                              "--dataset", dataset, "-o", tmp_path / "eval")
    assert_one_line_error(result, unreadable.name, "Permission denied")
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_the_service_given_a_model_in_a_folder_it_may_not_read_says_so(trained, tiny_onnx, locked):
    from liveness.models.fusion import write_fusion

    shutil.copy(trained["model"], locked / "liveness.keras")
    shutil.copy(tiny_onnx, locked / "second.onnx")
    write_fusion(str(locked / "fused.fusion"), str(locked / "liveness.keras"), str(locked / "second.onnx"), 0.3)
    locked.chmod(0)
    result = run_script_without_file_override("liveness_api.py", "-m", locked / "fused.fusion", "-l", trained["le"])
    assert_one_line_error(result, "cannot read", "Permission denied")


def test_a_recording_named_like_a_formula_is_neutralised_in_the_manifest(clips, tmp_path):
    from liveness.common.provenance import manifest_rows

    video = tmp_path / "=HYPERLINK(1)_real.mov"
    shutil.copy(clips["real"], video)
    result = run_script("gather_examples.py", "-i", video, "-o", tmp_path / "out", "-s", 4)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(row["file"].startswith("'=HYPERLINK(1)_real_") for row in rows)
    names = sorted(manifest_rows(str(tmp_path / "out")))  # read back as the files are named
    assert names == sorted(p for p in os.listdir(tmp_path / "out") if p.endswith(".png"))


def test_a_key_named_like_a_formula_is_neutralised_in_the_publish_metadata(tmp_path):
    from liveness.service.core import Publisher

    publisher = Publisher(str(tmp_path / "publish"), 1e6)
    data = cv2.imencode(".jpg", next(real_frames(1, (64, 48))))[1].tobytes()
    for key in ("-2+3", "@SUM(A1)", "plain-key"):
        publisher.save(data, ".jpg", [], "no_face", "0" * 64, key)
    with open(tmp_path / "publish" / "metadata.csv", newline="") as f:
        keys = [row["key"] for row in csv.DictReader(f)]
    assert keys == ["'-2+3", "'@SUM(A1)", "plain-key"]
