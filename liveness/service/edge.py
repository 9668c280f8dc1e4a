"""The service's HTTP edge: what a connection may cost before the app sees a request.

uvicorn's httptools protocol takes headers of any size, waits forever for a request's first byte and
keeps every silent socket open until the process runs out of file descriptors. `EdgeProtocol` is that
protocol with four limits, each answered the way HTTP says:
- a request head (request line and headers) over `max_header_bytes` gets 431, before it is all read;
- a head not complete `header_timeout` seconds after its connection opened (or after its first byte, on a
  kept-alive connection) gets 408 and the connection closed: a silent socket costs seconds, not forever;
- past `max_connections` open connections, the oldest ones not in a request (silent, or idle between
  requests) are closed to make room, so idle sockets never lock a client out; when every one is busy the
  newcomer gets 503;
- idle kept-alive connections close after uvicorn's own `timeout_keep_alive`.
"""
import dataclasses
import functools
import itertools
import json
import resource

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# file descriptors the process keeps for itself besides connections: models, pipes to scorers, logs, Redis
RESERVED_FILES = 64
_opened = itertools.count()  # the order connections opened in, oldest first


@dataclasses.dataclass(frozen=True)
class EdgeLimits:
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    max_connections: int = 1000
    idle_timeout: float = 5.0  # uvicorn's timeout_keep_alive


def connection_cap(wanted):
    """`wanted` connections, or fewer if the open-file limit (raised as far as it goes) cannot hold them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - RESERVED_FILES))


def plain_answer(status, reason, detail):
    """A whole HTTP/1.1 answer with a JSON `detail`, closing the connection."""
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header cap, a header deadline and a cap on open connections."""

    def __init__(self, *args, limits=EdgeLimits(), **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.head_bytes, self.in_head, self.head_deadline, self.refused = 0, True, None, False
        self.opened = next(_opened)

    def connection_made(self, transport):
        super().connection_made(transport)
        self.head_deadline = self.loop.call_later(self.limits.header_timeout, self._head_too_slow)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self):
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _waiting(self):
        """Whether this connection holds no request: nothing of one received yet, or idle after its answers."""
        if self.head_bytes:
            return False
        return self.cycle is None or (self.cycle.response_complete and not self.pipeline)

    def _make_room(self):
        """Close the oldest connections that hold no request until the cap is kept; else refuse this one."""
        excess = len(self.connections) - self.limits.max_connections
        waiting = sorted((other for other in self.connections
                          if other is not self and isinstance(other, EdgeProtocol) and other._waiting()),
                         key=lambda other: other.opened)
        for other in waiting[:max(0, excess)]:
            other._disarm()
            other.transport.close()
            other.connections.discard(other)
            excess -= 1
        if excess > 0:
            self._refuse(503, "Service Unavailable", "too many open connections; try again shortly")

    def _refuse(self, status, reason, detail):
        self.refused = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(plain_answer(status, reason, detail))
            self.transport.close()

    def _head_too_slow(self):
        self.head_deadline = None
        if self.in_head and not self.transport.is_closing():
            if self.head_bytes:
                self._refuse(408, "Request Timeout",
                             f"the request's headers did not arrive within {self.limits.header_timeout:g} s")
            else:  # nothing was asked: nothing to answer
                self.transport.close()

    def data_received(self, data):
        if self.refused:
            return
        if self.in_head:
            self.head_bytes += len(data)
        super().data_received(data)
        # the parser keeps a header that has not ended in memory: refuse it before it grows past the cap
        if self.in_head and self.head_bytes > self.limits.max_header_bytes and not self.refused:
            self._too_large()

    def _too_large(self):
        self._refuse(431, "Request Header Fields Too Large",
                     f"request headers over {self.limits.max_header_bytes} bytes")

    def send_400_response(self, msg):
        if not self.refused:  # a head refused from inside the parser has had its answer
            super().send_400_response(msg)

    def on_message_begin(self):
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = max(self.head_bytes, 1)  # a request has begun: this connection is no longer idle
        if self.head_deadline is None:  # a kept-alive connection's next request: its deadline runs from here
            self.head_deadline = self.loop.call_later(self.limits.header_timeout, self._head_too_slow)

    def on_headers_complete(self):
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:  # a head that arrived whole in one read
            self._too_large()
            raise HeadRefused
        self.in_head = False
        self.head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_body(self, body):
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self):
        if not self.refused:
            super().on_message_complete()


class HeadRefused(Exception):
    """Stops the parser on a head that was answered 431."""


def protocol_with(limits):
    """The protocol class uvicorn is given (`http=`): EdgeProtocol with these limits."""
    return functools.partial(EdgeProtocol, limits=limits)
