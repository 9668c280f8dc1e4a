"""A real redis-server on a free loopback port, started and stopped by the test that needs it.

.ci/run installs Debian's redis-server; without it on PATH the tests that need one are skipped,
except where LIVENESS_REQUIRE_REDIS=1 (set by .ci/run) makes its absence a failure.
"""
import os
import shutil
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_redis():
    import pytest

    if shutil.which("redis-server") is None:
        if os.environ.get("LIVENESS_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed (.ci/run installs Debian's redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


class RedisServer:
    """One redis-server, nothing saved to disk; stop() and start() again on the same port."""

    def __init__(self, folder, in_test=True):
        if in_test:
            need_redis()
        self.folder, self.port, self.process = str(folder), free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", self.folder],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
