"""Liveness as a service: an HTTP API that scores incoming images.

    python liveness_api.py --model liveness.keras --le le.pickle --host 127.0.0.1 --port 8000

POST /v1/liveness takes an image as a multipart upload (field `file`) or as JSON
{"image_base64": "..."} and answers every face found (box, score, decision real / fake /
not_sure), the threshold and band used, and the model's identity. GET /healthz says the
process is alive, GET /readyz that the model is loaded, GET /metrics gives Prometheus metrics;
with --docs the OpenAPI docs are at /docs.

In front of clients: --api-keys FILE (every /v1 request needs a key), --rate-limit N/s (per key, counted in
--state: this process's memory, or a Redis that every worker and replica shares),
--max-pending N (503 past N requests being scored), --max-uploads and --body-timeout (408 for a body
that does not arrive in time: a slow client holds no scoring slot). Every answer carries X-Request-ID, and every
request leaves one JSON line in the access log on standard output. Images are scored in --scorers
processes of their own (liveness.service.scorers), so that answering a flood never slows the scoring.
"""
import argparse
import asyncio
import base64
import binascii
import dataclasses
import functools
import json
import os
import shutil
import sys
import tempfile
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from liveness.errors import ApiError, LivenessError, exit_on_error
from liveness.faces.detectors import add_detector_arguments
from liveness.models.metadata import check_threshold, resolve_detector_type
from liveness.quiet import add_verbose_argument
from liveness.service.api_keys import ApiKeys, key_from_headers
from liveness.service.edge import EdgeLimits, connection_cap, protocol_with
from liveness.service.core import LivenessService, Settings
from liveness.service.ratelimit import PendingLimit, RateLimit, parse_rate
from liveness.service.scorers import FORMATS, yield_to_scorers
from liveness.service.shared_state import (
    MEMORY,
    SharedState,
    StateUnavailable,
    check_reachable,
    check_state_url,
    safe_url,
)
from liveness.service.telemetry import MULTIPROCESS_ENV, AccessLog, Metrics, request_id

SETTINGS_ENV = "LIVENESS_API_SETTINGS"

REQUEST_BODY = {  # the body is read by hand (to cap its size), so its schema is stated here for /docs
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {"type": "object", "required": ["image_base64"],
                                        "properties": {"image_base64": {"type": "string"}}}},
    },
}


CLIENT_LEFT = 499  # nginx's "client closed request": counted and logged, but no server error


async def read_body(request, max_bytes):
    """The request body, refused with 413 as soon as it passes `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"upload over {max_bytes / 1e6:g} MB")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, f"upload over {max_bytes / 1e6:g} MB")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(CLIENT_LEFT, "the client closed the connection before its upload was complete") from None
    return b"".join(chunks)


class UploadParser(MultiPartParser):
    """Starlette's multipart parser, which also takes a part named by RFC 2231's `filename*=` as a file."""

    def on_header_end(self):
        name, value = self._current_partial_header_name.lower(), self._current_partial_header_value
        if name == b"content-disposition" and b"filename*=" in value.lower() and b"filename=" not in value.lower():
            self._current_partial_header_value = value + b'; filename="upload"'
        super().on_header_end()


async def image_bytes(request, max_bytes):
    """The encoded image from a multipart `file` field or a JSON `image_base64` field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/json"):
        raise ApiError(415, f"send multipart/form-data with a 'file' field, or JSON with 'image_base64' ({FORMATS})")
    body = await read_body(request, max_bytes)
    if content_type == "application/json":
        try:
            payload = json.loads(body)
            encoded = payload["image_base64"]
            if "," in encoded[:100] and encoded.startswith("data:"):
                encoded = encoded.split(",", 1)[1]  # a data: URL
            # line breaks and spaces inside, as `base64` wraps at 76 columns; anything else stays refused
            return base64.b64decode("".join(encoded.split()), validate=True)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
            raise ApiError(422, "JSON body must be an object with 'image_base64' holding base64 image bytes") from None

    async def stream():
        yield body

    try:
        form = await UploadParser(request.headers, stream()).parse()
    except MultiPartException as error:
        raise ApiError(422, f"malformed multipart body: {error.message}") from None
    try:
        uploads = form.getlist("file")
        if len(uploads) > 1:
            raise ApiError(422, f"multipart body has {len(uploads)} 'file' parts; send one image a request")
        if not uploads or not isinstance(uploads[0], UploadFile):
            raise ApiError(422, "multipart body needs a 'file' field holding the image")
        return await uploads[0].read()
    finally:
        await form.close()


