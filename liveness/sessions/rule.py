"""From a session's frames to one decision: `real`, `fake` or `retry` with its reason.

A frame is counted only once one face is in the oval and large enough (until then the page gets a hint).
A counted frame is judged unless the face is too dark or too blurred to judge, or the frame repeats an earlier
one. The session then asks to try again if too few frames were judged, if the judged frames (and those
repeated) do not all show one person, or if that person's frames never move beyond what one still picture moved
around gives, or show fewer than three distinct pictures (two photos sent in turn).
Otherwise it is `real` only if at least a share of its judged frames are live on their own: a few confident
frames cannot carry the rest.
The numbers were chosen by leave-one-person-out on ../shared (benchmarks/sessions.py; docs/accuracy.md).
"""
import collections
import dataclasses
import math

import numpy as np

from liveness.faces.quality import quality_problem
from liveness.sessions.camera import (MIN_PICTURES, PICTURE_MATCH, STILL_RESIDUAL, distinct_pictures, movement,
                                     patch_of, residual)
from liveness.sessions.identity import SAME_PERSON, medoid_distances, stranger_cut

RETRY = "retry"
# A session's operating point: the score a frame must reach to count as live. `secure` is the frame threshold at
# which no attack species' session APCER passed 0.01, chosen by leave-one-person-out on ../shared for the
# recommended fusion (benchmarks/operating_point.py, docs/accuracy.md), a named number; a model whose own
# threshold is higher keeps its own. `balanced` is the model's own threshold (the ACER-optimal point).
SECURE_FRAME_THRESHOLD = 0.5
OPERATING_POINTS = ("secure", "balanced")


def frame_threshold(operating_point, model_threshold):
    """The score a session's frame must reach to count as live at `operating_point`."""
    if operating_point == "secure":
        return max(model_threshold, SECURE_FRAME_THRESHOLD)
    return model_threshold
# the oval the page draws, as a share of the frame: the face's centre must lie inside it to count
OVAL_RADII = (0.30, 0.38)


@dataclasses.dataclass(frozen=True)
class Rule:
    """The session's decision rule; the defaults are the choice of benchmarks/sessions.py."""

    # chosen among 108 rules by leave-one-person-out on ../shared, on sessions built as the service builds them
    # (benchmarks/sessions.py, docs/accuracy.md)
    min_live_share: float = 0.5  # judged frames that must be live on their own, as a share of those judged
    min_face: int = 80  # pixels, the face box's shorter side: smaller faces are not counted ("come closer")
    min_brightness: float = 30.0  # mean grey level of the face, 0-255: darker faces are not judged
    min_sharpness: float = 10.0  # variance of the Laplacian of the face at 96x96: blurrier faces are not judged
    min_judged: float = 0.5  # the share of a session's frames that must be judged, else retry
    still_residual: float = STILL_RESIDUAL  # grey levels a session's face must move beyond one still picture
    picture_match: str = PICTURE_MATCH  # how a face is found to be an earlier picture again (camera.PICTURE_MATCH)
    same_person: float = SAME_PERSON  # descriptor distance beyond which a judged face is someone else
    # ... or beyond this many times the session's median distance to its medoid face, never under
    # `stranger_floor` (liveness.sessions.identity.stranger_cut); chosen among 10 cuts by leave-one-person-out on
    # ../shared (benchmarks/session_identity.py, docs/accuracy.md), named numbers; None: dlib's cut alone
    stranger_spread: float = 2.0
    stranger_floor: float = 0.5
    # judged faces allowed beyond that distance before the session asks to retry: dlib's descriptors of one person
    # in a webcam's frames stray past it now and then (docs/service.md); strays never give the reference image
    max_strangers: int = 2

    def hint(self, faces, frame_size):
        """Why a frame is not counted, or None: no_face, more_than_one_face, centre_face, come_closer.
        `faces` are {box} records; `frame_size` is (width, height)."""
        if not faces:
            return "no_face"
        if len(faces) > 1:
            return "more_than_one_face"
        (x0, y0, x1, y1), (width, height) = faces[0]["box"], frame_size
        dx = ((x0 + x1) / 2 - width / 2) / (OVAL_RADII[0] * width)
        dy = ((y0 + y1) / 2 - height / 2) / (OVAL_RADII[1] * height)
        if dx * dx + dy * dy > 1:
            return "centre_face"
        if min(x1 - x0, y1 - y0) < self.min_face:
            return "come_closer"
        return None

    def still(self, signatures):
        """Whether one person's faces (`signatures`, in order) have not moved beyond one still picture yet: the
        session waits for more frames, then asks to try again."""
        return person_movement(signatures, self.still_residual, match=self.picture_match) < self.still_residual

    def problem(self, quality):
        """Why a counted frame's face cannot be judged, or None: too_dark, too_blurred."""
        return quality_problem(quality, 0, self.min_brightness, self.min_sharpness)


