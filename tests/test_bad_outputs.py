"""Careless users: outputs that cannot be written fail before the work, a still image is never skipped, and
Ctrl-C in gathering ends cleanly. Each runs the command as a user would, by subprocess."""
import csv
import os
import signal
import subprocess
import sys
import time

import cv2

from conftest import ROOT, assert_one_line_error, run_script
from liveness.data.sample import real_frames, write_video

UNWRITABLE = "/proc/liveness-test/out"  # no one, root included, makes a folder in /proc


def test_gather_into_an_unwritable_folder_or_a_file_fails_in_one_line(clips, tmp_path):
    assert_one_line_error(run_script("gather_examples.py", "-i", clips["real"], "-o", UNWRITABLE), "cannot write", UNWRITABLE)
    earlier = tmp_path / "notes.txt"
    earlier.write_text("an earlier output")
    assert_one_line_error(run_script("gather_examples.py", "-i", clips["real"], "-o", earlier), "is a file")
    assert earlier.read_text() == "an earlier output"


def test_training_refuses_an_unwritable_output_before_it_trains(roi_dataset, trained, tmp_path):
    started = time.perf_counter()
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", f"{UNWRITABLE}/m.keras", "-l", tmp_path / "le.pickle")
    assert_one_line_error(result, "--model", UNWRITABLE)
    assert "training network" not in result.stdout and time.perf_counter() - started < 60
    model = tmp_path / "liveness.keras"
    model.write_bytes(open(trained["model"], "rb").read())
    before = model.read_bytes()
    result = run_script("train_liveness.py", "-d", roi_dataset, "-m", model, "-l", tmp_path / "le.pickle",
                        "-p", f"{UNWRITABLE}/plot.png")
    assert_one_line_error(result, "--plot")
    assert model.read_bytes() == before  # the earlier model is intact


def test_evaluation_refuses_a_file_as_its_output_folder_before_scoring(trained, eval_set, tmp_path):
    earlier = tmp_path / "eval"
    earlier.write_text("an earlier output")
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                        "-o", earlier)
    assert_one_line_error(result, "--output", "is a file")
    assert "scoring" not in result.stdout + result.stderr and earlier.read_text() == "an earlier output"


def test_the_demo_names_the_users_path_when_it_cannot_write_the_video(trained, clips, tmp_path):
    def demo(output):
        return run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"], "-i", clips["real"],
                          "--no-display", "-o", output)

    assert_one_line_error(demo(f"{UNWRITABLE}/out.mp4"), "cannot write", UNWRITABLE)
    folder = tmp_path / "videos"
    folder.mkdir()
    assert_one_line_error(demo(folder), str(folder), "is a folder")
    result = demo(tmp_path / "out.xyz")
    assert_one_line_error(result, str(tmp_path / "out.xyz"), ".mp4")
    assert ".tmp" not in result.stderr and not list(tmp_path.glob("*.xyz"))


def test_a_still_image_is_one_frame_and_never_skipped(tmp_path):
    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), next(real_frames(1, (320, 240))))
    result = run_script("gather_examples.py", "-i", image, "-o", tmp_path / "out")  # the default --skip 16
    assert result.returncode == 0, result.stderr
    assert "1 faces saved" in result.stdout and len(list((tmp_path / "out").glob("*.png"))) == 1


def test_ctrl_c_while_gathering_exits_130_with_rois_and_manifest_consistent(tmp_path):
    video = tmp_path / "long.mp4"
    write_video(str(video), real_frames(300, (320, 240)))
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        # SIGINT at its default disposition: a background job of a non-interactive shell would ignore it
        process = subprocess.Popen([sys.executable, os.path.join(ROOT, "gather_examples.py"), "-i", video, "-o", out,
                                    "-s", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 60
        while time.time() < deadline and len(list(out.glob("*.png"))) < 5 + 10 * attempt:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, (process.returncode, stderr[-2000:])
        assert "[INFO] interrupted" in stderr and "terminate called" not in stderr
        with open(out / "manifest.csv", newline="") as f:
            rows = [row["file"] for row in csv.DictReader(f)]
        assert sorted(rows) == sorted(p.name for p in out.glob("*.png")) and rows
        assert not list(out.glob("*.tmp"))


def test_ctrl_c_inside_a_pair_of_writes_waits_until_both_are_written():
    from liveness.common.interrupts import deferred_interrupt
    written = []
    try:
        with deferred_interrupt():
            written.append("roi")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here; it must not raise inside the block
            written.append("manifest row")
    except KeyboardInterrupt:
        written.append("interrupted")
    assert written == ["roi", "manifest row", "interrupted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
