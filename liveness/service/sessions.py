"""Liveness checks as sessions: a person looks into the camera for a second or two, the site gets one answer.

The integrator's backend creates a session (POST /v1/sessions, with its API key) and hands its id and
token to a page; the page sends frames (POST /v1/sessions/{id}/frames, with the session token alone); once
the session has its frames it decides itself, and the backend reads the result (GET /v1/sessions/{id}).

A session is kept where --state says: this process's memory, or a Redis that every worker and replica
shares, so a session's frames may reach different replicas. It expires (default 3 minutes); a key holds a
bounded number of open sessions; a frame past the decision gets 409.

The decision (`decide`) turns the frames' scores into `real`, `fake` or `retry`: frames where the camera saw
no face, several faces, or a face too small, too dark or too blurred are not judged; if too few frames are
left the session asks the person to try again, with the commonest reason. The rule and its numbers were chosen
by leave-one-person-out on ../shared (benchmarks/sessions.py; docs/accuracy.md).
"""
import base64
import collections
import dataclasses
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import uuid

import numpy as np

from liveness.errors import ApiError
from liveness.faces.quality import quality_problem
from liveness.service.shared_state import KEY_PREFIX, StateUnavailable, is_shared, redis_client

CREATED, IN_PROGRESS, SUCCEEDED, EXPIRED = "CREATED", "IN_PROGRESS", "SUCCEEDED", "EXPIRED"
RETRY = "retry"


@dataclasses.dataclass(frozen=True)
class Rule:
    """From frame scores to one decision; the defaults are the choice of benchmarks/sessions.py."""

    # chosen among 72 rules by leave-one-person-out on ../shared (benchmarks/sessions.py): the mean logit, and no
    # check of size, brightness or sharpness helped there; frames with no face or several are never judged
    aggregate: str = "mean_logit"  # mean, median, mean_logit or trimmed_mean of the judged frames' scores
    min_face: int = 0  # pixels, the face box's shorter side (0: not checked)
    min_brightness: float = 0.0  # mean grey level of the face, 0-255 (0: not checked)
    min_sharpness: float = 0.0  # variance of the Laplacian of the face at 96x96 (0: not checked)
    min_judged: float = 0.5  # the share of a session's frames that must be judged, else retry

    def reason(self, frame):
        """Why a frame cannot be judged, or None."""
        if frame["faces"] == 0:
            return "no_face"
        if frame["faces"] > 1:
            return "more_than_one_face"
        return quality_problem(frame["quality"], self.min_face, self.min_brightness, self.min_sharpness)


def aggregate(scores, how):
    scores = np.asarray(scores, "float64")
    if how == "mean":
        return float(scores.mean())
    if how == "median":
        return float(np.median(scores))
    if how == "mean_logit":
        p = np.clip(scores, 1e-6, 1 - 1e-6)
        return float(1 / (1 + np.exp(-np.log(p / (1 - p)).mean())))
    if how == "trimmed_mean":  # the highest and the lowest fifth left out
        cut = len(scores) // 5
        return float(np.sort(scores)[cut:len(scores) - cut].mean())
    raise ValueError(f"unknown aggregate {how}")


def decide(frames, needed, threshold, rule=Rule()):
    """{decision, confidence, score, reason, judged}: `frames` are {faces, score, quality} records."""
    reasons = [rule.reason(f) for f in frames]
    judged = [f["score"] for f, r in zip(frames, reasons) if r is None]
    if len(frames) < needed:
        return {"decision": RETRY, "confidence": None, "score": None, "reason": "frames_missing", "judged": len(judged)}
    if len(judged) < math.ceil(rule.min_judged * needed):
        commonest = collections.Counter(r for r in reasons if r is not None).most_common(1)[0][0]
        return {"decision": RETRY, "confidence": None, "score": None, "reason": commonest, "judged": len(judged)}
    score = aggregate(judged, rule.aggregate)
    decision = "real" if score >= threshold else "fake"
    # how far the score is from the threshold, as a share of the way to 0 or 1
    confidence = (score - threshold) / (1 - threshold) if decision == "real" else (threshold - score) / threshold
    return {"decision": decision, "confidence": round(float(min(1.0, max(0.0, confidence))), 4),
            "score": round(score, 6), "reason": None, "judged": len(judged)}


