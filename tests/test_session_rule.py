"""The session's decision rule, its one-camera and one-person checks, and what the page may read, on synthetic
faces, frames and records."""
import io
import os
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from liveness.data.sample import real_frames
from liveness.errors import ApiError
from liveness.faces.quality import face_quality
from liveness.sessions.camera import (PICTURE_MATCHES, check_jpeg, distinct_pictures, duplicate_of, min_interval,
                                     movement, signature)
from liveness.sessions.identity import SAME_PERSON, medoid_distances, stranger_cut
from liveness.sessions.rule import Rule, decide
from liveness.sessions.views import kept_frames, progress_view, result_view

BOX = (100, 60, 220, 200)
FACE_BOX = (243, 115, 374, 288)  # the sample's face in a 640x480 frame of real_frames


def live_signatures(count, seed=11):
    return [signature(frame, FACE_BOX) for frame in real_frames(count, (640, 480), seed=seed)]


def still_signatures(count, seed=0, photo_seed=5):
    """One frame of the sample sent `count` times with 1-3 px shifts, +-2 % brightness, noise and JPEG 70-95."""
    rng = np.random.default_rng(seed)
    photo = next(real_frames(1, (640, 480), seed=photo_seed))
    out = []
    for _ in range(count):
        dx, dy = rng.integers(-3, 4, 2)
        moved = cv2.warpAffine(photo, np.float32([[1, 0, dx], [0, 1, dy]]), (640, 480), borderMode=cv2.BORDER_REFLECT)
        lit = np.clip(moved * rng.uniform(0.98, 1.02) + rng.normal(0, 1.5, moved.shape), 0, 255).astype(np.uint8)
        data = cv2.imencode(".jpg", lit, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))])[1]
        out.append(signature(cv2.imdecode(data, cv2.IMREAD_COLOR), (FACE_BOX[0] + dx, FACE_BOX[1] + dy,
                                                                    FACE_BOX[2] + dx, FACE_BOX[3] + dy)))
    return out


@pytest.fixture(scope="module")
def moving():
    return live_signatures(10)


def record(score, signature, descriptor=None, problem=None, sharpness=200.0):
    return {"score": score, "box": list(FACE_BOX), "problem": problem, "signature": signature,
            "descriptor": descriptor if descriptor is not None else [0.0] * 128,
            "quality": {"size": 131, "brightness": 120.0, "contrast": 40.0, "sharpness": sharpness}}


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


def test_a_few_confident_frames_cannot_carry_the_rest(moving):
    rule = Rule(min_live_share=0.8)
    carried = [record(s, g) for s, g in zip([0.999] * 3 + [0.3] * 7, moving)]
    assert decide(carried, 10, 0.5, rule)["decision"] == "fake"  # the mean logit of these frames is above 0.5
    mostly = [record(s, g) for s, g in zip([0.9] * 8 + [0.2] * 2, moving)]
    outcome = decide(mostly, 10, 0.5, rule)
    assert outcome["decision"] == "real" and outcome["live_frames"] == 8 and outcome["carried"] == list(range(8))


def test_a_still_photo_moved_around_asks_to_try_again_and_a_moving_face_does_not(moving):
    still = still_signatures(10)
    assert movement(still) < Rule().still_residual <= movement(moving)
    outcome = decide([record(0.99, g) for g in still], 10, 0.5)
    assert (outcome["decision"], outcome["reason"]) == ("retry", "no_movement")
    assert decide([record(0.99, g) for g in moving], 10, 0.5)["decision"] == "real"


def test_two_photos_in_turn_move_between_every_two_frames_yet_ask_to_try_again(moving):
    first, second = still_signatures(5, seed=1), still_signatures(5, seed=2, photo_seed=2)
    in_turn = [g for pair in zip(first, second) for g in pair]
    assert distinct_pictures(in_turn) == [0, 1]  # each photo's variants are that one picture again
    assert len(distinct_pictures(moving)) >= 3
    assert movement(in_turn) >= Rule().still_residual  # the pairs across the two photos move
    outcome = decide([record(0.99, g) for g in in_turn], 10, 0.5)
    assert (outcome["decision"], outcome["reason"]) == ("retry", "no_movement")
    for match in PICTURE_MATCHES:
        assert distinct_pictures(in_turn, match=match) == [0, 1] and len(distinct_pictures(moving, match=match)) >= 3


