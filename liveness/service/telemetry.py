"""What the service tells its operators: request IDs, one JSON access-log line a request, Prometheus metrics.

With several worker processes, prometheus_client's multiprocess mode makes /metrics the whole service's:
each worker writes its counts into MULTIPROCESS_ENV's folder, and whichever worker answers reads them all.

No image bytes and no base64 ever reach a log line: the line is built from
fixed fields only (time, request ID, key name, method, path, status, latency,
decision, face count), never from the request body or an error's text.
"""
import datetime
import json
import os
import re
import sys
import threading
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FACE_BUCKETS = (0, 1, 2, 3, 5, 10)


def request_id(headers):
    """The client's X-Request-ID if it is short and plain, else a new one."""
    given = headers.get("x-request-id", "")
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


class AccessLog:
    """One JSON line per request, on `stream` (standard output by default)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def write(self, rid, key, method, path, status, seconds, decision=None, faces=None):
        line = json.dumps({"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                           "request_id": rid, "key": key, "method": method, "path": path, "status": status,
                           "latency_ms": round(seconds * 1000, 1), "decision": decision, "faces": faces})
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, model_identity):
        self.registry = CollectorRegistry()
        self.requests = Counter("liveness_requests", "HTTP requests answered, by path and status",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("liveness_request_seconds", "Time to answer a request, by path", ["path"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.decisions = Counter("liveness_decisions", "Image decisions (real, fake, not_sure, no_face)", ["decision"],
                                 registry=self.registry)
        self.faces = Histogram("liveness_faces_per_image", "Faces found in each scored image", buckets=FACE_BUCKETS,
                               registry=self.registry)
        # a gauge, not an Info: Info has no multiprocess mode; the exposition is the same liveness_model_info 1
        Gauge("liveness_model_info", "The liveness model being served", ["file", "sha256"], registry=self.registry,
              multiprocess_mode="max").labels(file=model_identity["file"], sha256=model_identity["sha256"]).set(1)

    def observe(self, path, status, seconds, decision=None, faces=None):
        self.requests.labels(path=path, status=str(status)).inc()
        self.latency.labels(path=path).observe(seconds)
        if decision is not None:
            self.decisions.labels(decision=decision).inc()
        if faces is not None:
            self.faces.observe(faces)

    def exposition(self):
        """(body, content type) for GET /metrics: this process's, or with several workers all of theirs."""
        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
