"""A session's frames, one at a time: which count, which are judged, when the session decides, what the page hears.

The service's routes hand each scored frame here and answer what comes back; nothing here knows HTTP, the
scorers or the publish folder. Blocking (the store may be a Redis, the camera check aligns patches): the
service calls it off the event loop.

A session counts its frames first (the passive check). A challenge session then asks for its head movements
(liveness.sessions.challenge), one at a time, and decides only once every step is met or one is missed; until
then the page learns nothing of the counted frames' verdict, so a missed step says nothing about the scores.
"""
import json

import numpy as np

from liveness.errors import ApiError
from liveness.sessions import challenge
from liveness.sessions.camera import duplicate_of, min_interval
from liveness.sessions.rule import HINTS_IN_WORDS, RETRY, Rule, decide, frame_threshold
from liveness.sessions.views import SUCCEEDED, frame_summary, kept_frames, progress_view

# A passive session whose face has not moved by its last frame takes up to this many times its frames, asking the
# person to turn their head a little: 40 frames of 10, 5 s at the page's pace, the longest we ask of a person. A
# product bound, not a fitted number: a still photo never moved in any of these lengths, and each more second let
# more of ../shared's still live people move (benchmarks/sessions.py, docs/accuracy.md)
STILL_EXTRA = 4
CHALLENGE_INTERVAL_S = 0.08  # during a challenge, frames come at most this often (the page sends about 8 a second)
COUNTED, CHALLENGE, CHALLENGE_START = "counted", "challenge", "challenge_start"  # what a frame's scoring needs


