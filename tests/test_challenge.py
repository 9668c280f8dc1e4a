"""The challenge: its step detector on synthetic landmark tracks, the random draw, and the order and timing rules
of a challenge session (liveness.sessions.flow over an in-memory store), with a scripted random source."""
import json

import numpy as np
import pytest

from liveness.data.sample import real_frames
from liveness.errors import ApiError
from liveness.sessions import challenge
from liveness.sessions.camera import signature
from liveness.sessions.challenge import STEPS, ChallengeRule, draw_steps, pose, step_outcome
from liveness.sessions.flow import CHALLENGE, CHALLENGE_START, COUNTED, SessionFlow
from liveness.sessions.store import SessionStore

RULE = ChallengeRule()
NEUTRAL = (0.0, 0.7)
FACE_BOX = (243, 115, 374, 288)  # the sample's face in a 640x480 frame of real_frames


def landmarks(turn=0.0, nod=0.7, roll_degrees=0.0, scale=40.0, centre=(320.0, 240.0)):
    """dlib's 5 landmarks of a face whose pose is (turn, nod): eye corners 1 unit apart, the nose offset."""
    points = np.array([[0.75, 0], [0.25, 0], [-0.75, 0], [-0.25, 0], [turn, nod]]) * scale
    angle = np.radians(roll_degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points @ rotation.T + centre).tolist()


def track(*poses, every=0.125):
    """[(seconds after the prompt, pose)] at the page's pace."""
    return [(i * every, p) for i, p in enumerate(poses)]


def test_the_pose_is_the_noses_offset_along_and_across_the_eye_line_whatever_the_roll_and_size():
    assert pose(landmarks(0.0, 0.7)) == pytest.approx((0.0, 0.7))
    assert pose(landmarks(0.12, 0.6)) == pytest.approx((0.12, 0.6))
    # a head tilted sideways, or further from the camera, is the same pose
    assert pose(landmarks(0.12, 0.6, roll_degrees=25, scale=17)) == pytest.approx((0.12, 0.6), abs=1e-9)


def test_a_turn_the_asked_way_from_the_neutral_pose_meets_its_step():
    turn, nod = RULE.turn, RULE.nod
    left = track(NEUTRAL, (0.3 * turn, 0.7), (0.6 * turn, 0.75), (1.1 * turn, 0.8))  # a turned nose drops a bit
    assert step_outcome("turn_left", left, NEUTRAL) == ("met", 3)
    right = track(NEUTRAL, (-0.5 * turn, 0.7), (-1.05 * turn, 0.71))
    assert step_outcome("turn_right", right, NEUTRAL) == ("met", 2)
    up = track(NEUTRAL, (0.0, 0.7 - 0.5 * nod), (0.01, 0.7 - 1.1 * nod))
    assert step_outcome("look_up", up, NEUTRAL) == ("met", 2)


def test_a_movement_another_way_first_misses_the_step():
    turn, nod = RULE.turn, RULE.nod
    assert step_outcome("turn_left", track(NEUTRAL, (-1.1 * turn, 0.7), (1.2 * turn, 0.7)), NEUTRAL)[0] == "wrong"
    down_then_up = track(NEUTRAL, (0.0, 0.7 + 1.1 * nod), (0.0, 0.7 - 1.2 * nod))
    assert step_outcome("look_up", down_then_up, NEUTRAL)[0] == "wrong"
    assert step_outcome("look_up", track(NEUTRAL, (1.1 * turn, 0.7)), NEUTRAL)[0] == "wrong"


def test_a_face_already_turned_when_the_prompt_shows_must_come_back_first():
    turned = 1.2 * RULE.turn
    held = track((turned, 0.7), (turned, 0.7), (turned + 0.01, 0.7))  # turned before the prompt, and still
    assert step_outcome("turn_left", held, NEUTRAL) == ("pending", None)
    back_and_again = track((turned, 0.7), (0.02, 0.7), (turned, 0.7))
    assert step_outcome("turn_left", back_and_again, NEUTRAL) == ("met", 2)
    # turned the other way when the prompt came: that pose does not count as a movement the wrong way
    from_the_right = track((-turned, 0.7), (-0.5 * turned, 0.7), (0.0, 0.7), (turned, 0.7))
    assert step_outcome("turn_left", from_the_right, NEUTRAL) == ("met", 3)


