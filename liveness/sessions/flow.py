"""A session's frames, one at a time: which count, which are judged, when the session decides, what the page hears.

The service's routes hand each scored frame here and answer what comes back; nothing here knows HTTP, the
scorers or the publish folder. Blocking (the store may be a Redis, the camera check aligns patches): the
service calls it off the event loop.
"""

from liveness.errors import ApiError
from liveness.sessions.camera import duplicate_of, min_interval, movement
from liveness.sessions.rule import HINTS_IN_WORDS, Rule, decide, frame_threshold
from liveness.sessions.views import SUCCEEDED, frame_summary, kept_frames, progress_view

STILL_EXTRA = 2  # a session whose face has not moved by its last frame takes up to this many times its frames


class SessionFlow:
    """The steps of a session over a SessionStore: admit a frame, count it or hint, decide."""

    def __init__(self, store, rule=Rule(), open_service=False, operating_point="secure"):
        self.store, self.rule, self.open_service = store, rule, open_service
        self.operating_point = operating_point

    def create(self, owner, frames, audit):
        """A new session (SessionStore.create) that may take up to STILL_EXTRA times its frames."""
        created = self.store.create(owner, frames, audit, limit=STILL_EXTRA * frames)
        return {**created, "frame_interval_ms": int(min_interval(frames) * 1000)}

    def admit(self, session, arrived):
        """Before the frame's body is read: 409 once decided or full, 429 sooner than a camera's pace."""
        if session["status"] == SUCCEEDED or session["frame_count"] >= session["limit"]:
            raise ApiError(409, "this session has decided already; create a new one")
        if session["last"] and arrived - session["last"] < min_interval(session["frames"]):
            raise ApiError(429, "frames come at a camera's pace: this one came too soon after the last",
                           {"Retry-After": "1"})

    def take(self, session_id, session, frame, data, arrived, model_threshold):
        """(the page's answer, the decided result or None, the kept images) for one scored frame: `frame` is
        {size, faces: [{box, score, quality}], checks: {brightness, signature, descriptor}}, `data` its JPEG;
        `model_threshold` the model's own, which the operating point starts from."""
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
                  "descriptor": frame["checks"]["descriptor"]}
        interval = min_interval(needed)
        count = self.store.add_frame(session_id, record, signature, data, interval, arrived)
        if count < needed:
            return progress_view(count, needed, problem if problem in HINTS_IN_WORDS else None, box, interval), \
                None, []
        records, images = self.store.frames(session_id)
        for counted, kept_signature in zip(records, self.store.signatures(session_id)):
            counted["signature"] = kept_signature
        judged = [r["signature"] for r in records if r["problem"] is None]
        if count < session["limit"] and movement(judged) < rule.still_residual:
            # the face has not moved beyond one still picture yet: a person is asked to, a photo cannot
            return progress_view(count, needed, "turn_head", box, interval), None, []
        result, kept = self.decide(session_id, session, records, images, model_threshold)
        return progress_view(count, needed, box=box, result=result, open_service=self.open_service), result, kept

    def decide(self, session_id, session, records, images, model_threshold):
        """(the stored result, [(index, image)] kept): decided at the operating point, stored with its kept images
        only, the frames dropped. If a frame that came at the same time decided first, its result and no images."""
        threshold = frame_threshold(self.operating_point, model_threshold)
        result = decide(records, session["frames"], threshold, self.rule)
        reference, audit = kept_frames(records, result, session["audit"])
        kept = sorted({reference, *audit} - {None})
        stored = {"decision": result["decision"], "reason": result["reason"], "judged": result["judged"],
                  "live_frames": result["live_frames"], "frame_count": len(records),
                  "frames": [frame_summary(r, with_scores=True) for r in records], "reference_frame": reference,
                  "audit_frames": audit, "kept": kept,
                  "operating_point": {"name": self.operating_point, "frame_threshold": threshold}}
        if not self.store.finish(session_id, session["owner"], stored, [(i, images[i]) for i in kept]):
            return (self.store.get(session_id) or {}).get("result") or stored, []
        return stored, [(i, images[i]) for i in kept]