class SessionFlow:
    """The steps of a session over a SessionStore: admit a frame, count it or hint, ask the challenge, decide.
    `random_source` draws the challenges (the operating system's, `secrets`)."""

    def __init__(self, store, rule=Rule(), open_service=False, operating_point="secure",
                 challenge_rule=challenge.ChallengeRule(), random_source=None):
        self.store, self.rule, self.open_service = store, rule, open_service
        self.operating_point, self.challenge_rule = operating_point, challenge_rule
        self.random = random_source or challenge.SYSTEM_RANDOM

    def create(self, owner, frames, audit, with_challenge=True):
        """A new session (SessionStore.create): with a challenge of head movements, or passive (it then takes up
        to STILL_EXTRA times its frames while it waits for the face to move)."""
        state = challenge.new_state(self.random) if with_challenge else None
        created = self.store.create(owner, frames, audit, limit=frames if with_challenge else STILL_EXTRA * frames,
                                    challenge=state)
        return {**created, "frame_interval_ms": int(min_interval(frames) * 1000),
                "challenge": "head_movements" if with_challenge else "none"}

    @staticmethod
    def challenge_of(session):
        """The session's challenge state once its counted frames are in, else None."""
        if not session.get("challenge") or session["frame_count"] < session["frames"]:
            return None
        return json.loads(session["challenge"])

    def frame_kind(self, session, arrived):
        """What a frame arriving now needs scored: COUNTED (the anti-spoofing networks and identity), CHALLENGE
        (the face and its pose only) or CHALLENGE_START (those and its identity: the face a step starts from)."""
        state = self.challenge_of(session)
        if state is None:
            return COUNTED
        return CHALLENGE_START if challenge.wants_start(state, arrived) else CHALLENGE

    def admit(self, session, arrived):
        """Before the frame's body is read: 409 once decided or full, 429 sooner than a camera's pace."""
        if session["status"] == SUCCEEDED:
            raise ApiError(409, "this session has decided already; create a new one")
        state = self.challenge_of(session)
        if state is not None:
            if state["last"] is not None and arrived - state["last"] < CHALLENGE_INTERVAL_S:
                raise ApiError(429, "frames come at a camera's pace: this one came too soon after the last",
                               {"Retry-After": "1"})
            return
        if session["frame_count"] >= session["limit"]:
            raise ApiError(409, "this session has decided already; create a new one")
        if session["last"] and arrived - session["last"] < min_interval(session["frames"]):
            raise ApiError(429, "frames come at a camera's pace: this one came too soon after the last",
                           {"Retry-After": "1"})

    def take(self, session_id, session, frame, data, arrived, model_threshold):
        """(the page's answer, the decided result or None, the kept images) for one scored frame: `frame` is
        {size, faces: [{box, score, quality}], checks: {brightness, signature, descriptor, pose}}, `data` its
        JPEG; `model_threshold` the model's own, which the operating point starts from."""
        if self.challenge_of(session) is not None:
            return self.take_challenge(session_id, session, frame, arrived, model_threshold)
        faces, needed, rule = frame["faces"], session["frames"], self.rule
        box = faces[0]["box"] if len(faces) == 1 else None
        hint = rule.hint(faces, frame["size"])
        if hint == "no_face" and frame["checks"]["brightness"] < rule.min_brightness:
            hint = "too_dark"  # no face found in a dark room: light, not the oval, is what to change
        if hint is not None:  # not counted: the person is guided until one face is in the oval, large enough
            return progress_view(session["frame_count"], needed, hint, box), None, []
        face, signature = faces[0], frame["checks"]["signature"]
        problem = rule.problem(face["quality"])
        if problem is None and duplicate_of(signature, self.store.signatures(session_id)):
            problem = "duplicate_frame"
        record = {"score": face["score"], "box": face["box"], "quality": face["quality"], "problem": problem,
                  "descriptor": frame["checks"]["descriptor"], "pose": frame["checks"].get("pose")}
        interval = min_interval(needed)
        count = self.store.add_frame(session_id, record, signature, data, interval, arrived)
        if count < needed:
            return progress_view(count, needed, problem if problem in HINTS_IN_WORDS else None, box, interval), \
                None, []
        if session.get("challenge"):
            return self.begin_challenge(session_id, session, arrived, box), None, []
        records, images = self.counted(session_id)
        judged = [r["signature"] for r in records if r["problem"] is None]
        if count < session["limit"] and rule.still(judged):
            # the face has not moved beyond one still picture yet: a person is asked to, a photo cannot
            return progress_view(count, needed, "turn_head", box, interval), None, []
        result, kept = self.decide(session_id, session, records, images, model_threshold)
        return progress_view(count, needed, box=box, result=result, open_service=self.open_service), result, kept

    def counted(self, session_id):
        records, images = self.store.frames(session_id)
        for record, signature in zip(records, self.store.signatures(session_id)):
            record["signature"] = signature
        return records, images

    def begin_challenge(self, session_id, session, arrived, box):
        """The counted frames are in: the person's neutral pose is theirs, the first step comes after a pause."""
        records, _ = self.store.frames(session_id)
        poses = [r["pose"] for r in records if r.get("pose") is not None]
        neutral = np.median(np.asarray(poses, np.float64), axis=0).tolist() if poses else [0.0, 0.0]
        read = session["challenge"]
        state = challenge.begin(json.loads(read), neutral, arrived, self.challenge_rule, self.random)
        if not self.store.advance_challenge(session_id, read, state):
            raise ApiError(409, "another frame of this session came at the same time; send one at a time")
        needed = session["frames"]
        return progress_view(needed, needed, box=box, wait_s=CHALLENGE_INTERVAL_S,
                             challenge=challenge.page_view(state, arrived))

    def take_challenge(self, session_id, session, frame, arrived, model_threshold):
        """One frame during the challenge: its pose moves the revealed step on; the last step met decides."""
        read, faces, needed = session["challenge"], frame["faces"], session["frames"]
        box = faces[0]["box"] if len(faces) == 1 else None
        pose = frame["checks"].get("pose") if box is not None else None
        state, happened = challenge.observe(json.loads(read), arrived, pose, frame["checks"], self.challenge_rule,
                                            self.random)
        if happened in ("missed", "complete"):
            records, images = self.counted(session_id)
            if happened == "missed":
                step = state["steps"][state["index"]]
                result, kept = self.finish(session_id, session, records, {
                    "decision": RETRY, "reason": f"missed_{step}", "judged": None, "live_frames": None,
                    "carried": []}, images, state, None)
            else:
                result, kept = self.decide(session_id, session, records, images, model_threshold, state)
            return progress_view(needed, needed, box=box, result=result, open_service=self.open_service), \
                result, kept
        if not self.store.advance_challenge(session_id, read, state):
            raise ApiError(409, "another frame of this session came at the same time; send one at a time")
        return progress_view(needed, needed, box=box, wait_s=CHALLENGE_INTERVAL_S,
                             challenge=challenge.page_view(state, arrived)), None, []

    def decide(self, session_id, session, records, images, model_threshold, state=None):
        """(the stored result, [(index, image)] kept): decided at the operating point (and, for a challenge
        session, with its met steps), stored with its kept images only, the frames dropped."""
        threshold = frame_threshold(self.operating_point, model_threshold)
        result = decide(records, session["frames"], threshold, self.rule, steps=(state or {}).get("met"))
        return self.finish(session_id, session, records, result, images, state, threshold)

    def finish(self, session_id, session, records, result, images, state, threshold):
        """Store `result` with its kept images only, the frames dropped. If a frame that came at the same time
        decided first, its result and no images."""
        reference, audit = kept_frames(records, result, session["audit"])
        kept = sorted({reference, *audit} - {None})
        stored = {"decision": result["decision"], "reason": result["reason"], "judged": result["judged"],
                  "live_frames": result["live_frames"], "frame_count": len(records),
                  "frames": [frame_summary(r, with_scores=True) for r in records], "reference_frame": reference,
                  "audit_frames": audit, "kept": kept,
                  "operating_point": {"name": self.operating_point, "frame_threshold": threshold},
                  "challenge": challenge.summary(state) if state is not None else None}
        if not self.store.finish(session_id, session["owner"], stored, [(i, images[i]) for i in kept]):
            return (self.store.get(session_id) or {}).get("result") or stored, []
        return stored, [(i, images[i]) for i in kept]
