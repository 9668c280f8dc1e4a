import pickle

import cv2
import numpy as np
from sklearn.preprocessing import LabelEncoder

from conftest import assert_one_line_error, read_video, run_script
from liveness.faces.detectors.ssd import SsdDetector
from liveness.models.classifier import LivenessClassifier
from liveness.models.model_io import load_model_and_labels
from liveness.pipeline import score_faces


def test_the_demo_on_a_clip_writes_every_frame_annotated(trained, clips, tmp_path):
    out = tmp_path / "annotated.mp4"
    result = run_script("liveness_demo.py", "--model", trained["model"], "--le", trained["le"],
                        "--input", clips["fake"], "--output", out, "--no-display")
    assert result.returncode == 0, result.stderr
    frames = read_video(out)
    source = read_video(clips["fake"])
    assert len(frames) == len(source) == clips["frames"]
    assert frames[0].shape[1] == 600  # resized to width 600 as the original
    # the overlay is drawn in pure green or red: some pixels must be exactly one of them
    plain = cv2.resize(source[0], (frames[0].shape[1], frames[0].shape[0]))
    changed = np.abs(frames[0].astype(int) - plain.astype(int)).sum(axis=2) > 150
    assert changed.sum() > 200
    assert f"{clips['frames']} frames, {clips['frames']} faces" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.mp4"]  # no temporary left behind


def test_one_face_gets_one_label(trained, face_frame):
    model, le = load_model_and_labels(trained["model"], trained["le"])
    faces = score_faces(face_frame, SsdDetector(min_confidence=0.2), LivenessClassifier(model, le))
    assert len(faces) == 1
    assert faces[0].label in ("fake", "real")
    assert faces[0].score == max(faces[0].probabilities)


def test_a_label_encoder_with_other_classes_than_the_model_is_refused(trained, clips, tmp_path):
    (tmp_path / "le.pickle").write_bytes(pickle.dumps(LabelEncoder().fit(["real", "print", "replay"])))
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", tmp_path / "le.pickle",
                        "-i", clips["real"], "-o", tmp_path / "out.mp4", "--no-display")
    assert_one_line_error(result, "2 outputs", "3 classes")
    assert not (tmp_path / "out.mp4").exists()


def test_a_missing_video_is_refused(trained, tmp_path):
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"],
                        "-i", tmp_path / "none.mp4", "-o", tmp_path / "out.mp4", "--no-display")
    assert_one_line_error(result, "not found")


def test_an_unreadable_video_is_refused_and_writes_nothing(trained, tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00garbage" * 64)
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"],
                        "-i", tmp_path / "bad.mp4", "-o", tmp_path / "out.mp4", "--no-display")
    assert_one_line_error(result, "bad.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_a_missing_model_is_refused(trained, clips, tmp_path):
    result = run_script("liveness_demo.py", "-m", tmp_path / "none.keras", "-l", trained["le"],
                        "-i", clips["real"], "-o", tmp_path / "out.mp4", "--no-display")
    assert_one_line_error(result, "model not found")


def test_a_headless_machine_gets_told_to_use_no_display(trained, clips):
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"], "-i", clips["real"])
    assert_one_line_error(result, "--no-display")
