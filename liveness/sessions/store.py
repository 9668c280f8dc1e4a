"""Where sessions live, with bounds an anonymous sender cannot push past.

The integrator's backend creates a session (POST /v1/sessions, with its API key) and hands its id and token to
a page; the page sends frames (POST /v1/sessions/{id}/frames, with the token alone); once the session has its
frames it decides, and the backend reads the result (GET /v1/sessions/{id}).

A session is kept in this process's memory, or in a Redis that every worker and replica shares (given as a
redis-py client), so a session's frames may reach different replicas. Bounds, each checked in one atomic step:
open sessions per owner (an API key, or without keys a client address) and in all; the bytes of frames held per
owner and in all; one counted frame per `min_interval` of arrival time. When a session decides, its frames are
dropped but for the reference and audit images, in the same step that stores the decision, and only if the
session still exists: a session that expired meanwhile stays gone (no key is ever left without an expiry).
"""
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid

from liveness.errors import ApiError
from liveness.sessions.views import CREATED, IN_PROGRESS, SUCCEEDED

KEY_PREFIX = "liveness"


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    ttl: float = 180.0  # seconds a session lives
    max_open: int = 20  # open sessions an owner (a key, or a client address without keys) may hold
    max_total: int = 200  # open sessions of all owners together
    owner_bytes: float = 40e6  # frame bytes held for one owner's sessions
    total_bytes: float = 200e6  # frame bytes held for all sessions
    default_frames: int = 10
    max_frames: int = 30
    default_audit: int = 3
    max_audit: int = 5


class Unavailable(Exception):
    """The shared store did not answer; the service answers 503."""


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


# the bookkeeping every session shares lives as long as the longest-lived session that wrote to it, and a minute
KEEP = """
local function keep(key, ms)
  if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ms) else redis.call('PEXPIRE', key, ms, 'GT') end
end
"""

# create: -1 the owner holds max_open, -2 the service holds max_total
CREATE = KEEP + """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return -2 end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 60000)
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
keep(KEYS[3], tonumber(ARGV[2]) + 60000)
return 1
"""

# append one counted frame: -1 missing, -2 decided, -3 full, -4 too soon, -5 owner's bytes, -6 all bytes
APPEND = KEEP + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local s = redis.call('HMGET', KEYS[1], 'status', 'limit', 'last', 'owner', 'expires')
if s[1] == 'SUCCEEDED' then return -2 end
if redis.call('LLEN', KEYS[2]) >= tonumber(s[2]) then return -3 end
local now = tonumber(ARGV[1])
if s[3] and now - tonumber(s[3]) < tonumber(ARGV[5]) then return -4 end
local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[6], id) redis.call('HDEL', KEYS[7], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local size = tonumber(ARGV[8])
local total, mine = size, size
local held = redis.call('HGETALL', KEYS[6])
for i = 1, #held, 2 do
  local b = tonumber(held[i + 1])
  total = total + b
  if redis.call('HGET', KEYS[7], held[i]) == s[4] then mine = mine + b end
end
if mine > tonumber(ARGV[6]) then return -5 end
if total > tonumber(ARGV[7]) then return -6 end
local n = redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'IN_PROGRESS', 'last', ARGV[1])
redis.call('HINCRBY', KEYS[6], ARGV[9], size)
redis.call('HSET', KEYS[7], ARGV[9], s[4])
redis.call('ZADD', KEYS[5], s[5], ARGV[9])
local ttl = redis.call('PTTL', KEYS[1])
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
for i = 5, 7 do keep(KEYS[i], ttl + 60000) end
return n
"""

# store the decision and keep only the kept images: 0 missing (expired meanwhile), -1 decided already
FINISH = KEEP + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return -1 end
redis.call('HSET', KEYS[1], 'result', ARGV[1], 'status', 'SUCCEEDED')
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 4, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
if #ARGV >= 4 then redis.call('PEXPIRE', KEYS[5], redis.call('PTTL', KEYS[1])) end
redis.call('ZREM', KEYS[6], ARGV[3])
redis.call('ZREM', KEYS[7], ARGV[3])
redis.call('HSET', KEYS[8], ARGV[3], ARGV[2])
keep(KEYS[8], redis.call('PTTL', KEYS[1]) + 60000)
return 1
"""

