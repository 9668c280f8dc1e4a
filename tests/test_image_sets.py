"""An image set (a folder of one session's frames) is one recording: gathered, evaluated and scored per person
as a video of the folder's name would be, and decided once as a recording."""
import csv
import json
import os

import cv2
import pytest

from conftest import run_script
from liveness.data.sample import real_frames, replay_frames

FRAMES = 6


def write_set(folder, frames):
    """The frames as JPEG files named in order, as ../shared/data/images/ keeps them."""
    os.makedirs(folder)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), frame)
    return folder


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    data = tmp_path_factory.mktemp("pool")
    return {"data": data,
            "real": write_set(data / "images" / "subjQ_real", real_frames(FRAMES, (320, 240), seed=5)),
            "fake": write_set(data / "images" / "subjQ_fake", replay_frames(FRAMES, (320, 240), seed=6))}


def test_gather_takes_an_image_set_as_one_recording_with_frames_in_file_order(image_sets, tmp_path):
    exclude = tmp_path / "exclude.csv"
    exclude.write_text("recording,first_frame,last_frame,reason\nsubjQ_real,3,3,a frame whose label does not hold\n")
    result = run_script("gather_examples.py", "-i", image_sets["real"], "-o", tmp_path / "rois", "-s", 2,
                        "--exclude", exclude)
    assert result.returncode == 0, result.stderr
    # frames 2, 4, 6 counted from one, as for a video; index 3 is excluded by its index
    assert sorted(f for f in os.listdir(tmp_path / "rois") if f.endswith(".png")) == \
        ["subjQ_real_000001.png", "subjQ_real_000005.png"]
    with open(tmp_path / "rois" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["source"], r["frame"]) for r in rows] == [(str(image_sets["real"]), "1"), (str(image_sets["real"]), "5")]
    assert "1 frames left out" in result.stdout


def test_evaluate_scores_an_image_set_beside_a_video_as_recordings(image_sets, clips, trained, tmp_path):
    dataset = tmp_path / "set"
    os.makedirs(dataset / "real")
    os.makedirs(dataset / "fake")
    os.symlink(image_sets["real"], dataset / "real" / "subjQ_real")
    os.symlink(clips["fake"], dataset / "fake" / "subjV_fake.mp4")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", dataset,
                        "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "eval" / "scores.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["recording"] == "subjQ_real"]
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES))  # every frame through the detector, in order
    assert {r["subject"] for r in rows} == {"subjQ"} and {r["label"] for r in rows} == {"real"}


def test_the_cross_person_protocol_takes_image_sets_and_decides_each_recording(image_sets, clips, trained, tmp_path):
    data = image_sets["data"]
    os.makedirs(data / "videos", exist_ok=True)
    if not (data / "videos" / "subjV_real.mov").exists():
        os.symlink(clips["real"], data / "videos" / "subjV_real.mov")
    work = tmp_path / "work"
    result = run_script("benchmarks/cross_person.py", "--data", data, "--work", work, "--model", trained["model"],
                        "--le", trained["le"], "--threshold", 0.5, "--dev", "none", "--exclude", "none",
                        "--eval-skip", 1, "--attack-type", "subjQ=print")
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads((work / "cross_person.json").read_text())
    assert out["test_persons"] == ["subjQ", "subjV"]
    persons = out["test"]["persons"]
    assert persons["subjQ"]["faces"] == 2 * FRAMES and persons["subjQ"]["apcer"] is not None
    scores = {}
    with open(work / "eval" / "scores.csv", newline="") as f:
        for r in csv.DictReader(f):
            scores.setdefault((r["recording"], r["label"]), []).append(float(r["score"]))
    # one decision a recording: its mean score against the threshold; the wrong ones are named
    wrong = sorted(rec for (rec, label), s in scores.items() if (sum(s) / len(s) >= 0.5) != (label == "real"))
    assert out["test"]["video"]["wrong"] == wrong
    assert out["test"]["video"]["count"] == 3
    assert f"{len(wrong)}/3" in result.stdout


def test_rois_gathered_from_an_image_set_are_cut_again_from_its_frames(image_sets, tmp_path):
    from liveness.faces.crops import Crop
    from liveness.faces.recrop import recrop

    result = run_script("gather_examples.py", "-i", image_sets["fake"], "-o", tmp_path / "rois", "-s", 3)
    assert result.returncode == 0, result.stderr
    rois = sorted(str(p) for p in (tmp_path / "rois").glob("*.png"))
    crops = recrop(rois, Crop((2.0,)), (64, 64))  # a context crop, as --crop-scale 2 trains on
    assert sorted(crops) == rois
    for path in rois:
        tight = cv2.imread(path)
        assert crops[path].shape[0] > tight.shape[0] and crops[path].shape[1] > tight.shape[1]
