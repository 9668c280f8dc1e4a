"""The recommended fusion: a model and the second network blended on logits, taken by every command as --model."""
import csv
import json

import numpy as np
import pytest

from conftest import CLIP_SIZE, assert_one_line_error, run_script


def make_fusion(folder, trained, onnx_path, weight, detector="ssd"):
    from liveness.models.fusion import write_fusion
    from liveness.models.metadata import update_metadata

    path = str(folder / "fused.fusion")
    write_fusion(path, trained["model"], onnx_path, weight)
    update_metadata(path, replace=True, detector=detector)
    return path


def test_a_fusion_scores_the_logit_blend_of_its_members(trained, tiny_onnx, face_frame, tmp_path):
    from liveness.models import second_network
    from liveness.models.model_io import load_classifier

    box = (100, 60, 200, 180)
    first, _ = load_classifier(trained["model"], trained["le"])
    real = first.classes.index("real")
    p = float(first.predict([first.crop(face_frame, box)])[0][real])
    second = float(second_network.SecondNetwork(tiny_onnx)([second_network.crop(face_frame, box)])[0])
    for weight in (0.0, 0.4, 1.0):
        fused, source = load_classifier(make_fusion(tmp_path, trained, tiny_onnx, weight), trained["le"])
        got = fused.predict([fused.crop(face_frame, box)])[0]
        z = (1 - weight) * np.log(p / (1 - p)) + weight * second
        assert got[real] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-5)
        assert got.sum() == pytest.approx(1.0, abs=1e-6) and source == "default"
    assert fused.label(got)[0] in fused.classes


def test_the_second_network_sees_a_reflected_square_in_rgb_order():
    from liveness.models.second_network import crop

    frame = np.zeros((240, 320, 3), "uint8")
    frame[..., 0] = 200  # blue in OpenCV's BGR
    frame[:, :10] = (0, 0, 255)  # a red strip on the left edge
    square = crop(frame, (0, 100, 40, 140))  # at the left edge: the square leaves the frame
    assert square.shape == (3, 128, 128) and square.dtype == np.float32
    assert np.allclose(square[2, :, 64:], 200 / 255, atol=0.02) and np.allclose(square[0, :, 64:], 0, atol=0.02)
    # 10 pixels left of the frame, mirrored (reflect-101): the red strip twice over (columns 9..1, then 0..9),
    # and the blue column beyond it at the very edge; nothing black
    assert square[0, :, 5:38].mean() > 0.95 and square[2, :, 0].mean() > 0.7 and (square.sum(axis=0) > 0.5).all()