def test_a_movement_after_its_window_or_too_small_does_not_meet_the_step():
    late = [(0.0, NEUTRAL), (RULE.window_s + 0.1, (2 * RULE.turn, 0.7))]
    assert step_outcome("turn_left", late, NEUTRAL) == ("pending", None)
    small = track(NEUTRAL, (0.5 * RULE.turn, 0.7), (0.9 * RULE.turn, 0.7), None, (0.95 * RULE.turn, 0.7))
    assert step_outcome("turn_left", small, NEUTRAL) == ("pending", None)


class Scripted:
    """A random source whose choices are given: the order of the steps fixed by the test, the pauses shortest."""

    def __init__(self, steps, pause=0.0):
        self.steps, self.pause = list(steps), pause

    def choice(self, options):
        return self.steps.pop(0)

    def random(self):
        return self.pause


def test_steps_are_drawn_from_the_random_source_never_the_same_twice_in_a_row():
    assert draw_steps(3, Scripted(["turn_left", "turn_left", "look_up", "turn_right"])) == [
        "turn_left", "look_up", "turn_right"]
    drawn = [tuple(draw_steps()) for _ in range(300)]
    assert all(a != b for steps in drawn for a, b in zip(steps, steps[1:]))
    assert len(set(drawn)) == 12  # every sequence of 3 steps of STEPS with no step twice in a row
    assert {s for steps in drawn for s in steps} == set(STEPS)


def frame(index, turn=0.0, nod=0.7, score=0.9, seed=11):
    """A scored frame as the scorer answers it: the sample's face (a different camera frame each time), a pose."""
    image = list(real_frames(index + 1, (640, 480), seed=seed))[-1]
    return {"size": (640, 480), "faces": [{"box": list(FACE_BOX), "score": score,
                                           "quality": {"brightness": 120.0, "sharpness": 80.0, "size": 131}}],
            "checks": {"brightness": 110.0, "signature": signature(image, FACE_BOX), "pose": [turn, nod],
                       "descriptor": [0.1] * 128}}


@pytest.fixture(scope="module")
def frames():
    return [frame(i) for i in range(30)]


def play(flow, session_id, poses, frames, start=1000.0, every=0.13):
    """Send counted frames then challenge frames with `poses` at the page's pace; [(arrived, answer, result)]."""
    answers, arrived = [], start
    for index, current in enumerate(poses):
        session = flow.store.get(session_id)
        flow.admit(session, arrived)
        scored = json.loads(json.dumps(frames[index % len(frames)]))
        if current is None:
            scored["faces"], scored["checks"] = [], {"brightness": 110.0}
        else:
            scored["checks"]["pose"] = list(current)
        kind = flow.frame_kind(session, arrived)
        if kind == CHALLENGE:
            scored["checks"].pop("descriptor", None)
        view, result, _ = flow.take(session_id, session, scored, b"jpeg", arrived, 0.5)
        answers.append((arrived, kind, view, result))
        if result is not None:
            break
        arrived += 0.31 if kind == COUNTED else every  # counted frames span 0.9 s, as the session asks
    return answers


def challenge_flow(steps, pause=0.0):
    return SessionFlow(SessionStore(), operating_point="balanced", random_source=Scripted(steps, pause))


def moves(step, frames=8):
    """The frames of a person doing `step` from neutral: still, then turning, then back."""
    axis, sign = challenge.DIRECTIONS[step]
    out = []
    for amount in [0, 0, 0.4, 0.8, 1.2, 0.8, 0.3, 0][:frames]:
        p = list(NEUTRAL)
        p[axis] += sign * amount * RULE.needed(step)
        out.append(tuple(p))
    return out