def decide(frames, needed, threshold, rule=Rule(), steps=None):
    """{decision, reason, judged, live_frames, carried, reference}: `frames` are the counted frames' records
    ({score, problem, signature, descriptor}); `carried` lists the frames the decision rests on (judged, one
    person), `reference` the one of them whose face is nearest the session's medoid face. `steps` are a
    challenge's met steps ({start: {signature, descriptor}, peak: signature}): the face each step started from
    must be the session's one person too, and a step's movement counts as the face moving."""
    judged = [i for i, f in enumerate(frames) if f.get("problem") is None]
    outcome = {"decision": RETRY, "reason": None, "judged": len(judged), "live_frames": None, "carried": []}
    if len(frames) < needed:
        return {**outcome, "reason": "frames_missing"}
    if len(judged) < math.ceil(rule.min_judged * needed):
        reasons = collections.Counter(f["problem"] for f in frames if f.get("problem") is not None)
        return {**outcome, "reason": reasons.most_common(1)[0][0]}
    steps = steps or []
    starts = [s["start"]["descriptor"] for s in steps if s["start"].get("descriptor") is not None]
    # a repeated frame is not judged, but its face must still be the session's person: another's photo sent again
    # and again counts as a stranger each time it comes
    repeats = [f["descriptor"] for f in frames if f.get("problem") == "duplicate_frame" and f.get("descriptor")]
    distances = medoid_distances([frames[i]["descriptor"] for i in judged] + starts, also=repeats)
    distance = dict(zip(judged, distances))
    cut = stranger_cut(distances[:len(judged)], rule.same_person, rule.stranger_spread, rule.stranger_floor)
    others = {i for i in judged if distance[i] > cut}
    if len(others) + sum(d > cut for d in distances[len(judged):]) > rule.max_strangers:
        return {**outcome, "reason": "face_changed"}
    same = [i for i in judged if i not in others]
    moved = person_movement([frames[i]["signature"] for i in same], rule.still_residual, match=rule.picture_match)
    if steps and moved < rule.still_residual:  # a head turned on request moves as no still picture does
        moved = step_movement(steps)
    if moved < rule.still_residual:
        return {**outcome, "reason": "no_movement"}
    decision, live = live_decision([frames[i]["score"] for i in judged], threshold, rule.min_live_share)
    # the reference and audit images: frames of the session's one person that point the way the decision went
    carried = [i for i in same if (frames[i]["score"] >= threshold) == (decision == "real")] or same
    # the reference image: the frame most like the session's one person, so another's face rarely gives it
    return {**outcome, "decision": decision, "live_frames": int(live), "carried": carried,
            "reference": min(carried, key=lambda i: distance[i])}


def person_movement(signatures, still_residual=STILL_RESIDUAL, min_pictures=MIN_PICTURES, match=PICTURE_MATCH):
    """The `movement` of one person's faces (`signatures`), 0 when they show fewer than `min_pictures` distinct
    pictures. Strangers are left out first: another's live frames among a photo's copies must not move it."""
    if len(distinct_pictures(signatures, still_residual, match)) < min_pictures:
        return 0.0
    return movement(signatures)


def step_movement(steps):
    """The median `residual` between the face each challenge step started from and the face that met it."""
    pairs = [residual(patch_of(s["start"]["signature"]), patch_of(s["peak"])) for s in steps]
    return float(np.median(pairs)) if pairs else 0.0


def live_decision(scores, threshold, min_live_share):
    """(real or fake, how many live): real when at least `min_live_share` of the judged frames are live alone."""
    live = sum(score >= threshold for score in scores)
    return ("real" if live >= math.ceil(min_live_share * len(scores) - 1e-9) else "fake"), int(live)


def decide_scores(frames, needed, threshold, rule=Rule()):
    """The rule on scores alone, for frames scored without the camera and identity checks (benchmarks/groups.py):
    `frames` are {faces, score, quality}; a frame is judged when it shows one face that passes the quality rules."""
    problems = ["no_face" if f["faces"] == 0 else "more_than_one_face" if f["faces"] > 1 else
                quality_problem(f["quality"], rule.min_face, rule.min_brightness, rule.min_sharpness) for f in frames]
    judged = [f["score"] for f, p in zip(frames, problems) if p is None]
    if len(frames) < needed:
        return {"decision": RETRY, "reason": "frames_missing"}
    if len(judged) < math.ceil(rule.min_judged * needed):
        return {"decision": RETRY, "reason": collections.Counter(p for p in problems if p).most_common(1)[0][0]}
    return {"decision": live_decision(judged, threshold, rule.min_live_share)[0], "reason": None}


REASONS_IN_WORDS = {  # what the capture page tells a person
    "no_face": "No face seen: look into the camera and try again",
    "more_than_one_face": "More than one face: only one person in front of the camera, please",
    "too_dark": "Too dark: face a light and try again",
    "too_blurred": "Too blurred: hold the camera still and try again",
    "duplicate_frame": "The camera sent the same picture again: try again",
    "face_changed": "The face changed during the check: one person only, please try again",
    "no_movement": "Look at the camera naturally, without a photo, and try again",
    "frames_missing": "Some frames were lost: try again",
    "missed_turn_left": "Turn your head to your left when the arrow shows: try again",
    "missed_turn_right": "Turn your head to your right when the arrow shows: try again",
    "missed_look_up": "Look up when the arrow shows: try again",
}

HINTS_IN_WORDS = {  # what the page shows while it waits for a frame that counts
    "no_face": "Put your face in the oval",
    "more_than_one_face": "Only one face, please",
    "centre_face": "Centre your face in the oval",
    "come_closer": "Come closer",
    "too_dark": "Too dark: face a light",
    "too_blurred": "Hold still",
    "turn_head": "Turn your head a little",
}
