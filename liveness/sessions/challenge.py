"""A challenge no recording answers: the server picks head movements, reveals each one only when its turn comes,
and the frames that follow must show it.

A pre-recorded genuine video of a person passes every passive check: it *is* them. It cannot know, when it was
recorded, which way the server will ask the head to turn, nor when. So a challenge session, once its counted
frames are in, asks for STEPS_PER_CHALLENGE movements drawn with the operating system's random source (`secrets`),
each revealed after a random pause; a step is met only by a movement that starts from the person's neutral pose
after its prompt, goes the asked way before any other, and gets there within WINDOW_S.

The pose comes from dlib's 5-point landmarks (eye corners and the base of the nose, CC0): the nose's offset from
the eyes' midpoint, along the eye line (a turn) and across it (a nod), over the distance between the eyes. A flat
picture turned or tilted keeps these ratios nearly unchanged; a head turning changes them.
"""
import dataclasses
import secrets

import numpy as np

# The steps, as the page names them. "Left" is the person's own left: in the camera's (unmirrored) frame the nose
# moves towards the image's right. Moving closer is not a step: a recording zoomed in answers it.
STEPS = ("turn_left", "turn_right", "look_up")
STEPS_PER_CHALLENGE = 3
# (axis of the pose, sign): a step is met when the pose moves this way from neutral
DIRECTIONS = {"turn_left": (0, 1.0), "turn_right": (0, -1.0), "look_up": (1, -1.0)}


@dataclasses.dataclass(frozen=True)
class ChallengeRule:
    """The step detector's numbers; the defaults were chosen on the labelled head movements of ../shared
    (benchmarks/challenge.py, benchmarks/head_movements.csv, docs/accuracy.md#challenge), named numbers."""

    turn: float = 0.2  # a turn: the nose moves this far along the eye line, in inter-ocular distances
    nod: float = 0.16  # a look up: the nose moves this far up across the eye line, in inter-ocular distances
    neutral: float = 0.08  # a step starts from a face turned the asked way by no more than this
    window_s: float = 4.0  # seconds from a step's prompt within which its movement must be met
    pause_s: tuple = (0.5, 1.5)  # the random pause before each prompt, seconds

    def needed(self, step):
        """How far the face must move for `step` (or "look_down") to count."""
        return self.turn if step in ("turn_left", "turn_right") else self.nod


def draw_steps(count=STEPS_PER_CHALLENGE, source=None):
    """`count` steps, no step twice in a row, from the operating system's random source."""
    source, steps = source or SYSTEM_RANDOM, []
    while len(steps) < count:
        step = source.choice(STEPS)
        if not steps or step != steps[-1]:
            steps.append(step)
    return steps


def draw_pause(rule=ChallengeRule(), source=None):
    low, high = rule.pause_s
    return low + (high - low) * (source or SYSTEM_RANDOM).random()


def pose(points):
    """(turn, nod) of a face from dlib's 5 landmarks [(x, y)] (two corners of each eye, then the base of the nose):
    the nose's offset from the eyes' midpoint along the eye line (positive towards the image's right) and across
    it (positive downwards), over the distance between the eyes' centres."""
    points = np.asarray(points, np.float64)
    eyes = sorted([points[0:2].mean(0), points[2:4].mean(0)], key=lambda p: p[0])
    along = eyes[1] - eyes[0]
    distance = float(np.hypot(*along))
    if distance < 1e-6:
        return None
    unit = along / distance
    across = np.array([-unit[1], unit[0]])  # the eye line turned a quarter clockwise: downwards in the image
    offset = points[4] - (eyes[0] + eyes[1]) / 2
    return float(offset @ unit / distance), float(offset @ across / distance)


def displacement(step, current, neutral):
    """How far `current` has moved from `neutral` in `step`'s direction (positive: the asked way)."""
    axis, sign = DIRECTIONS[step]
    return sign * (current[axis] - neutral[axis])


def others(step):
    """The movements that, made first, miss `step`: the other steps, and for a look up also looking down (not for
    a turn: a turned face's nose drops towards the eye line's middle as the eyes close in, and looks down)."""
    return [other for other in STEPS if other != step] + (["look_down"] if step == "look_up" else [])


def moved(step, current, neutral):
    """displacement() for any movement, looking down included (the opposite of looking up)."""
    return -displacement("look_up", current, neutral) if step == "look_down" else displacement(step, current, neutral)