# replace the challenge's state only if it is still the one this frame read: 1 done, 0 another frame got there
# first, -1 missing, -2 decided
ADVANCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'status') == 'SUCCEEDED' then return -2 end
if redis.call('HGET', KEYS[1], 'challenge') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'challenge', ARGV[2])
return 1
"""

REFUSALS = {
    -1: (404, "no such session (unknown, or expired)"),
    -2: (409, "this session has decided already; create a new one"),
    -3: (409, "this session has decided already; create a new one"),
    -4: (429, "frames come at a camera's pace: this one came too soon after the last"),
    -5: (429, "this owner's sessions hold as many frame bytes as they may; let one finish or expire"),
    -6: (503, "the service holds as many session frames as it may; try again shortly"),
}


class SessionStore:
    """Sessions in this process's memory, or in the Redis of `client` (a redis-py client; `errors` are the
    exceptions that mean it did not answer)."""

    def __init__(self, settings=SessionSettings(), client=None, errors=()):
        self.settings, self.client, self.errors = settings, client, errors
        self.shared = client is not None
        self.lock, self.sessions = threading.Lock(), {}
        if self.shared:
            self.create_script = client.register_script(CREATE)
            self.append_script = client.register_script(APPEND)
            self.finish_script = client.register_script(FINISH)
            self.advance_script = client.register_script(ADVANCE)

    @staticmethod
    def _keys(session_id):
        base = f"{KEY_PREFIX}:session:{session_id}"
        return {"record": base, "frames": base + ":frames", "images": base + ":images",
                "signatures": base + ":signatures", "kept": base + ":kept",
                "open": f"{KEY_PREFIX}:sessions-open", "held": f"{KEY_PREFIX}:sessions-held",
                "held_bytes": f"{KEY_PREFIX}:sessions-held-bytes", "held_owner": f"{KEY_PREFIX}:sessions-held-owner"}

    @staticmethod
    def _owned(owner):
        return f"{KEY_PREFIX}:sessions-of:{owner}"

    def _call(self, work):
        if not self.shared:
            with self.lock:
                self._forget_expired()
                return work()
        try:
            return work()
        except self.errors as error:
            raise Unavailable(str(error)) from None

    def _forget_expired(self):
        now = time.time()
        for session_id in [i for i, s in self.sessions.items() if s["expires"] <= now]:
            del self.sessions[session_id]

    def create(self, owner, frames, audit, limit=None, challenge=None):
        """A new session's {id, token, expires_at} (the token is shown once; only its digest is kept): it decides
        on `frames` counted frames, and takes at most `limit` (default `frames`) while it waits for movement.
        `challenge` is the state of its challenge (liveness.sessions.challenge), None for a passive session."""
        session_id, token, now = str(uuid.uuid4()), secrets.token_urlsafe(24), time.time()
        expires, limits = now + self.settings.ttl, self.settings
        record = {"owner": owner, "token": token_digest(token), "frames": frames, "limit": limit or frames,
                  "audit": audit, "created": now, "expires": expires, "status": CREATED,
                  "challenge": json.dumps(challenge) if challenge is not None else ""}

        def work():
            if not self.shared:
                live = [s for s in self.sessions.values() if s["status"] != SUCCEEDED]
                if sum(s["owner"] == owner for s in live) >= limits.max_open:
                    return -1
                if len(live) >= limits.max_total:
                    return -2
                self.sessions[session_id] = {**record, "frame_records": [], "images": [], "signatures": [],
                                             "kept": [], "result": None, "last": None}
                return 1
            keys = self._keys(session_id)
            fields = [x for k, v in record.items() for x in (k, repr(v) if isinstance(v, float) else str(v))]
            return self.create_script(keys=[keys["record"], self._owned(owner), keys["open"]],
                                      args=[now, int(limits.ttl * 1000), limits.max_open, limits.max_total,
                                            session_id, repr(expires), *fields])

        made = self._call(work)
        if made == -1:
            who = "this key" if not owner.startswith("address:") else "this address"
            raise ApiError(429, f"{who} holds {limits.max_open} open sessions already; let one finish or expire",
                           {"Retry-After": "5"})
        if made == -2:
            raise ApiError(503, f"the service holds {limits.max_total} open sessions already; try again shortly",
                           {"Retry-After": "5"})
        return {"id": session_id, "token": token, "expires_at": expires}

    def get(self, session_id):
        """The session's record (no frames: `frame_count` says how many), or None if unknown or expired."""
        def work():
            if not self.shared:
                session = self.sessions.get(session_id)
                if session is None:
                    return None
                return {k: v for k, v in session.items() if k not in ("frame_records", "images", "signatures",
                                                                      "kept")} | {
                    "frame_count": len(session["frame_records"]) if session["result"] is None
                    else session["result"]["frame_count"]}
            keys = self._keys(session_id)
            pipe = self.client.pipeline()
            pipe.hgetall(keys["record"])
            pipe.llen(keys["frames"])
            record, count = pipe.execute()
            if not record or b"frames" not in record or b"expires" not in record:
                return None
            session = {k.decode(): v.decode() for k, v in record.items()}
            for name in ("frames", "limit", "audit"):
                session[name] = int(session[name])
            for name in ("created", "expires"):
                session[name] = float(session[name])
            session["last"] = float(session["last"]) if session.get("last") else None
            session["result"] = json.loads(session["result"]) if session.get("result") else None
            session["frame_count"] = session["result"]["frame_count"] if session["result"] else int(count)
            return session

        return self._call(work)

    def advance_challenge(self, session_id, read, state):
        """Replace the challenge's state with `state` if it is still `read` (the JSON the frame's session record
        held): True if so, False if a frame that came at the same time advanced it first."""
        def work():
            if not self.shared:
                session = self.sessions.get(session_id)
                if session is None or session["status"] == SUCCEEDED:
                    return -1 if session is None else -2
                if session["challenge"] != read:
                    return 0
                session["challenge"] = json.dumps(state)
                return 1
            return int(self.advance_script(keys=[self._keys(session_id)["record"]], args=[read, json.dumps(state)]))

        done = self._call(work)
        if done < 0:
            status, detail = REFUSALS[-1 if done == -1 else -2]
            raise ApiError(status, detail)
        return done == 1

    def check_token(self, session, token):
        if not token or not hmac.compare_digest(session["token"], token_digest(token)):
            raise ApiError(401, "a valid session token is needed: Authorization: Bearer <session token>",
                           {"WWW-Authenticate": "Bearer"})

    def signatures(self, session_id):
        """The camera signatures of the session's counted frames, in order."""
        def work():
            if not self.shared:
                return list(self.sessions.get(session_id, {}).get("signatures", []))
            return [json.loads(s) for s in self.client.lrange(self._keys(session_id)["signatures"], 0, -1)]

        return self._call(work)

    def frames(self, session_id):
        """([frame records], [images]) of the session's counted frames (read once, to decide)."""
        def work():
            if not self.shared:
                session = self.sessions.get(session_id, {})
                return list(session.get("frame_records", [])), list(session.get("images", []))
            keys = self._keys(session_id)
            pipe = self.client.pipeline()
            pipe.lrange(keys["frames"], 0, -1)
            pipe.lrange(keys["images"], 0, -1)
            records, images = pipe.execute()
            return [json.loads(r) for r in records], list(images)

        return self._call(work)

    def kept(self, session_id, indices):
        """[(frame index, image bytes)] of a decided session's kept images; `indices` as finish kept them."""
        def work():
            if not self.shared:
                return list(self.sessions.get(session_id, {}).get("kept", []))
            return list(zip(indices, self.client.lrange(self._keys(session_id)["kept"], 0, -1)))

        return self._call(work)

    def held_bytes(self, owner, now):
        """(bytes held for `owner`, bytes held in all) by sessions not expired: frames, then kept images."""
        sessions = [s for s in self.sessions.values() if s["expires"] > now]
        size = {id(s): sum(map(len, s["images"])) + sum(len(d) for _, d in s["kept"]) for s in sessions}
        return sum(size[id(s)] for s in sessions if s["owner"] == owner), sum(size.values())

    def add_frame(self, session_id, record, signature, image, min_interval, arrived):
        """Append one counted frame (its record, camera signature and JPEG) that arrived at `arrived` (seconds
        since the epoch); returns how many the session has. Refused with 404, 409, 429 (sooner than `min_interval`
        after the last counted frame arrived; the owner's bytes) or 503 (everyone's bytes)."""
        now, limits = arrived, self.settings

        def work():
            if not self.shared:
                session = self.sessions.get(session_id)
                if session is None or session["status"] == SUCCEEDED:
                    return -1 if session is None else -2
                if len(session["frame_records"]) >= session["limit"]:
                    return -3
                if session["last"] is not None and now - session["last"] < min_interval:
                    return -4
                mine, total = self.held_bytes(session["owner"], now)
                if mine + len(image) > limits.owner_bytes:
                    return -5
                if total + len(image) > limits.total_bytes:
                    return -6
                session["frame_records"].append(record)
                session["signatures"].append(signature)
                session["images"].append(image)
                session["status"], session["last"] = IN_PROGRESS, now
                return len(session["frame_records"])
            keys = self._keys(session_id)
            return int(self.append_script(
                keys=[keys[k] for k in ("record", "frames", "images", "signatures", "held", "held_bytes",
                                        "held_owner")],
                args=[repr(now), json.dumps(record), image, json.dumps(signature), min_interval,
                      int(limits.owner_bytes), int(limits.total_bytes), len(image), session_id]))

        count = self._call(work)
        if count < 0:
            status, detail = REFUSALS[count]
            raise ApiError(status, detail, {"Retry-After": "1"} if status in (429, 503) else None)
        return count

    def finish(self, session_id, owner, result, kept):
        """Store the decision (`result`), drop the frames and keep `kept` ([(index, image bytes)]), in one step
        and only if the session still exists. True if this call decided it; 404 if the session is gone."""
        def work():
            if not self.shared:
                session = self.sessions.get(session_id)
                if session is None:
                    return 0
                if session["result"] is not None:
                    return -1
                session.update(status=SUCCEEDED, result=result, kept=list(kept), frame_records=[], images=[],
                               signatures=[])
                return 1
            keys = self._keys(session_id)
            return int(self.finish_script(
                keys=[keys["record"], keys["frames"], keys["images"], keys["signatures"], keys["kept"],
                      self._owned(owner), keys["open"], keys["held_bytes"]],
                args=[json.dumps(result), sum(len(d) for _, d in kept), session_id, *[d for _, d in kept]]))

        done = self._call(work)
        if done == 0:
            raise ApiError(404, "no such session (unknown, or expired)")
        return done == 1
