"""benchmarks/sessions.py decides its sessions as the service does: frames that only get a hint are not counted."""
import base64
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from sessions import counted, decide_all, sessions_of  # noqa: E402

from liveness.sessions.rule import Rule  # noqa: E402

SIZE = 10
FRAME = [640, 480]


def face(seed, score=0.9):
    """A counted frame's record: one centred face, well lit and sharp, a patch of its own (a moving face) and the
    descriptor of one person."""
    rng = np.random.default_rng(seed)
    patch = cv2.GaussianBlur(rng.uniform(1, 255, (64, 64)).astype(np.float32), (0, 0), 3)
    patch = cv2.normalize(patch, None, 1, 255, cv2.NORM_MINMAX).astype(np.uint8)
    descriptor = (np.full(128, 0.05) + np.random.default_rng(1000 + seed).normal(0, 0.002, 128)).tolist()
    return {"faces": 1, "score": score, "box": [220, 140, 420, 340], "size": FRAME,
            "quality": {"size": 200, "brightness": 100.0, "contrast": 40.0, "sharpness": 100.0},
            "signature": {"pixels": f"frame{seed}", "patch": base64.b64encode(patch.tobytes()).decode()},
            "descriptor": descriptor}


def no_face():
    return {"faces": 0, "score": None, "box": None, "size": FRAME, "quality": None}


def off_the_oval(seed):
    return {**face(seed), "box": [0, 0, 120, 120]}


def recording(frames, label="real"):
    return {"subjX_" + label: (label, "subjX", frames)}


def test_frames_that_only_get_a_hint_are_skipped_not_counted():
    frames = [no_face() for _ in range(3)] + [off_the_oval(50 + i) for i in range(3)] + [face(i) for i in range(12)]
    records = counted(frames, Rule(), SIZE)
    assert len(records) == SIZE
    assert [r["signature"]["pixels"] for r in records] == [f"frame{i}" for i in range(SIZE)]
    assert all(r["problem"] is None for r in records)


def test_a_session_whose_first_frames_show_no_face_decides_on_the_counted_ones_after():
    # six of the first ten frames show no face: the page hints, the session waits for ten counted frames
    frames = [no_face() for _ in range(6)] + [face(i) for i in range(SIZE + 4)]
    first = sessions_of(recording(frames), SIZE)[0]
    assert decide_all([first], Rule(), SIZE, 0.5) == [("real", "real")]


def test_a_recording_that_ends_before_enough_frames_count_leaves_its_session_to_retry():
    frames = [face(i) for i in range(4)] + [no_face() for _ in range(SIZE)]
    sessions = sessions_of(recording(frames, "fake"), SIZE)
    assert [d for _, d in decide_all(sessions, Rule(), SIZE, 0.5)] == ["retry"]


def test_a_repeated_frame_is_counted_but_not_judged():
    frames = [face(0), face(0), face(1)]
    assert [r["problem"] for r in counted(frames, Rule(), SIZE)] == [None, "duplicate_frame", None]


def test_the_picture_match_is_chosen_to_refuse_every_injection_then_to_keep_the_fewest_live_windows_still():
    from session_camera import choose_match

    def moved(*frames):  # one injection each of persons P0, P1, ...: the frame it moved at, or None
        return [(f"P{i}", f) for i, f in enumerate(frames)]

    def still(*flags):
        return [(f"P{i}", flag) for i, flag in enumerate(flags)]

    injections = {"kept": moved(None, 23, None), "kept_both_ways": moved(None, None, None),
                  "every_both_ways": moved(None, None, None)}
    live = {"kept": still(True, False, False), "kept_both_ways": still(True, True, False),
            "every_both_ways": still(True, True, True)}
    assert choose_match(injections, live, lambda p: True) == "kept_both_ways"  # kept lets P1's injection move
    assert choose_match(injections, live, lambda p: p != "P1") == "kept"  # without P1 it refuses all, fewer still
    none_refuse = {m: moved(12, None, None) for m in injections}
    assert choose_match(none_refuse, live, lambda p: True) == "kept"  # the fewest moving, then the fewest still