def step_outcome(step, poses, neutral, rule=ChallengeRule()):
    """Whether the poses seen after a step's prompt ([(seconds after the prompt, pose or None)], in order) meet
    it. The movement must start after the prompt: the face is first seen not yet moved the asked way (within the
    rule's `neutral` of the person's own pose), then moves that way by the rule's amount: "met" at that frame's
    index. A movement another way by its amount, made after the prompt (not a pose the face already held when
    the prompt came), misses the step: "wrong". Otherwise "pending" (its time may not be up)."""
    started, held = False, None
    for index, (elapsed, current) in enumerate(poses):
        if elapsed > rule.window_s:
            break
        if current is None:
            continue
        if held is None:  # the ways the face was already turned when the prompt came do not count against it
            held = {other for other in others(step) if moved(other, current, neutral) >= rule.needed(other)}
        if not started:
            started = displacement(step, current, neutral) <= rule.neutral
            if not started:
                continue
        if displacement(step, current, neutral) >= rule.needed(step):
            return "met", index
        if any(moved(other, current, neutral) >= rule.needed(other) for other in others(step) if other not in held):
            return "wrong", index
    return "pending", None


SYSTEM_RANDOM = secrets.SystemRandom()
PROMPTS_IN_WORDS = {  # what the page asks; the page shows the video as a mirror, so the arrow points the same way
    "turn_left": "Turn your head to your left",
    "turn_right": "Turn your head to your right",
    "look_up": "Look up a little",
}
WAITING_IN_WORDS = "Look at the camera"


def new_state(source=SYSTEM_RANDOM):
    """A challenge's state before its session's counted frames are in: its steps drawn, none revealed."""
    return {"steps": draw_steps(source=source), "index": 0, "prompt_at": None, "neutral": None, "poses": [],
            "start": None, "met": [], "last": None}


def begin(state, neutral, arrived, rule=ChallengeRule(), source=SYSTEM_RANDOM):
    """The state once the counted frames are in: `neutral` is the person's own pose (the median of those
    frames'), and the first prompt comes after a random pause."""
    return {**state, "neutral": list(neutral), "prompt_at": arrived + draw_pause(rule, source), "last": arrived}


def revealed(state, arrived):
    """The step the page may be asked to do at `arrived`, or None (during a pause, or before the challenge)."""
    if state["prompt_at"] is None or arrived < state["prompt_at"] or state["index"] >= len(state["steps"]):
        return None
    return state["steps"][state["index"]]


def wants_start(state, arrived):
    """Whether a frame arriving at `arrived` is its step's first after the prompt: the one whose face (its
    identity descriptor, its patch) the step's movement starts from."""
    return revealed(state, arrived) is not None and state["start"] is None


def observe(state, arrived, current, checks, rule=ChallengeRule(), source=SYSTEM_RANDOM):
    """(the new state, what happened) for one frame during the challenge: `current` is the frame's pose (None
    without one face in it) and `checks` its {signature, descriptor} (either may be missing). What happened:
    "waiting" (no step revealed yet), "asking" (the revealed step is not met yet), "met" (a step met, the next one
    after a pause), "complete" (every step met) or "missed" (the revealed step's time ran out, or the face moved
    another way first)."""
    step = revealed(state, arrived)
    if step is None:
        return {**state, "last": arrived}, "waiting"
    elapsed = arrived - state["prompt_at"]
    start = state["start"]
    if start is None and checks.get("signature") is not None:
        start = {"signature": checks["signature"], "descriptor": checks.get("descriptor")}
    poses = state["poses"] + [[round(elapsed, 3), list(current) if current is not None else None]]
    outcome, _ = step_outcome(step, poses, state["neutral"], rule)
    if outcome == "met" and start is not None and checks.get("signature") is not None:
        met = state["met"] + [{"step": step, "seconds": round(elapsed, 3), "frames": len(poses),
                               "start": start, "peak": checks["signature"]}]
        index = state["index"] + 1
        after = {**state, "index": index, "poses": [], "start": None, "met": met, "last": arrived,
                 "prompt_at": arrived + draw_pause(rule, source)}
        return after, ("complete" if index == len(state["steps"]) else "met")
    if outcome == "wrong" or elapsed > rule.window_s:
        return {**state, "poses": poses, "start": start, "last": arrived}, "missed"
    return {**state, "poses": poses, "start": start, "last": arrived}, "asking"


def page_view(state, arrived):
    """What the page learns of the challenge: how many steps, how many done, the step to do now (or None)."""
    step = revealed(state, arrived)
    return {"steps": len(state["steps"]), "done": state["index"], "prompt": step,
            "message": PROMPTS_IN_WORDS[step] if step else WAITING_IN_WORDS}


def summary(state):
    """What the backend reads of a decided session's challenge: the steps asked, and those met with their time."""
    return {"steps": state["steps"][:state["index"] + 1] if state["index"] < len(state["steps"]) else state["steps"],
            "met": [{"step": m["step"], "seconds": m["seconds"], "frames": m["frames"]} for m in state["met"]]}
