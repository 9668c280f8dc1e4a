"""--crop-scale and --size: trained once, read back by every command from the model."""
import json

import cv2
import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from liveness.faces.crops import Crop, context_box
from liveness.faces.crops import crop_region as crop_face
from liveness.faces.recrop import recrop


def test_the_context_box_grows_around_the_centre_and_stops_at_the_frame():
    assert context_box((40, 40, 60, 80), 1.0, 100, 100) == (40, 40, 60, 80)
    assert context_box((40, 40, 60, 80), 2.0, 100, 100) == (30, 20, 70, 100)  # 40x80 around (50, 60), clipped below
    frame = np.arange(100 * 100 * 3, dtype="uint8").reshape(100, 100, 3)
    assert crop_face(frame, (40, 40, 60, 80), 2.0).shape == (80, 40, 3)


def test_recrop_cuts_the_larger_crop_from_the_source_frame(gathered, clips):
    paths = sorted(str(p) for p in (gathered / "real").glob("*.png"))[:3]
    tight = recrop(paths, Crop((1.0,)), (32, 32))
    wide = recrop(paths, Crop((2.0,)), (32, 32))
    for path in paths:
        roi = cv2.imread(path)
        assert np.array_equal(tight[path], roi)  # scale 1 gives back exactly the gathered ROI
        assert wide[path].shape[0] > roi.shape[0] and wide[path].shape[1] > roi.shape[1]


@pytest.fixture(scope="module")
def context_model(gathered, tmp_path_factory):
    out = tmp_path_factory.mktemp("context")
    result = run_script("train_liveness.py", "-d", gathered, "-m", out / "m.keras", "-l", out / "le.pickle",
                        "-p", out / "plot.png", "-e", 1, "-b", 4, "--crop-scale", 2, "--size", 48,
                        "--augment", "strong", "--class-weight", "balanced", "--arch", "mobile", "--no-export")
    assert result.returncode == 0, result.stderr
    return out


def test_training_records_the_crop_and_size_beside_the_model(context_model):
    from liveness.models.model_io import load_classifier

    metadata = json.loads((context_model / "m.keras.json").read_text())
    assert (metadata["crop_scale"], metadata["size"], metadata["augment"], metadata["arch"]) == (2.0, 48, "strong", "mobile")
    classifier, _ = load_classifier(str(context_model / "m.keras"), str(context_model / "le.pickle"))
    assert classifier.crop_scale == 2.0 and classifier.size == (48, 48)
    assert any(type(layer).__name__ == "DepthwiseConv2D" for layer in classifier.model.layers)  # the variant, reloaded


def test_evaluation_and_demo_crop_and_scale_as_the_model_was_trained(context_model, clips, gathered, tmp_path):
    model, le = context_model / "m.keras", context_model / "le.pickle"
    result = run_script("evaluate_liveness.py", "-m", model, "-l", le, "--dataset", gathered, "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["crop_scale"] == 2.0 and metrics["input_size"] == [48, 48]
    assert metrics["faces"] == 2 * clips["frames"]
    demo = run_script("liveness_demo.py", "-m", model, "-l", le, "-i", clips["real"], "-o", tmp_path / "a.mp4",
                      "--no-display", "--smooth", 3)
    assert demo.returncode == 0, demo.stderr
    assert "input 48x48, face crop x2" in demo.stdout


def test_a_crop_scale_needs_the_manifest(roi_dataset, tmp_path):
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "--crop-scale", 2)
    assert_one_line_error(result, "manifest.csv")
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("flags,word", [(["--crop-scale", "0.5"], "--crop-scale"), (["--size", "8"], "--size")])
def test_out_of_range_recipe_options_are_refused(roi_dataset, tmp_path, flags, word):
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", tmp_path / "m.keras", "-l", tmp_path / "le", *flags)
    assert_one_line_error(result, word)


@pytest.mark.parametrize("scene", ["wall", "live"])
def test_synthetic_replays_of_live_training_faces_join_the_attacks(gathered, tmp_path, scene):
    import re

    result = run_script("train_liveness.py", "-d", gathered, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "-p", tmp_path / "plot.png", "-e", 1, "-b", 4, "--synthetic-replay", 1.0, "--crop-scale", 1.5,
                        "--synthetic-scene", scene)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "m.keras.json").read_text())["synthetic_scene"] == scene
    made, live = map(int, re.search(r"(\d+) synthetic replays of (\d+) live training images", result.stdout).groups())
    assert live == 6 and made == live  # 8 live frames, 75% in training; the detector finds every replayed face
    train_count = int(re.search(r"; (\d+) train,", result.stdout).group(1))
    assert train_count == 12 + made  # the held-out 25% is untouched: the replays only join the training side


def test_the_replay_simulation_shows_the_face_on_a_phone(face_frame):
    from liveness.data.sample import simulate_replay
    from liveness.faces.detectors.ssd import SsdDetector

    box = SsdDetector().detect(face_frame)[0][0]
    replay = simulate_replay(face_frame, box, np.random.default_rng(3))
    assert replay.shape == (480, 640, 3)
    faces = SsdDetector().detect(replay)
    assert len(faces) == 1  # the replayed face, smaller, on the screen
    (x0, y0, x1, y1) = faces[0][0]
    assert (x1 - x0) < 0.6 * 640


def test_a_replay_in_front_of_the_live_frame_covers_the_face_and_keeps_the_room(face_frame):
    from liveness.data.sample import simulate_replay
    from liveness.faces.detectors.ssd import SsdDetector

    box = SsdDetector().detect(face_frame)[0][0]
    replay = simulate_replay(face_frame, box, np.random.default_rng(3), in_front=True)
    assert replay.shape == face_frame.shape
    difference = np.abs(replay.astype("float32") - face_frame.astype("float32")).mean(axis=2)
    (x0, y0, x1, y1) = box
    assert difference[y0:y1, x0:x1].mean() > 20  # the phone is over the live face
    covered = difference > 20
    assert 0.1 < covered.mean() < 0.6  # and the rest of the frame is the live room, up to sensor noise


def test_linked_rois_find_their_manifest_beside_the_real_file(gathered, tmp_path):
    linked = tmp_path / "real"
    linked.mkdir()
    paths = []
    for roi in sorted((gathered / "real").glob("*.png"))[:2]:
        (linked / roi.name).symlink_to(roi)
        paths.append(str(linked / roi.name))
    crops = recrop(paths, Crop((2.0,)), (32, 32))
    assert set(crops) == set(paths)
