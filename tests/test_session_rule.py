"""The session's decision rule and the capture-quality measure it gates on, on synthetic faces and frames."""
import cv2
import pytest

from liveness.data.sample import real_frames
from liveness.faces.quality import face_quality
from liveness.service.sessions import Rule, aggregate, decide

BOX = (100, 60, 220, 200)


def frame(score, faces=1, size=120, brightness=120.0, sharpness=200.0):
    return {"faces": faces, "score": score, "box": [0, 0, size, size],
            "quality": {"size": size, "brightness": brightness, "contrast": 40.0, "sharpness": sharpness}}


def test_quality_sees_a_dark_a_small_and_a_blurred_face():
    face = next(real_frames(1, (320, 240)))
    plain = face_quality(face, BOX)
    dark = face_quality((face * 0.15).astype("uint8"), BOX)
    blurred = face_quality(cv2.GaussianBlur(face, (0, 0), 6), BOX)
    small = face_quality(cv2.resize(face, (80, 60)), tuple(v // 4 for v in BOX))
    assert dark["brightness"] < plain["brightness"] * 0.2
    assert blurred["sharpness"] < plain["sharpness"] * 0.2
    assert small["size"] == 30 and plain["size"] == 120
    assert face_quality(face, (5, 5, 5, 5))["size"] == 0  # an empty box


def test_a_session_of_good_frames_is_decided_by_its_aggregate():
    frames = [frame(s) for s in (0.9, 0.8, 0.7, 0.2, 0.9)]
    assert decide(frames, 5, 0.5)["decision"] == "real"
    assert decide([frame(s) for s in (0.1, 0.2, 0.9, 0.3, 0.1)], 5, 0.5)["decision"] == "fake"
    assert aggregate([0.9, 0.1, 0.5], "median") == 0.5
    assert aggregate([0.0, 0.5, 0.5, 0.5, 1.0], "trimmed_mean") == pytest.approx(0.5)
    assert aggregate([0.5, 0.5], "mean_logit") == pytest.approx(0.5)


GATED = Rule(min_face=40, min_brightness=40.0)


@pytest.mark.parametrize("bad,reason", [(dict(brightness=10.0), "too_dark"), (dict(size=20), "face_too_small"),
                                        (dict(faces=0), "no_face"), (dict(faces=2), "more_than_one_face")])
def test_a_badly_seen_session_asks_to_retry_with_its_reason(bad, reason):
    frames = [frame(0.1, **bad) for _ in range(4)] + [frame(0.1)]
    if bad.get("faces") == 0:
        frames[:4] = [{"faces": 0, "score": None, "box": None, "quality": None}] * 4
    decided = decide(frames, 5, 0.5, GATED)
    assert decided["decision"] == "retry" and decided["reason"] == reason and decided["confidence"] is None


def test_a_session_with_frames_missing_is_never_decided():
    assert decide([frame(0.9)] * 3, 5, 0.5)["reason"] == "frames_missing"


def test_sharpness_is_checked_only_when_the_rule_asks():
    frames = [frame(0.9, sharpness=1.0)] * 5
    assert decide(frames, 5, 0.5)["decision"] == "real"
    assert decide(frames, 5, 0.5, Rule(min_sharpness=20.0))["reason"] == "too_blurred"