def test_evaluate_takes_a_fusion_and_its_detector(trained, tiny_onnx, clips, tmp_path):
    fusion = make_fusion(tmp_path, trained, tiny_onnx, 0.3)
    dataset = tmp_path / "set"
    for label in ("real", "fake"):
        (dataset / label).mkdir(parents=True)
        (dataset / label / f"subjQ_{label}.mp4").symlink_to(clips[label])
    result = run_script("evaluate_liveness.py", "-m", fusion, "-l", trained["le"], "--dataset", dataset,
                        "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    assert "ssd (named by the model" in result.stdout and "ONNX Runtime" in result.stdout
    with open(tmp_path / "eval" / "scores.csv", newline="") as f:
        scores = [float(r["score"]) for r in csv.DictReader(f)]
    assert len(scores) == 2 * 8 and all(0 < s < 1 for s in scores)


def test_the_demo_runs_a_fusion_on_a_video(trained, tiny_onnx, clips, tmp_path):
    fusion = make_fusion(tmp_path, trained, tiny_onnx, 0.5)
    out = tmp_path / "out.avi"
    result = run_script("liveness_demo.py", "-m", fusion, "-l", trained["le"], "-i", clips["real"], "-o", out,
                        "--no-display")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("spec,words", [({"model": "m.keras", "second": "s.onnx", "second_weight": 2}, ["second_weight"]),
                                        ({"model": "m.keras"}, ["not a fusion file"]),
                                        ("{not json", ["not a fusion file"])])
def test_a_broken_fusion_file_is_a_one_line_error(trained, tmp_path, spec, words):
    path = tmp_path / "broken.fusion"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    assert_one_line_error(run_script("evaluate_liveness.py", "-m", path, "-l", trained["le"], "--dataset", tmp_path,
                                     "-o", tmp_path / "eval", "--detector-type", "ssd"), *words)


def test_a_fusion_whose_second_network_is_missing_is_a_one_line_error(trained, tmp_path):
    from liveness.models.fusion import write_fusion

    path = tmp_path / "fused.fusion"
    write_fusion(str(path), trained["model"], tmp_path / "absent.onnx", 0.3)
    image = tmp_path / "set" / "real"
    image.mkdir(parents=True)
    import cv2

    from liveness.data.sample import real_frames

    cv2.imwrite(str(image / "subjQ_real.png"), next(real_frames(1, CLIP_SIZE)))
    assert_one_line_error(run_script("evaluate_liveness.py", "-m", path, "-l", trained["le"], "--dataset",
                                     tmp_path / "set", "-o", tmp_path / "eval", "--detector-type", "ssd"),
                          "ONNX network", "absent.onnx")


def test_a_member_replaced_after_the_fusion_was_made_is_refused(trained, tiny_onnx, tmp_path):
    import shutil

    from liveness.models.fusion import read_fusion, write_fusion

    second = tmp_path / "second.onnx"
    shutil.copy(tiny_onnx, second)
    path = str(tmp_path / "fused.fusion")
    write_fusion(path, trained["model"], second, 0.3)
    assert read_fusion(path)[2] == 0.3
    second.write_bytes(second.read_bytes() + b"\0")
    with pytest.raises(Exception, match="changed since"):
        read_fusion(path)


def test_train_liveness_fused_keeps_the_weight_that_decides_the_dataset_best(trained, tiny_onnx, gathered, tmp_path):
    from liveness.models.metadata import read_metadata

    out, le = tmp_path / "mine.fusion", tmp_path / "le.pickle"
    result = run_script("train_liveness.py", "--recipe", "fused", "-d", gathered, "-m", out, "-l", le,
                        "-p", tmp_path / "plot.png", "--init", trained["model"], "--second", tiny_onnx)
    assert result.returncode == 0, result.stderr
    metadata = read_metadata(str(out))
    acer = metadata["acer_by_weight"]
    best = min(acer.values())
    assert metadata["second_weight"] == min(float(w) for w, a in acer.items() if a == best)  # the smaller on a tie
    assert metadata["recipe"] == "fused" and metadata["detector"] == "ssd"
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    # the fusion written decides the dataset, through evaluation, with the ACER it was chosen for
    evaluated = run_script("evaluate_liveness.py", "-m", out, "-l", le, "--dataset", gathered, "-o", tmp_path / "eval",
                           "--threshold", 0.5)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["acer"] == pytest.approx(acer[str(metadata["second_weight"])], abs=1e-9)


def test_the_fused_recipe_writes_only_a_fusion(trained, tiny_onnx, gathered, tmp_path):
    assert_one_line_error(run_script("train_liveness.py", "--recipe", "fused", "-d", gathered, "-m",
                                     tmp_path / "m.keras", "-l", tmp_path / "le.pickle", "--init", trained["model"],
                                     "--second", tiny_onnx), ".fusion")


@pytest.mark.parametrize("smooth", [1, 3])
def test_a_streamed_fusion_scores_each_frame_as_scoring_it_alone(trained, tiny_onnx, tmp_path, monkeypatch, smooth):
    """The demo's stream runs the second network on its own thread, frames late: same frames, same order, same
    scores, faces or none."""
    import liveness.pipeline
    from liveness.data.sample import real_frames, replay_frames
    from liveness.faces.detectors.ssd import SsdDetector
    from liveness.models.model_io import load_classifier

    monkeypatch.setattr(liveness.pipeline, "usable_cores", lambda: 2)
    fusion = make_fusion(tmp_path, trained, tiny_onnx, 0.5)
    blank = np.full((CLIP_SIZE[1], CLIP_SIZE[0], 3), 90, "uint8")
    frames = [*real_frames(5, CLIP_SIZE), blank, blank, *replay_frames(5, CLIP_SIZE), blank]
    alone, streamed = (liveness.pipeline.StreamScorer(SsdDetector(), load_classifier(fusion, trained["le"])[0],
                                                      detect_every=3, smooth=smooth) for _ in range(2))
    begun = []
    predict_later = streamed.classifier.predict_later
    streamed.classifier.predict_later = lambda *a: begun.append(1) or predict_later(*a)
    expected = [alone(frame.copy()) for frame in frames]
    got = list(streamed.stream(frame.copy() for frame in frames))
    assert len(begun) == len(frames)  # every frame went through the pipelined path
    assert [np.array_equal(f, g) for f, (g, _) in zip(frames, got)] == [True] * len(frames)
    counts = [len(faces) for _, faces in got]
    assert counts == [len(faces) for faces in expected] and 0 in counts and counts.count(1) >= 10
    for (_, faces), want in zip(got, expected):
        for face, other in zip(faces, want):
            assert face.box == other.box and face.label == other.label
            assert face.score == pytest.approx(other.score, abs=1e-6)
