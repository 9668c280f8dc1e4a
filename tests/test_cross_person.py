"""benchmarks/cross_person.py scoring a frozen model and threshold on persons no choice was made with."""
import json
import os

from conftest import assert_one_line_error, run_script


def new_persons(clips, folder):
    """videos/ of two new persons: X live and attacked, Y live only."""
    videos = folder / "videos"
    os.makedirs(videos)
    os.symlink(clips["real"], videos / "subjX_real.mov")
    os.symlink(clips["fake"], videos / "subjX_fake.mp4")
    os.symlink(clips["real"], videos / "subjY_real.mov")
    return folder


def test_new_persons_are_all_test_persons_at_a_fixed_threshold(clips, trained, tmp_path):
    data, work = new_persons(clips, tmp_path / "new"), tmp_path / "work"
    result = run_script("benchmarks/cross_person.py", "--data", data, "--work", work, "--model", trained["model"],
                        "--le", trained["le"], "--threshold", 0.37, "--dev", "none", "--attack-type", "subjX=print",
                        "--exclude", "none", "--eval-skip", 1)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads((work / "cross_person.json").read_text())
    assert out["dev_persons"] == [] and out["dev"] is None
    assert out["test_persons"] == ["subjX", "subjY"]
    assert out["threshold"] == 0.37 and out["threshold_chosen_by"] == "fixed by --threshold"
    test = out["test"]
    assert list(test["frame"]["apcer_per_type"]) == ["print"]
    assert test["persons"]["subjX"]["apcer"] is not None and test["persons"]["subjY"]["apcer"] is None
    assert test["frame"]["count"] == sum(p["faces"] for p in test["persons"].values()) > 0
    assert "| subjX | print |" in result.stdout


def test_without_dev_persons_a_threshold_must_be_given(clips, trained, tmp_path):
    data = new_persons(clips, tmp_path / "new")
    result = run_script("benchmarks/cross_person.py", "--data", data, "--work", tmp_path / "work", "--model",
                        trained["model"], "--le", trained["le"], "--dev", "none", "--exclude", "none")
    assert_one_line_error(result, "--threshold")
    assert not (tmp_path / "work").exists()