def test_a_face_is_a_new_picture_against_the_earlier_ones_the_match_names():
    photo = next(real_frames(1, (640, 480), seed=5)).astype(np.float32)
    (x0, y0, x1, y1), drift = FACE_BOX, []
    for step in range(0, 42, 6):  # the face's left half lit a little more each frame: each change about 3 grey levels
        frame = photo.copy()
        frame[y0:y1, x0:(x0 + x1) // 2] += step
        drift.append(signature(np.clip(frame, 0, 255).astype(np.uint8), FACE_BOX))
    three = drift[:3]
    assert distinct_pictures(three, match="kept") == distinct_pictures(three, match="kept_both_ways") == [0, 2]
    assert distinct_pictures(three, match="every_both_ways") == [0]  # the last is near the one before it
    # votes: the first and the last are apart, the middle one near both, so one of the pairs of two joins
    assert len(distinct_pictures(three, match="votes")) == len(distinct_pictures(three, match="votes_both_ways")) == 2
    assert distinct_pictures(drift, match="every_both_ways") == [0]  # a slow drift chains into one picture
    for match in ("votes", "votes_both_ways"):  # most of the drift's pairs are apart: several pictures
        assert len(distinct_pictures(drift, match=match)) >= 3
    with pytest.raises(ValueError, match="match must be one of"):
        distinct_pictures(drift, match="nearest")


def test_another_persons_live_frames_do_not_move_a_photo_of_the_session_person(moving):
    rng = np.random.default_rng(6)
    victim = rng.normal(0, 0.09, 128)
    frames = [record(0.99, g, list(victim + rng.normal(0, 0.01, 128))) for g in still_signatures(10, seed=3)]
    for i in (3, 7):  # the attacker's own live frames: two strays, which the one-person check tolerates
        frames[i] = record(0.99, moving[i], list(victim + rng.normal(0, 0.09, 128)))
    assert movement([f["signature"] for f in frames]) >= Rule().still_residual
    outcome = decide(frames, 10, 0.5)
    assert (outcome["decision"], outcome["reason"]) == ("retry", "no_movement")
    for i in (3, 7):  # the same frames of the session's person move it
        frames[i]["descriptor"] = list(victim + rng.normal(0, 0.01, 128))
    assert decide(frames, 10, 0.5)["decision"] == "real"


def test_a_repeated_frame_is_a_duplicate_and_the_next_live_one_is_not(moving):
    assert duplicate_of(moving[0], [moving[0]])
    assert not duplicate_of(moving[1], [moving[0]])
    same_pixels_other_patch = {**moving[1], "pixels": moving[0]["pixels"]}
    assert duplicate_of(same_pixels_other_patch, [moving[0]])


def test_another_persons_face_among_the_judged_frames_asks_to_try_again(moving):
    rng = np.random.default_rng(3)
    me = rng.normal(0, 0.09, 128)
    frames = [record(0.95, g, list(me + rng.normal(0, 0.01, 128))) for g in moving]
    assert decide(frames, 10, 0.5)["decision"] == "real"
    for i in (0, 4, 9):
        frames[i]["descriptor"] = list(me + rng.normal(0, 0.09, 128))  # someone else, about 1.0 away
    distances = medoid_distances([f["descriptor"] for f in frames])
    assert [i for i, d in enumerate(distances) if d > SAME_PERSON] == [0, 4, 9]
    assert decide(frames, 10, 0.5)["reason"] == "face_changed"
    frames[9]["descriptor"] = list(me)
    stray = decide(frames, 10, 0.5)  # two strays are tolerated, and never give the reference or audit images
    assert stray["decision"] == "real" and not {0, 4} & set(stray["carried"])
    assert stray["reference"] == 9  # the face most like the session's one person


def test_another_persons_photo_sent_again_and_again_counts_each_time_it_comes(moving):
    rng = np.random.default_rng(4)
    me, victim = rng.normal(0, 0.09, 128), rng.normal(0, 0.09, 128)
    frames = [record(0.95, g, list(me + rng.normal(0, 0.01, 128))) for g in moving]
    frames[0]["descriptor"] = list(victim)
    repeats = [record(0.95, moving[0], list(victim), problem="duplicate_frame") for _ in range(2)]
    outcome = decide(frames[:5] + repeats[:1] + frames[5:9] + repeats[1:], 10, 0.5)
    assert (outcome["decision"], outcome["reason"]) == ("retry", "face_changed")
    mine = [record(0.95, moving[1], list(me), problem="duplicate_frame") for _ in range(2)]
    assert decide(frames[:5] + mine[:1] + frames[5:9] + mine[1:], 10, 0.5)["decision"] == "real"
    assert medoid_distances([list(me)], also=[list(victim)])[1] > SAME_PERSON  # a repeat never picks the medoid


def test_a_look_alike_within_dlibs_cut_is_a_stranger_where_the_sessions_own_faces_sit_tight(moving):
    rng = np.random.default_rng(5)
    me = rng.normal(0, 0.09, 128)
    frames = [record(0.95, g, list(me + rng.normal(0, 0.01, 128))) for g in moving]  # about 0.11 apart
    look_alike = me + 0.55 * rng.normal(0, 1, 128) / np.sqrt(128)  # about 0.55 from me: inside dlib's 0.6
    for i in (0, 4, 9):
        frames[i]["descriptor"] = list(look_alike + rng.normal(0, 0.01, 128))
    assert decide(frames, 10, 0.5, Rule(stranger_spread=None))["decision"] == "real"
    assert decide(frames, 10, 0.5)["reason"] == "face_changed"
    loose = [record(0.95, g, list(me + rng.normal(0, 0.03, 128))) for g in moving]  # a session's faces 0.34 apart
    assert decide(loose, 10, 0.5)["decision"] == "real"  # the cut never goes under its floor
    assert stranger_cut([0.0, 0.1, 0.1, 0.2], spread=2.0, floor=0.5) == 0.5
    assert stranger_cut([0.0, 0.25, 0.3, 0.3], spread=2.0, floor=0.5) == pytest.approx(0.55)
    assert stranger_cut([0.0, 0.4, 0.4, 0.5], spread=2.0, floor=0.5) == SAME_PERSON


def test_too_few_judged_frames_ask_to_try_again_with_the_commonest_reason(moving):
    frames = [record(0.9, g, problem="too_dark" if i < 6 else None) for i, g in enumerate(moving)]
    assert decide(frames, 10, 0.5) == {"decision": "retry", "reason": "too_dark", "judged": 4, "live_frames": None,
                                       "carried": []}
    assert decide(frames[:9], 10, 0.5)["reason"] == "frames_missing"


def test_only_one_face_in_the_oval_large_enough_counts():
    rule, size = Rule(min_face=80), (640, 480)
    assert rule.hint([], size) == "no_face"
    assert rule.hint([{"box": FACE_BOX}] * 2, size) == "more_than_one_face"
    assert rule.hint([{"box": (0, 0, 100, 100)}], size) == "centre_face"
    assert rule.hint([{"box": (290, 200, 350, 260)}], size) == "come_closer"
    assert rule.hint([{"box": FACE_BOX}], size) is None
    assert rule.problem({"size": 131, "brightness": 20.0, "sharpness": 200.0}) == "too_dark"
    assert rule.problem({"size": 131, "brightness": 120.0, "sharpness": 2.0}) == "too_blurred"


def test_only_a_jpeg_of_at_most_1920x1080_is_a_frame():
    def encoded(fmt, size):
        buffer = io.BytesIO()
        Image.new("RGB", size).save(buffer, fmt)
        return buffer.getvalue()

    assert check_jpeg(encoded("JPEG", (1920, 1080))) == (1920, 1080)
    assert check_jpeg(encoded("JPEG", (1080, 1920))) == (1080, 1920)  # a phone held upright
    for fmt, status in (("PNG", 415), ("WEBP", 415), ("BMP", 415), ("GIF", 415)):
        with pytest.raises(ApiError) as refused:
            check_jpeg(encoded(fmt, (64, 64)))
        assert refused.value.status == status
    with pytest.raises(ApiError) as refused:
        check_jpeg(encoded("JPEG", (1921, 1080)))
    assert refused.value.status == 413
    assert min_interval(10) == pytest.approx(0.1) and min_interval(2) == pytest.approx(0.9)


def test_the_page_learns_progress_and_the_outcome_never_a_score():
    result = {"decision": "fake", "reason": None}
    during = progress_view(3, 10, "come_closer", [1, 2, 3, 4], 0.1)
    done = progress_view(10, 10, result=result)
    shown = progress_view(10, 10, result=result, open_service=True)
    for view in (during, done, shown):
        assert not {"score", "confidence", "faces", "live_frames"} & set(view)
    assert during["message"] == "Come closer" and during["next_frame_in_ms"] == 100
    assert done["outcome"] == "done" and "decision" not in done and shown["decision"] == "fake"
    retry = progress_view(10, 10, result={"decision": "retry", "reason": "too_dark"})
    assert retry["outcome"] == "retry" and retry["reason"] == "too_dark" and "dark" in retry["message"].lower()


def test_reference_and_audit_images_come_from_the_frames_that_carried_the_decision():
    frames = [record(0.9, None, sharpness=s) for s in (50, 400, 60, 70, 80, 90)]
    reference, audit = kept_frames(frames, {"carried": [0, 2, 3, 5]}, 2)
    assert reference == 5 and audit == [0, 5]
    assert kept_frames(frames, {"carried": []}, 3) == (None, [])
    session = {"status": "SUCCEEDED", "expires": 0, "frames": 6, "frame_count": 6,
               "result": {"decision": "real", "reason": None, "frames": [{"score": 0.9, "box": [1, 2, 3, 4]}] * 6,
                          "reference_frame": 5, "audit_frames": [0, 5]}}
    backend = result_view("id", session, [(0, b"a"), (5, b"b")], with_images=True)
    assert backend["reference_image"]["frame"] == 5 and [e["frame"] for e in backend["audit_images"]] == [0, 5]
    anyone = result_view("id", session, [], with_images=False)
    assert "reference_image" not in anyone and all("score" not in f for f in anyone["frames"])


def test_the_secure_operating_point_counts_fewer_frames_live_than_the_balanced_one(moving):
    from liveness.sessions.flow import SessionFlow
    from liveness.sessions.rule import SECURE_FRAME_THRESHOLD, frame_threshold
    from liveness.sessions.store import SessionStore

    lenient = SECURE_FRAME_THRESHOLD - 0.2  # a model whose own threshold is below the secure point
    assert frame_threshold("balanced", lenient) == lenient
    assert frame_threshold("secure", lenient) == SECURE_FRAME_THRESHOLD
    assert frame_threshold("secure", 0.99) == 0.99  # a stricter model keeps its own
    decided = {}
    for point in ("secure", "balanced"):
        flow = SessionFlow(SessionStore(), operating_point=point)
        session = {**flow.store.create("site", 10, 2), "owner": "site", "frames": 10, "audit": 2}
        frames = [record(SECURE_FRAME_THRESHOLD - 0.1, g) for g in moving]  # live at the model's, not at secure
        result, _ = flow.decide(session["id"], session, frames, [b"jpeg"] * 10, lenient)
        decided[point] = (result["decision"], result["operating_point"])
    assert decided["balanced"] == ("real", {"name": "balanced", "frame_threshold": lenient})
    assert decided["secure"] == ("fake", {"name": "secure", "frame_threshold": SECURE_FRAME_THRESHOLD})


def test_a_printed_photo_turned_slowly_moves_yet_stays_one_picture():
    """A perspective no affine transform explains passes the movement measure; the chain of copies refuses it."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    from session_camera import tilt_angles, tilt_matrix, tilted

    photo = next(real_frames(1, (640, 480), seed=5))
    (x0, y0, x1, y1), turned = FACE_BOX, []
    corners = np.float32([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]])
    for angle, frame in zip(tilt_angles(40), tilted(photo, np.random.default_rng(0), 40)):
        seen = cv2.perspectiveTransform(corners, tilt_matrix(640, 480, angle))[0]
        turned.append(signature(frame, (*seen.min(0), *seen.max(0))))
    assert movement(turned) >= Rule().still_residual
    assert Rule().still(turned) and distinct_pictures(turned) == [0]
