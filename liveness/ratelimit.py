"""Per-client limits on the service: a token bucket per API key, and a cap on work in progress.

Both are checked before a request's body is read, so a refused request costs
no decoding and no model time.
"""
import math
import re
import threading
import time

from liveness.errors import LivenessError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*$")


def parse_rate(text):
    """Requests per second from 'N/s' or 'N/min'."""
    match = _RATE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise LivenessError(f"--rate-limit takes N/s or N/min with N above 0, got {text!r}")
    value = float(match.group(1))
    return value if match.group(2).startswith("s") else value / 60.0


class RateLimiter:
    """A token bucket per client: `rate` requests a second on average, bursts of up to `burst`."""

    def __init__(self, rate, burst=None, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, float(burst or max(1.0, rate)), clock
        self.buckets = {}  # client -> (tokens, when)
        self.lock = threading.Lock()

    def allow(self, client):
        """(True, 0) if `client` may go on now, else (False, whole seconds until it may)."""
        with self.lock:
            now = self.clock()
            tokens, then = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self.buckets[client] = (tokens - 1.0, now)
                return True, 0
            self.buckets[client] = (tokens, now)
            return False, max(1, math.ceil((1.0 - tokens) / self.rate))


class PendingLimit:
    """At most `limit` requests in progress; past it the caller answers 503 rather than queue without end."""

    def __init__(self, limit):
        self.limit, self.count = limit, 0
        self.lock = threading.Lock()

    def enter(self):
        with self.lock:
            if self.limit and self.count >= self.limit:
                return False
            self.count += 1
            return True

    def leave(self):
        with self.lock:
            self.count -= 1

    def full(self):
        """Whether enter() would refuse now; nothing is taken."""
        return bool(self.limit) and self.count >= self.limit