REASONS_IN_WORDS = {  # what the capture page tells a person
    "no_face": "No face seen: look into the camera and try again",
    "more_than_one_face": "More than one face: only one person in front of the camera, please",
    "face_too_small": "Face too small: come closer and try again",
    "too_dark": "Too dark: face a light and try again",
    "too_blurred": "Too blurred: hold still and try again",
    "frames_missing": "Some frames were lost: try again",
}


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    ttl: float = 180.0  # seconds a session lives
    max_open: int = 20  # open sessions a key may hold
    default_frames: int = 10
    max_frames: int = 30
    default_audit: int = 3


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Sessions in this process's memory, or in the shared Redis of --state."""

    def __init__(self, url, settings=SessionSettings()):
        self.settings, self.shared = settings, is_shared(url)
        self.lock, self.sessions = threading.Lock(), {}
        if self.shared:
            import redis

            self.errors = (redis.RedisError, OSError)
            self.client = redis_client(url)
            # append one frame unless the session is missing, decided or full: -1 missing, -2 decided, -3 full
            self.append_script = self.client.register_script(
                "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
                "if redis.call('HGET', KEYS[1], 'status') == 'SUCCEEDED' then return -2 end "
                "if redis.call('LLEN', KEYS[2]) >= tonumber(redis.call('HGET', KEYS[1], 'frames')) then return -3 end "
                "local n = redis.call('RPUSH', KEYS[2], ARGV[1]) "
                "redis.call('RPUSH', KEYS[3], ARGV[2]) "
                "redis.call('HSET', KEYS[1], 'status', 'IN_PROGRESS') "
                "local ttl = redis.call('PTTL', KEYS[1]) "
                "redis.call('PEXPIRE', KEYS[2], ttl) redis.call('PEXPIRE', KEYS[3], ttl) "
                "return n")

    def _keys(self, session_id):
        base = f"{KEY_PREFIX}:session:{session_id}"
        return base, base + ":frames", base + ":images"

    def _call(self, work):
        if not self.shared:
            with self.lock:
                return work()
        try:
            return work()
        except self.errors as error:
            raise StateUnavailable(str(error)) from None

    def create(self, owner, frames, audit):
        """A new session's {id, token, expires_at} (the token is shown once; only its digest is kept)."""
        session_id, token = str(uuid.uuid4()), secrets.token_urlsafe(24)
        now = time.time()
        expires = now + self.settings.ttl
        record = {"owner": owner, "token": token_digest(token), "frames": frames, "audit": audit, "created": now,
                  "expires": expires, "status": CREATED}

        def work():
            if self.open_count(owner, now) >= self.settings.max_open:
                raise ApiError(429, f"this key holds {self.settings.max_open} open sessions already; let one finish "
                                    "or expire")
            if not self.shared:
                self.sessions[session_id] = {**record, "frames_seen": [], "images": [], "result": None}
                return
            key, _, _ = self._keys(session_id)
            owned = f"{KEY_PREFIX}:sessions-of:{owner}"
            pipe = self.client.pipeline()
            pipe.hset(key, mapping={k: str(v) for k, v in record.items()})
            pipe.pexpire(key, int(self.settings.ttl * 1000))
            pipe.zadd(owned, {session_id: expires})
            pipe.expire(owned, int(self.settings.ttl) + 60)
            pipe.execute()

        self._call(work)
        return {"id": session_id, "token": token, "expires_at": expires}

    def open_count(self, owner, now):
        """Sessions of `owner` not yet decided nor expired (called with the lock held in memory)."""
        if not self.shared:
            return sum(1 for s in self.sessions.values()
                       if s["owner"] == owner and s["expires"] > now and s["status"] != SUCCEEDED)
        owned = f"{KEY_PREFIX}:sessions-of:{owner}"
        self.client.zremrangebyscore(owned, "-inf", now)
        return self.client.zcard(owned)

    def get(self, session_id, frames=True):
        """The session's record, or None if unknown or expired. With `frames`, its frames and their images too
        (`frames_seen`, `images`); without, only how many it has (`frame_count`): what a frame's check needs,
        without reading every earlier image back from the store."""
        def work():
            if not self.shared:
                self._forget_expired()
                session = self.sessions.get(session_id)
                if session is None:
                    return None
                return {**session, "frame_count": len(session["frames_seen"]),
                        "frames_seen": list(session["frames_seen"]), "images": list(session["images"])}
            key, frames_key, images_key = self._keys(session_id)
            pipe = self.client.pipeline()
            pipe.hgetall(key)
            pipe.llen(frames_key)
            if frames:
                pipe.lrange(frames_key, 0, -1)
                pipe.lrange(images_key, 0, -1)
            record, count, *lists = pipe.execute()
            stored_frames, images = lists if frames else ([], [])
            if not record:
                return None
            session = {k.decode(): v.decode() for k, v in record.items()}
            for name in ("frames", "audit"):
                session[name] = int(session[name])
            for name in ("created", "expires"):
                session[name] = float(session[name])
            session["result"] = json.loads(session["result"]) if session.get("result") else None
            session["frame_count"] = int(count)
            session["frames_seen"] = [json.loads(f) for f in stored_frames]
            session["images"] = list(images)
            return session

        return self._call(work)

    def _forget_expired(self):
        now = time.time()
        for session_id in [i for i, s in self.sessions.items() if s["expires"] <= now]:
            del self.sessions[session_id]

    def check_token(self, session, token):
        if not token or not hmac.compare_digest(session["token"], token_digest(token)):
            raise ApiError(401, "a valid session token is needed: Authorization: Bearer <session token>",
                           {"WWW-Authenticate": "Bearer"})

    def add_frame(self, session_id, frame, image):
        """Append one judged frame and its image; returns how many frames the session now has."""
        def work():
            if not self.shared:
                self._forget_expired()
                session = self.sessions.get(session_id)
                if session is None:
                    return -1
                if session["status"] == SUCCEEDED:
                    return -2
                if len(session["frames_seen"]) >= session["frames"]:
                    return -3
                session["frames_seen"].append(frame)
                session["images"].append(image)
                session["status"] = IN_PROGRESS
                return len(session["frames_seen"])
            return int(self.append_script(keys=list(self._keys(session_id)), args=[json.dumps(frame), image]))

        count = self._call(work)
        if count == -1:
            raise ApiError(404, "no such session (unknown, or expired)")
        if count in (-2, -3):
            raise ApiError(409, "this session has decided already; create a new one")
        return count

    def finish(self, session_id, result):
        """Store the decision; the first to store it wins (a session decides once)."""
        def work():
            if not self.shared:
                session = self.sessions.get(session_id)
                if session is not None and session["status"] != SUCCEEDED:
                    session["status"], session["result"] = SUCCEEDED, result
                return
            key, _, _ = self._keys(session_id)
            if self.client.hsetnx(key, "result", json.dumps(result)):
                self.client.hset(key, "status", SUCCEEDED)
                session = self.client.hget(key, "owner")
                if session is not None:
                    self.client.zrem(f"{KEY_PREFIX}:sessions-of:{session.decode()}", session_id)

        self._call(work)