class GuardAndAccount:
    """Plain ASGI middleware: refuses before the body is read, stamps X-Request-ID, logs and counts every answer.

    Written against ASGI rather than with @app.middleware: under a flood the service answers hundreds of
    refusals a second, and Starlette's BaseHTTPMiddleware costs a task group and two streams for each.
    """

    def __init__(self, app, admit, account):
        self.app, self.admit, self.account = app, admit, account

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        rid, started = request_id(request.headers), time.perf_counter()
        name, refused = await self.admit(request)
        scope.setdefault("state", {})["key_name"] = name
        status = {"code": 500}

        async def stamped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await (refused or self.app)(scope, receive, stamped)
        finally:
            self.account(request, rid, name, status["code"], time.perf_counter() - started)


BUSY = "too many requests in progress; try again shortly"
UNCOUNTED = "the service cannot check its rate limit right now; try again shortly"
KNOWN_PATHS = ("/v1/liveness", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


def refusal(status, detail, **headers):
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(settings, service=None):
    """The FastAPI app; the model loads at start-up unless a loaded `service` is given."""
    state = {"service": service, "metrics": Metrics(service.identity) if service else None}
    keys = ApiKeys.load(settings.api_keys) if settings.api_keys else None
    limiter = RateLimit(settings.rate_limit, SharedState(settings.state)) if settings.rate_limit else None
    pending = PendingLimit(settings.max_pending)  # requests being scored or waiting for a scorer
    uploads = PendingLimit(settings.max_uploads)  # bodies still arriving: slow clients wait here, not for a scorer
    access = AccessLog()

    async def lifespan(app):
        if state["service"] is None:
            state["service"] = LivenessService(settings)
            state["metrics"] = Metrics(state["service"].identity)
        yield_to_scorers()  # the event loop, refusals included, takes only the CPU that scoring leaves
        yield
        state["service"].close()

    app = FastAPI(title="Face liveness", version="1", lifespan=lifespan,
                  redirect_slashes=False,  # a redirect would be built from the client's Host header
                  docs_url="/docs" if settings.docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if settings.docs else None,
                  description="Tells live faces from presentation attacks (photos, replayed videos).")

    async def admit(request):
        """(key name, refusal or None): the key, then its rate, then room in the queue; no body read yet."""
        path = request.url.path
        guarded = path.startswith("/v1/") or (path == "/metrics" and settings.metrics_private)
        name = "anonymous"
        if guarded and keys is not None:
            name = keys.name_of(key_from_headers(request.headers))
            if name is None:
                return None, refusal(401, "a valid API key is needed: Authorization: Bearer <key>, or X-API-Key",
                                     **{"WWW-Authenticate": "Bearer"})
        if not path.startswith("/v1/"):
            return name, None
        if limiter is not None:
            client = name if keys is not None else (request.client.host if request.client else "unknown")
            try:
                allowed, wait = await limiter.allow(client)
            except StateUnavailable:  # never let a request through unchecked
                return name, refusal(503, UNCOUNTED, **{"Retry-After": "1"})
            if not allowed:
                return name, refusal(429, f"over the rate limit of {settings.rate_limit}", **{"Retry-After": str(wait)})
        if pending.full():  # a flood is refused before its bodies are read; the slot is taken once the body is in
            return name, refusal(503, BUSY, **{"Retry-After": "1"})
        return name, None

    def account(request, rid, name, status, seconds):
        path = request.url.path if request.url.path in KNOWN_PATHS else "other"
        decision, faces = request.scope["state"].get("decision"), request.scope["state"].get("faces")
        access.write(rid, name, request.method, path, status, seconds, decision, faces)
        if state["metrics"] is not None:
            state["metrics"].observe(path, status, seconds, decision, faces)

    app.add_middleware(GuardAndAccount, admit=admit, account=account)

    @app.exception_handler(ApiError)
    async def api_error(request, error):
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=error.headers)

    @app.get("/metrics")
    async def metrics():
        """Prometheus metrics: requests by status, latency, decisions, faces per image, the model's SHA-256."""
        if state["metrics"] is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        body, content_type = state["metrics"].exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz():
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """The model is loaded and requests can be scored."""
        if state["service"] is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        problem = state["service"].pool.unready_reason()
        if problem is not None:  # every scoring process failed to load the model: the reason, for the operator
            return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
        return {"status": "ready", "model": state["service"].identity}

    @app.post("/v1/liveness", openapi_extra={"requestBody": REQUEST_BODY})
    async def liveness(request: Request):
        """Score every face of one image."""
        service = state["service"]
        if service is None:
            raise ApiError(503, "model still loading")
        if not uploads.enter():
            raise ApiError(503, "too many uploads in progress; try again shortly")
        try:
            async with asyncio.timeout(settings.body_timeout):
                data = await image_bytes(request, service.max_bytes)
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {settings.body_timeout:g} s") from None
        finally:
            uploads.leave()
        if not data:
            raise ApiError(422, "empty image")
        if not pending.enter():
            raise ApiError(503, BUSY, {"Retry-After": "1"})
        try:
            answer = await service.score(data, key_name=request.scope["state"]["key_name"])
        finally:
            pending.leave()
        request.scope["state"].update(decision=answer["decision"], faces=len(answer["faces"]))
        return answer

    return app


