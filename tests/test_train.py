import json
import os
import shutil

import cv2
import numpy as np

from conftest import assert_one_line_error, run_script
from liveness.models.classifier import LivenessClassifier
from liveness.models.model_io import load_model_and_labels


def test_a_trained_model_reloads_and_predicts(trained, roi_dataset):
    model, classes = load_model_and_labels(trained["model"], trained["le"])
    assert list(classes) == ["fake", "real"]
    assert model.count_params() == 148_562
    rois = [cv2.imread(str(p)) for p in sorted((roi_dataset / "real").iterdir())[:3]]
    probabilities = LivenessClassifier(model, classes).predict(rois)
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_training_prints_and_writes_the_classification_report(trained):
    for text in (trained["stdout"], open(trained["report"]).read()):
        assert "precision" in text and "recall" in text
        assert "fake" in text and "real" in text and "accuracy" in text
    assert "6 test" in trained["stdout"]  # 24 images, 25% held out


def test_the_plot_is_a_picture(trained):
    plot = cv2.imread(trained["plot"])
    assert plot is not None and plot.shape[0] > 100 and plot.shape[1] > 100
    assert plot.std() > 10  # curves and text, not a blank canvas


def test_a_model_named_like_the_original_is_saved_as_hdf5_and_reloads(roi_dataset, tmp_path):
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", tmp_path / "liveness.model",
                        "-l", tmp_path / "le.pickle", "-p", tmp_path / "plot.png", "-e", 1, "-b", 4)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "liveness.model", "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    model, _ = load_model_and_labels(str(tmp_path / "liveness.model"), str(tmp_path / "le.pickle"))
    assert model.output_shape == (None, 2)


def test_undecodable_images_are_skipped_with_a_warning_and_counted(roi_dataset, tmp_path):
    dataset = tmp_path / "dataset"
    shutil.copytree(roi_dataset, dataset)
    (dataset / "real" / "broken.png").write_bytes(b"not a png")
    result = run_script("train_liveness.py", "-d", dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4)
    assert result.returncode == 0, result.stderr
    assert "broken.png" in result.stderr and "[WARNING]" in result.stderr
    assert "24 images, 1 skipped" in result.stdout


def outputs(folder):
    return sorted(os.listdir(folder))


def test_a_folder_without_class_subfolders_is_refused_and_writes_nothing(tmp_path):
    (tmp_path / "flat").mkdir()
    cv2.imwrite(str(tmp_path / "flat" / "a.png"), np.zeros((8, 8, 3), "uint8"))
    out = tmp_path / "out"
    out.mkdir()
    result = run_script("train_liveness.py", "-d", tmp_path / "flat", "-m", out / "m.keras", "-l", out / "le.pickle",
                        "-p", out / "plot.png")
    assert_one_line_error(result, "class subfolders")
    assert outputs(out) == []


def test_a_single_class_is_refused(roi_dataset, tmp_path):
    dataset = tmp_path / "dataset"
    shutil.copytree(roi_dataset / "real", dataset / "real")
    result = run_script("train_liveness.py", "-d", dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle")
    assert_one_line_error(result, "only one class")
    assert not (tmp_path / "m.keras").exists()


def test_a_missing_dataset_is_refused(tmp_path):
    result = run_script("train_liveness.py", "-d", tmp_path / "nope", "-m", tmp_path / "m.keras", "-l", tmp_path / "le")
    assert_one_line_error(result, "not found")


def test_an_existing_model_survives_a_failed_run(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"the user's earlier model")
    result = run_script("train_liveness.py", "-d", tmp_path / "nope", "-m", tmp_path / "m.keras", "-l", tmp_path / "le")
    assert result.returncode != 0
    assert (tmp_path / "m.keras").read_bytes() == b"the user's earlier model"


def test_a_group_split_reports_its_groups(tmp_path, roi_dataset):
    dataset = tmp_path / "dataset"
    for label in ("real", "fake"):
        (dataset / label).mkdir(parents=True)
        for i, path in enumerate(sorted((roi_dataset / label).iterdir())):
            shutil.copy(path, dataset / label / f"subj{'ABC'[i % 3]}_{label}_{i:06d}.png")
    result = run_script("train_liveness.py", "-d", dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4, "--split", "group", "--group-by", "subject")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "m.report.txt").read_text()
    assert "group by subject" in report and "subjects in train" in report
    line = next(text for text in report.splitlines() if text.startswith("split:"))
    train_part, test_part = line.split(" in test ")
    train_people = {p for p in "ABC" if f"subj{p}" in train_part.split(" in train ")[1]}
    test_people = {p for p in "ABC" if f"subj{p}" in test_part}
    assert train_people and test_people and not train_people & test_people


def test_retraining_drops_the_old_models_calibrated_threshold(roi_dataset, tmp_path):
    import json

    model = tmp_path / "m.keras"
    (tmp_path / "m.keras.json").write_text(json.dumps({"threshold": 0.93, "threshold_criterion": "eer"}))
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", model, "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4)
    assert result.returncode == 0, result.stderr
    metadata = json.loads((tmp_path / "m.keras.json").read_text())
    assert "threshold" not in metadata
    assert metadata["crop_scale"] == 1.0 and metadata["size"] == 32 and metadata["trained_at"]


def test_an_ensemble_saves_as_one_model_that_averages_its_members(roi_dataset, tmp_path):
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4, "--ensemble", 2, "--no-export")
    assert result.returncode == 0, result.stderr
    assert "model 2 of 2 (seed 43)" in result.stdout
    assert json.loads((tmp_path / "m.keras.json").read_text())["ensemble"] == 2
    model, _ = load_model_and_labels(str(tmp_path / "m.keras"), str(tmp_path / "le.pickle"))
    members = [layer for layer in model.layers if layer.name.startswith("member_")]
    assert len(members) == 2
    batch = np.random.default_rng(0).random((3, 32, 32, 3), dtype="float32")
    each = [member(batch, training=False).numpy() for member in members]
    assert not np.allclose(each[0], each[1])  # two seeds, two networks
    np.testing.assert_allclose(model(batch, training=False).numpy(), (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-6)