def image_entry(image_bytes, frame, index):
    """An audit or reference image as the result gives it: the frame's JPEG (base64) and its face box."""
    return {"frame": index, "image_base64": base64.b64encode(image_bytes).decode(), "box": frame.get("box"),
            "score": frame.get("score")}


def result_view(session_id, session, now=None):
    """The JSON the backend reads: status, decision, confidence, reason, frames, reference and audit images."""
    now = now or time.time()
    status = session["status"]
    if status != SUCCEEDED and session["expires"] <= now:
        status = EXPIRED
    result = session["result"] or {}
    frames = session["frames_seen"]
    view = {"id": session_id, "status": status, "frames_needed": session["frames"],
            "frames_received": len(frames), "expires_at": session["expires"],
            "decision": result.get("decision"), "confidence": result.get("confidence"), "score": result.get("score"),
            "reason": result.get("reason"),
            "frames": [{"faces": f["faces"], "score": f.get("score"), "box": f.get("box"), "quality": f.get("quality"),
                        "problem": f.get("problem")} for f in frames]}
    if status == SUCCEEDED and frames:
        judged = [i for i, f in enumerate(frames) if f.get("problem") is None and f.get("score") is not None]
        candidates = judged or list(range(len(frames)))
        best = max(candidates, key=lambda i: (frames[i].get("quality") or {}).get("sharpness", 0.0))
        view["reference_image"] = image_entry(session["images"][best], frames[best], best)
        count = min(session["audit"], len(frames))
        picks = sorted({int(round(i * (len(frames) - 1) / max(1, count - 1))) for i in range(count)}) if count else []
        view["audit_images"] = [image_entry(session["images"][i], frames[i], i) for i in picks]
    return view
