"""Per-client limits on the service: a rate per API key, counted by `limits`, and a cap on work in progress.

The rate is counted where --state says (liveness.service.shared_state): in this process, or in a Redis that
every worker and replica shares, so that the limit holds for the whole service. Both are checked
before a request's body is read, so a refused request costs no decoding and no model time.
"""
import fractions
import math
import re
import threading
import time

from liveness.errors import LivenessError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*$")


def parse_rate(text):
    """The `limits` item for 'N/s' or 'N/min'; a fractional N becomes whole requests over several seconds."""
    from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

    match = _RATE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise LivenessError(f"--rate-limit takes N/s or N/min with N above 0, got {text!r}")
    amount = fractions.Fraction(match.group(1)).limit_denominator(3600)  # 0.5/s: 1 request per 2 s
    item = RateLimitItemPerSecond if match.group(2).startswith("s") else RateLimitItemPerMinute
    return item(amount.numerator, amount.denominator)


class RateLimit:
    """At most N requests per client in any window of the rate's length (a moving window, so no edge bursts)."""

    def __init__(self, text, state):
        from limits.aio.strategies import MovingWindowRateLimiter

        self.text, self.item, self.state = text, parse_rate(text), state
        self.limiter = MovingWindowRateLimiter(state.storage)

    async def allow(self, client):
        """(True, 0) if `client` may go on now, else (False, whole seconds until it may).

        Raises liveness.service.shared_state.StateUnavailable when the store cannot count.
        """
        async with self.state.counting():
            if await self.limiter.hit(self.item, "rate", client):
                return True, 0
            reset, _ = await self.limiter.get_window_stats(self.item, "rate", client)
        return False, max(1, math.ceil(reset - time.time()))


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