def app_from_env():
    """App factory for uvicorn's worker processes (--workers N): settings come in an environment variable."""
    values = json.loads(os.environ[SETTINGS_ENV])
    if values.get("band"):
        values["band"] = tuple(values["band"])
    return create_app(Settings(**values))


def start_local(model, le, *flags, timeout=180, cores=None, open_files=None, python=None):
    """This service in a child process on a free 127.0.0.1 port: (process, url) once /readyz answers.

    For the tests and the load benchmark. The child's output goes to a temporary
    file (a pipe nobody reads would block it once full), quoted if it fails.
    `cores`: the CPU cores it and every process and thread it starts may run on.
    `open_files`: its limit on open files (soft and hard), as a system with a low one would set it.
    `python`: the interpreter to run it with (another install's; default this one).
    """
    import socket
    import subprocess

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([python or sys.executable, os.path.abspath(__file__), "-m", str(model), "-l", str(le),
                                "--host", "127.0.0.1", "--port", str(port), *map(str, flags)],
                               stdout=(log := tempfile.TemporaryFile("w+")), stderr=subprocess.STDOUT, text=True,
                               preexec_fn=functools.partial(limit_child, cores, open_files))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            log.seek(0)
            lines = log.read().strip().splitlines()
            raise LivenessError(f"the service exited at start-up: {lines[-1] if lines else 'no output'}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                process.log = log  # the service's output (its access log), for whoever started it
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise LivenessError(f"the service did not become ready in {timeout} s")


def limit_child(cores=None, open_files=None):
    """Run in a child before it starts: the CPU cores it may use, its open-file limit."""
    if cores:
        os.sched_setaffinity(0, cores)
    if open_files:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True, help="liveness model")
    ap.add_argument("-l", "--le", required=True, help="its label encoder (le.pickle)")
    add_detector_arguments(ap)
    ap.add_argument("-t", "--threshold", type=float, default=None,
                    help="liveness threshold on the real score (default: calibrated beside the model, else 0.5)")
    ap.add_argument("--band", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                    help="scores in [LOW, HIGH] are answered not_sure")
    ap.add_argument("--bona-fide", default="real", help="the live class")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1, help="server processes, each with its own model")
    ap.add_argument("--scorers", "--threads", type=int, default=len(os.sched_getaffinity(0)), dest="scorers",
                    help="scoring processes per worker, each with its own model and one thread (default: the cores "
                         "this process may use; --threads: the old name)")
    ap.add_argument("--publish", default=None, help="save each scored image under DIR/<decision>/ with metadata.csv")
    ap.add_argument("--publish-max-mb", type=float, default=1024.0, help="stop saving (not serving) past this size")
    ap.add_argument("--max-upload-mb", type=float, default=10.0, help="larger uploads get 413")
    ap.add_argument("--max-megapixels", type=float, default=40.0, help="larger images get 413, before decoding")
    ap.add_argument("--api-keys", metavar="FILE", default=None,
                    help="accepted keys, one a line ('sha256:<hex> [name]' or '<key> [name]'); every /v1 request "
                         "then needs one (make one with: python -m liveness.api_keys NAME)")
    ap.add_argument("--rate-limit", metavar="N/s", default=None, help="per key (or per client address without keys): "
                    "past it 429 with Retry-After, before the body is read")
    ap.add_argument("--state", metavar="URL", default=MEMORY,
                    help="where --rate-limit and --publish-max-mb are counted: memory:// (this process) or "
                         "redis://HOST:PORT/DB, shared by every worker and replica that names it")
    ap.add_argument("--max-pending", type=int, default=8,
                    help="requests being scored or waiting for a scorer at most, per process; past it 503 with "
                         "Retry-After (0: no cap). A request takes its place once its body has arrived")
    ap.add_argument("--max-uploads", type=int, default=256,
                    help="request bodies being received at once at most, per process; past it 503 (0: no cap)")
    ap.add_argument("--body-timeout", type=float, default=10.0,
                    help="seconds a request body may take to arrive; past it 408")
    ap.add_argument("--max-header-kb", type=float, default=16.0,
                    help="a request's line and headers at most this size; past it 431, before they are all read")
    ap.add_argument("--header-timeout", type=float, default=10.0,
                    help="seconds a connection may take to send a request's headers; past it 408 and closed")
    ap.add_argument("--idle-timeout", type=float, default=5.0,
                    help="seconds a kept-alive connection may stay idle between requests")
    ap.add_argument("--max-connections", type=int, default=1000,
                    help="open connections at most, per process (fewer if the open-file limit says so); past it "
                         "the oldest idle ones are closed, or the newcomer gets 503 when none is idle")
    ap.add_argument("--forwarded-allow-ips", metavar="ADDRESSES", default=None,
                    help="proxies (comma-separated addresses or networks) whose X-Forwarded-For and -Proto are "
                         "believed; the client's address is then the one they name (default: none)")
    ap.add_argument("--docs", action="store_true", help="serve the OpenAPI docs at /docs")
    ap.add_argument("--metrics-private", action="store_true", help="/metrics needs an API key too")
    add_verbose_argument(ap)
    args = ap.parse_args()
    if args.threshold is not None:
        check_threshold(args.threshold)
    if args.band is not None and not (0 <= args.band[0] <= args.band[1] <= 1):
        raise LivenessError(f"--band needs 0 <= LOW <= HIGH <= 1, got {args.band[0]} {args.band[1]}")
    if min(args.workers, args.scorers) < 1 or not 0 < args.port < 65536:
        raise LivenessError("--workers and --scorers must be 1 or more, --port in 1..65535")
    if min(args.max_upload_mb, args.max_megapixels, args.publish_max_mb) <= 0:
        raise LivenessError("--max-upload-mb, --max-megapixels and --publish-max-mb must be above 0")
    if args.rate_limit is not None:
        parse_rate(args.rate_limit)
    check_state_url(args.state)
    counted = [flag for flag, given in (("--rate-limit", args.rate_limit), ("--publish-max-mb", args.publish)) if given]
    if args.workers > 1 and counted and args.state == MEMORY:
        raise LivenessError(f"--workers {args.workers} with {' and '.join(counted)} would count in each worker apart "
                            f"({args.workers}x the limit): give --state redis://HOST:PORT/DB")
    if args.max_pending < 0 or args.max_uploads < 0:
        raise LivenessError("--max-pending and --max-uploads must be 0 (no cap) or more")
    if min(args.body_timeout, args.header_timeout, args.idle_timeout, args.max_header_kb) <= 0:
        raise LivenessError("--body-timeout, --header-timeout, --idle-timeout and --max-header-kb must be above 0")
    if args.max_connections < 1:
        raise LivenessError("--max-connections must be 1 or more")
    if args.metrics_private and args.api_keys is None:
        raise LivenessError("--metrics-private puts /metrics behind the API keys: give --api-keys FILE too")
    return args


