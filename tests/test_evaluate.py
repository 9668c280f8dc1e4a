import csv
import json
import shutil

import cv2
import pytest

from conftest import assert_one_line_error, run_script


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluation_writes_metrics_scores_and_a_plot(trained, eval_set, clips, tmp_path):
    out = tmp_path / "eval"
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"],
                        "--dataset", eval_set, "--output", out)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    rows = read_csv(out / "scores.csv")
    assert metrics["faces"] == len(rows) == 2 * (clips["frames"] + 4)
    for key in ("apcer", "bpcer", "acer", "bpcer20", "bpcer100", "eer", "auc", "apcer_per_type"):
        assert key in metrics
    assert metrics["threshold"] == 0.5 and metrics["threshold_source"] == "default"
    # the video level has one score per recording: 2 videos, and the ROIs of each class as their recordings
    assert metrics["video_level"]["count"] == len({(r["recording"], r["label"]) for r in rows})
    assert set(metrics["per_subject"]) == {"subjV", "subjR"}
    apcer = sum(float(r["score"]) >= 0.5 for r in rows if r["label"] == "fake") / sum(r["label"] == "fake" for r in rows)
    assert metrics["apcer"] == pytest.approx(apcer)
    plot = cv2.imread(str(out / "roc_det.png"))
    assert plot is not None and plot.std() > 10
    assert "APCER" in result.stdout and "video level" in result.stdout


def test_failure_capture_writes_exactly_the_misclassified_faces(trained, eval_set, tmp_path):
    # a threshold in the middle of the scores guarantees mistakes on both sides or one
    out, failures = tmp_path / "eval", tmp_path / "failures"
    first = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                       "-o", out)
    assert first.returncode == 0, first.stderr
    scores = sorted(float(r["score"]) for r in read_csv(out / "scores.csv"))
    threshold = scores[len(scores) // 2]
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                        "-o", out, "--threshold", threshold, "--save-failures", failures)
    assert result.returncode == 0, result.stderr
    wrong = [r for r in read_csv(out / "scores.csv") if (r["decision"] == "real") != (r["label"] == "real")]
    assert wrong
    saved = []
    for folder in sorted(failures.iterdir()):
        meta = read_csv(folder / "metadata.csv")
        pngs = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
        assert sorted(m["file"] for m in meta) == pngs
        saved += [(folder.name, m["source"], int(m["frame"])) for m in meta]
        for png in pngs:
            assert cv2.imread(str(folder / png)) is not None
    expected = [(f"{r['label']}_as_{r['decision']}", r["file"], int(r["frame"])) for r in wrong]
    assert sorted(saved) == sorted(expected)


def test_calibration_stores_a_threshold_that_later_runs_use(trained, eval_set, roi_dataset, tmp_path):
    model = tmp_path / "liveness.keras"
    shutil.copy(trained["model"], model)
    result = run_script("evaluate_liveness.py", "-m", model, "-l", trained["le"], "--calibrate", roi_dataset,
                        "--dataset", eval_set, "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    stored = json.loads((tmp_path / "liveness.keras.json").read_text())
    assert 0.0 <= stored["threshold"] <= 1.0 and stored["threshold_criterion"] == "eer"
    again = run_script("evaluate_liveness.py", "-m", model, "-l", trained["le"], "--dataset", eval_set,
                       "-o", tmp_path / "eval2")
    metrics = json.loads((tmp_path / "eval2" / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(stored["threshold"])
    assert metrics["threshold_source"].startswith("calibrated")
    assert f"threshold {stored['threshold']:.4f}" in again.stdout


def test_the_threshold_is_never_tuned_on_the_evaluated_set(trained, eval_set, tmp_path):
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--calibrate", eval_set,
                        "--dataset", eval_set, "-o", tmp_path)
    assert_one_line_error(result, "never tuned")


@pytest.mark.parametrize("flags,words", [
    (["--threshold", "1.5"], ["--threshold"]),
    (["--band", "0.7", "0.3"], ["--band"]),
    (["--band", "0.2", "1.3"], ["--band"]),
])
def test_bad_threshold_and_band_are_refused(trained, eval_set, tmp_path, flags, words):
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                        "-o", tmp_path / "out", *flags)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "out").exists()


def test_unlabelled_folders_are_refused_and_a_one_class_folder_gives_its_one_rate(trained, roi_dataset, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(next((roi_dataset / "real").iterdir()), flat / "a.png")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", flat, "-o", tmp_path / "o")
    assert_one_line_error(result, "class subfolders")
    one = tmp_path / "one"
    shutil.copytree(roi_dataset / "real", one / "real")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", one, "-o", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(tmp_path / "o" / "metrics.json"))
    assert metrics["bpcer"] is not None and metrics["apcer"] is None and metrics["auc"] is None  # live faces only
    assert metrics["frame_level"]["bona_fide"] == metrics["faces"] == len(list((roi_dataset / "real").iterdir()))


def test_an_empty_video_is_refused(trained, roi_dataset, tmp_path):
    dataset = tmp_path / "set"
    shutil.copytree(roi_dataset, dataset)
    (dataset / "fake" / "empty.mp4").write_bytes(b"")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", dataset, "-o", tmp_path / "o")
    assert_one_line_error(result, "empty.mp4")


def test_a_model_and_encoder_mismatch_is_refused(trained, eval_set, tmp_path):
    import pickle

    from sklearn.preprocessing import LabelEncoder

    (tmp_path / "le.pickle").write_bytes(pickle.dumps(LabelEncoder().fit(["real", "print", "replay"])))
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", tmp_path / "le.pickle",
                        "--dataset", eval_set, "-o", tmp_path / "o")
    assert_one_line_error(result, "3 classes")
