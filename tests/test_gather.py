import os

import cv2

from conftest import assert_one_line_error, run_script


def pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


def test_gather_finds_the_face_in_every_frame_of_a_synthetic_clip(clips, tmp_path):
    out = tmp_path / "real"
    result = run_script("gather_examples.py", "--input", clips["real"], "--output", out, "--skip", 1)
    assert result.returncode == 0, result.stderr
    names = pngs(out)
    assert names == [f"real_{i:06d}.png" for i in range(clips["frames"])]
    roi = cv2.imread(str(out / names[0]))
    # a face crop, not the frame: smaller than the 320x240 clip, roughly square
    assert 40 < roi.shape[0] < 240 and 40 < roi.shape[1] < 320
    assert 0.6 < roi.shape[0] / roi.shape[1] < 2.0
    assert f"{clips['frames']} frames read, {clips['frames']} faces saved" in result.stdout


def test_gather_finds_the_face_on_the_replay_clip(clips, tmp_path):
    result = run_script("gather_examples.py", "-i", clips["fake"], "-o", tmp_path, "-s", 1)
    assert result.returncode == 0, result.stderr
    assert len(pngs(tmp_path)) == clips["frames"]


def test_skip_keeps_every_nth_frame_counting_from_one(clips, tmp_path):
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 3)
    assert result.returncode == 0, result.stderr
    # frames 3, 6, ... counted from one, as the original: indices 2, 5 from zero
    assert pngs(tmp_path) == [f"real_{i:06d}.png" for i in range(2, clips["frames"], 3)]


def test_gathering_twice_into_one_folder_never_overwrites(clips, tmp_path):
    run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 2)
    first = {name: (tmp_path / name).read_bytes() for name in pngs(tmp_path)}
    (tmp_path / pngs(tmp_path)[0]).write_bytes(b"marker: a user's file that must survive")
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 2)
    assert result.returncode == 0, result.stderr
    names = pngs(tmp_path)
    assert len(names) == 2 * len(first)
    assert (tmp_path / sorted(first)[0]).read_bytes() == b"marker: a user's file that must survive"
    for name in sorted(first)[1:]:
        assert (tmp_path / name).read_bytes() == first[name]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_a_folder_and_several_files_are_accepted(clips, tmp_path):
    folder = os.path.dirname(clips["real"])
    result = run_script("gather_examples.py", "-i", folder, "-o", tmp_path / "a", "-s", 4)
    assert result.returncode == 0, result.stderr
    result = run_script("gather_examples.py", "-i", clips["real"], clips["fake"], "-o", tmp_path / "b", "-s", 4)
    assert result.returncode == 0, result.stderr
    assert pngs(tmp_path / "a") == pngs(tmp_path / "b")
    assert {n.split("_")[0] for n in pngs(tmp_path / "b")} == {"real", "fake"}


def test_missing_video_is_a_one_line_error(tmp_path):
    result = run_script("gather_examples.py", "-i", tmp_path / "nope.mp4", "-o", tmp_path / "out")
    assert_one_line_error(result, "not found")
    assert not (tmp_path / "out").exists()


def test_unreadable_video_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    result = run_script("gather_examples.py", "-i", broken, "-o", tmp_path / "out")
    assert_one_line_error(result, "broken.mp4")


def test_skip_zero_is_refused(clips, tmp_path):
    assert_one_line_error(run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 0), "--skip")


def test_detector_folder_without_the_model_files_is_refused(clips, tmp_path):
    empty = tmp_path / "detector"
    empty.mkdir()
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "out", "-d", empty)
    assert_one_line_error(result, "deploy.prototxt")


def test_the_manifest_traces_every_roi_to_its_recording_and_frame(clips, tmp_path):
    import csv

    run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 2)
    run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path, "-s", 4)
    with open(tmp_path / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["file"] for r in rows) == pngs(tmp_path)  # one row per ROI, across both runs
    for r in rows:
        assert os.path.samefile(r["source"], clips["real"])
        assert r["file"].startswith(f"real_{int(r['frame']):06d}")
        roi = cv2.imread(str(tmp_path / r["file"]))
        assert roi.shape[:2] == (int(r["endY"]) - int(r["startY"]), int(r["endX"]) - int(r["startX"]))
        assert 0.5 < float(r["confidence"]) <= 1.0