@exit_on_error
def main():
    args = parse_args()
    detector_type, source = resolve_detector_type(args.detector_type, args.model)
    confidence = args.confidence if args.confidence is not None else "its default"
    print(f"[INFO] face detector: {detector_type} ({source}), confidence {confidence}", flush=True)
    settings = Settings(model=args.model, le=args.le, detector=args.detector, detector_type=detector_type,
                        confidence=args.confidence,
                        threshold=args.threshold, band=tuple(args.band) if args.band else None,
                        bona_fide=args.bona_fide, publish=args.publish, publish_max_mb=args.publish_max_mb,
                        max_upload_mb=args.max_upload_mb, max_megapixels=args.max_megapixels, scorers=args.scorers,
                        verbose=args.verbose, api_keys=args.api_keys, rate_limit=args.rate_limit, state=args.state,
                        max_pending=args.max_pending, max_uploads=args.max_uploads, body_timeout=args.body_timeout,
                        docs=args.docs, metrics_private=args.metrics_private)
    keys = ApiKeys.load(args.api_keys) if args.api_keys else None  # a bad file fails here, before the model loads
    check_reachable(args.state)  # so does a Redis that does not answer
    if args.state != MEMORY:
        print(f"[INFO] limits and the publish quota are counted in {safe_url(args.state)}", flush=True)
    print(f"[INFO] loading the liveness model in {args.scorers} scoring process(es)...", flush=True)
    # bad input fails here, in one line, before the server starts; with several workers one scorer is enough to check
    service = LivenessService(settings if args.workers == 1 else dataclasses.replace(settings, scorers=1))
    print(f"[INFO] model {service.identity['file']} sha256 {service.identity['sha256'][:12]}, "
          f"threshold {service.threshold:.4f} ({service.threshold_source}); runtime: "
          f"{service.pool.description.get('runtime')}")
    if args.api_keys is None:
        print(f"[WARNING] no --api-keys: the service answers anyone who can reach port {args.port}", flush=True)
    else:
        print(f"[INFO] API keys: {len(keys.entries)} from {args.api_keys}"
              f"{f'; rate limit {args.rate_limit} per key' if args.rate_limit else ''}", flush=True)
    print(f"[INFO] serving on http://{args.host}:{args.port}{' (docs at /docs)' if args.docs else ''}, "
          f"{args.workers} worker(s), at most {args.max_pending or 'unlimited'} requests in progress each", flush=True)
    edge = edge_settings(args)
    if args.workers == 1:
        uvicorn.run(create_app(settings, service), host=args.host, port=args.port, log_level="warning", **edge)
    else:
        service.close()  # it checked the model; each worker process starts its own scorers
        serve_workers(settings, args, edge)


def edge_settings(args):
    """uvicorn's settings for the HTTP edge (liveness.service.edge): header cap and deadline, idle timeout,
    connection cap, and which proxies' forwarded headers are believed."""
    limits = EdgeLimits(max_header_bytes=int(args.max_header_kb * 1024), header_timeout=args.header_timeout,
                        max_connections=connection_cap(args.max_connections), idle_timeout=args.idle_timeout)
    if limits.max_connections < args.max_connections:
        print(f"[INFO] at most {limits.max_connections} open connections: the open-file limit holds no more",
              flush=True)
    return {"http": protocol_with(limits), "timeout_keep_alive": args.idle_timeout,
            "proxy_headers": args.forwarded_allow_ips is not None,
            "forwarded_allow_ips": args.forwarded_allow_ips or ""}


def serve_workers(settings, args, edge):
    """Several uvicorn worker processes; /metrics sums all of them from a folder made and removed here."""
    os.environ[SETTINGS_ENV] = json.dumps(settings.__dict__)
    metrics_dir = tempfile.mkdtemp(prefix="liveness-metrics-")
    os.environ[MULTIPROCESS_ENV] = metrics_dir  # the workers import prometheus_client afresh and see it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        uvicorn.run("liveness_api:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning", **edge)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