def test_a_session_that_meets_every_step_in_order_decides_and_the_page_never_sees_a_step_ahead(frames):
    flow = challenge_flow(["turn_left", "look_up", "turn_right"], pause=0.0)  # pauses of 0.5 s
    created = flow.create("site", 4, 2)
    assert created["challenge"] == "head_movements"
    poses = [NEUTRAL] * 4 + [NEUTRAL] * 4 + moves("turn_left") + [NEUTRAL] * 3 + moves("look_up") + \
        [NEUTRAL] * 3 + moves("turn_right")
    answers = play(flow, created["id"], poses, frames)
    kinds = [kind for _, kind, _, _ in answers]
    assert kinds[:4] == [COUNTED] * 4 and CHALLENGE_START in kinds and CHALLENGE in kinds
    prompts = [view.get("challenge", {}).get("prompt") for _, _, view, _ in answers]
    shown = [p for i, p in enumerate(prompts) if p and p != prompts[i - 1]]
    assert shown == ["turn_left", "look_up", "turn_right"]  # one at a time, in the drawn order
    for _, _, view, _ in answers:  # the page never reads the steps to come, nor a score
        assert "steps" not in json.dumps(view.get("challenge", {})).replace('"steps": 3', "")
        assert "score" not in json.dumps(view)
    result = answers[-1][3]
    assert result["decision"] == "real", result
    assert [m["step"] for m in result["challenge"]["met"]] == ["turn_left", "look_up", "turn_right"]


def test_no_step_is_revealed_before_its_random_pause(frames):
    flow = challenge_flow(["turn_right", "turn_left", "look_up"], pause=1.0)  # the longest pause, 1.5 s
    created = flow.create("site", 4, 2)
    answers = play(flow, created["id"], [NEUTRAL] * 20, frames)
    counted_done = answers[3][0]
    for arrived, _, view, _ in answers[4:]:
        expected = "turn_right" if arrived >= counted_done + RULE.pause_s[1] else None
        assert view["challenge"]["prompt"] == expected


def test_a_step_not_met_in_its_window_asks_to_try_again_with_its_reason(frames):
    flow = challenge_flow(["look_up", "turn_left", "turn_right"])
    created = flow.create("site", 4, 2)
    answers = play(flow, created["id"], [NEUTRAL] * 100, frames)
    arrived, _, view, result = answers[-1]
    assert result["decision"] == "retry" and result["reason"] == "missed_look_up"
    assert view["outcome"] == "retry" and "Look up" in view["message"]
    assert arrived - answers[3][0] > RULE.window_s  # not before its time was up


def test_a_recording_that_turns_the_wrong_way_first_is_asked_to_try_again(frames):
    flow = challenge_flow(["turn_left", "turn_right", "look_up"])
    created = flow.create("site", 4, 2)
    answers = play(flow, created["id"], [NEUTRAL] * 9 + moves("turn_right") + moves("turn_left"), frames)
    assert answers[-1][3]["reason"] == "missed_turn_left"


def test_challenge_frames_sooner_than_a_cameras_pace_are_refused(frames):
    flow = challenge_flow(["turn_left", "turn_right", "look_up"])
    created = flow.create("site", 4, 2)
    answers = play(flow, created["id"], [NEUTRAL] * 6, frames)
    with pytest.raises(ApiError) as refused:
        flow.admit(flow.store.get(created["id"]), answers[-1][0] + 0.01)
    assert refused.value.status == 429


def test_another_face_at_the_steps_start_changes_the_face(frames):
    flow = challenge_flow(["turn_left", "look_up", "turn_right"])
    created = flow.create("site", 4, 2)
    stranger = [json.loads(json.dumps(f)) for f in frames]
    for f in stranger:
        f["checks"]["descriptor"] = [0.9] * 128  # another person's face, 9 apart
    sent = [NEUTRAL] * 8 + moves("turn_left") + [NEUTRAL] * 3 + moves("look_up") + [NEUTRAL] * 3 + \
        moves("turn_right")
    mixed = frames[:4] + stranger[4:]  # the counted frames one person's, the steps another's
    answers = play(flow, created["id"], sent, mixed)
    assert answers[-1][3]["reason"] == "face_changed"


def test_a_passive_session_has_no_challenge(frames):
    flow = challenge_flow([])
    created = flow.create("site", 4, 2, with_challenge=False)
    assert created["challenge"] == "none"
    answers = play(flow, created["id"], [NEUTRAL] * 8, frames)
    # its 4 frames, and up to as many more while the face shows too few pictures (the sample turns slowly)
    assert answers[-1][3]["decision"] == "real" and 4 <= len(answers) <= 8
    assert all(kind == COUNTED and "challenge" not in view for _, kind, view, _ in answers)
