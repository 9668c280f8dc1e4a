"""--exclude: frames whose recording's label does not hold are neither gathered nor scored."""
import csv
import json

import pytest

from conftest import assert_one_line_error, run_script
from liveness.common.provenance import origins_of
from liveness.data.exclusions import load_exclusions
from liveness.errors import LivenessError


def write_exclusions(path, text):
    path.write_text("recording,first_frame,last_frame,reason\n" + text)
    return path


def test_ranges_include_both_ends_and_only_their_recording(tmp_path):
    exclusions = load_exclusions(write_exclusions(tmp_path / "x.csv", "clip_fake,2,4,live face\nclip_fake,9,9,\n"))
    assert len(exclusions) == 2
    assert [f for f in range(12) if exclusions.excludes("clip_fake", f)] == [2, 3, 4, 9]
    assert not exclusions.excludes("clip_real", 3)
    assert not load_exclusions(None).excludes("clip_fake", 3)


@pytest.mark.parametrize("text,words", [("clip,a,3,\n", "whole numbers"), ("clip,5,3,\n", "first_frame <= last_frame"),
                                        (",1,3,\n", "needs a recording")])
def test_malformed_rows_are_refused_with_their_line(tmp_path, text, words):
    with pytest.raises(LivenessError, match=words) as error:
        load_exclusions(write_exclusions(tmp_path / "x.csv", text))
    assert "line 2" in str(error.value)


def test_a_file_without_the_columns_is_refused(tmp_path):
    (tmp_path / "x.csv").write_text("video,start,end\nclip,1,2\n")
    with pytest.raises(LivenessError, match="first_frame"):
        load_exclusions(tmp_path / "x.csv")


def test_gathering_leaves_the_excluded_frames_out(clips, tmp_path):
    exclude = write_exclusions(tmp_path / "x.csv", "real,0,2,the live person\n")
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "rois", "-s", 1, "--exclude", exclude)
    assert result.returncode == 0, result.stderr
    assert "3 frames left out (--exclude)" in result.stdout
    with open(tmp_path / "rois" / "manifest.csv", newline="") as f:
        frames = [int(row["frame"]) for row in csv.DictReader(f)]
    assert frames == list(range(3, clips["frames"]))
    assert sorted(p.name for p in (tmp_path / "rois").glob("*.png")) == [f"real_{i:06d}.png" for i in frames]


def test_a_missing_exclusion_file_is_a_one_line_error(clips, tmp_path):
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "rois", "--exclude", tmp_path / "no.csv")
    assert_one_line_error(result, "exclusion file not found")
    assert not (tmp_path / "rois").exists()


def test_evaluation_leaves_excluded_video_frames_and_rois_out(trained, eval_set, clips, tmp_path):
    exclude = write_exclusions(tmp_path / "x.csv", "subjV_fake,0,2,live person\nsubjR_real,1,2,\n")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                        "-o", tmp_path / "eval", "--exclude", exclude)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["excluded_faces"] == 5 and metrics["faces"] == 2 * (clips["frames"] + 4) - 5
    with open(tmp_path / "eval" / "scores.csv", newline="") as f:
        kept = {(row["recording"], int(row["frame"])) for row in csv.DictReader(f)}
    assert not kept & {("subjV_fake", 0), ("subjV_fake", 1), ("subjV_fake", 2), ("subjR_real", 1), ("subjR_real", 2)}
    assert ("subjV_fake", 3) in kept and ("subjR_real", 3) in kept


def test_a_gathered_rois_frame_comes_from_its_manifest_or_its_name(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,source,frame\nclip_000001.png,/videos/subjZ_fake.mp4,7\n")
    paths = [str(tmp_path / "clip_000001.png"), str(tmp_path / "subjY_real_000012_2.png"), str(tmp_path / "photo.png")]
    assert origins_of(paths) == [("subjZ_fake", 7), ("subjY_real", 12), ("photo", 0)]
