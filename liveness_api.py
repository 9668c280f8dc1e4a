"""Liveness as a service: an HTTP API that scores incoming images.

    python liveness_api.py --model liveness.keras --le le.pickle --host 127.0.0.1 --port 8000

POST /v1/liveness takes an image as a multipart upload (field `file`) or as JSON
{"image_base64": "..."} and answers every face found (box, score, decision real / fake /
not_sure), the threshold and band used, and the model's identity. POST /v1/sessions starts a liveness
session: a person's frames, from the capture page at /capture or any client, decided as one (live,
attack, or try again; liveness.sessions). GET /healthz says the
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
import dataclasses
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time

import uvicorn

from liveness.common.cores import usable_cores
from liveness.errors import LivenessError, exit_on_error
from liveness.faces.detectors import add_detector_arguments
from liveness.models.metadata import check_threshold, resolve_detector_type
from liveness.quiet import add_verbose_argument
from liveness.service.api_keys import ApiKeys
from liveness.service.app import SETTINGS_ENV, create_app
from liveness.service.core import LivenessService, Settings
from liveness.service.edge import EdgeLimits, connection_cap, protocol_with
from liveness.service.ratelimit import parse_rate
from liveness.service.shared_state import MEMORY, check_reachable, check_state_url, safe_url
from liveness.service.telemetry import MULTIPROCESS_ENV


def start_local(model, le, *flags, timeout=180, cores=None, open_files=None, python=None, script=None):
    """This service in a child process on a free 127.0.0.1 port: (process, url) once /readyz answers.

    For the tests and the load benchmark. The child's output goes to a temporary
    file (a pipe nobody reads would block it once full), quoted if it fails.
    `cores`: the CPU cores it and every process and thread it starts may run on.
    `open_files`: its limit on open files (soft and hard), as a system with a low one would set it.
    `python`: the interpreter to run it with (another install's; default this one).
    `script`: a script that runs this service's main() (a test's wrapper; default this file).
    """
    import socket
    import subprocess

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([python or sys.executable, script or os.path.abspath(__file__), "-m", str(model),
                                "-l", str(le), "--host", "127.0.0.1", "--port", str(port), *map(str, flags)],
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
    ap.add_argument("--scorers", "--threads", type=int, default=usable_cores(), dest="scorers",
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
                    help="where --rate-limit and --publish-max-mb are counted and sessions kept: memory:// (this "
                         "process) or redis://HOST:PORT/DB, shared by every worker and replica that names it")
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
    ap.add_argument("--session-ttl", type=float, default=180.0,
                    help="seconds a liveness session (POST /v1/sessions) lives; its frames after that get 404")
    ap.add_argument("--max-sessions-per-key", type=int, default=20,
                    help="open sessions a key may hold (without --api-keys: a client address); past it 429")
    ap.add_argument("--max-sessions", type=int, default=200,
                    help="open sessions of all keys (or addresses) together; past it 503")
    ap.add_argument("--session-owner-mb", type=float, default=40.0,
                    help="frame bytes held for one key's (or address's) sessions; past it 429")
    ap.add_argument("--session-total-mb", type=float, default=200.0,
                    help="frame bytes held for all sessions; past it 503")
    ap.add_argument("--operating-point", choices=("secure", "balanced"), default="secure",
                    help="how sessions weigh an accepted attack against a rejected person: secure (default) counts a "
                         "frame live only above the threshold at which no attack species got through on the "
                         "development data, balanced at the model's own threshold (docs/accuracy.md)")
    ap.add_argument("--frame-ancestors", metavar="ORIGINS", default="'self'",
                    help="origins whose pages may show /capture in a frame (the CSP frame-ancestors value, for "
                         "example \"'self' https://shop.example\"; default: only this service's own)")
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
    if min(args.max_connections, args.max_sessions_per_key, args.max_sessions) < 1 or args.session_ttl <= 0:
        raise LivenessError("--max-connections, --max-sessions-per-key and --max-sessions must be 1 or more, "
                            "--session-ttl above 0")
    if min(args.session_owner_mb, args.session_total_mb) < 2:
        raise LivenessError("--session-owner-mb and --session-total-mb must be 2 or more (a frame may be 2 MB)")
    if not re.fullmatch(r"[\w'.:/*\- ]+", args.frame_ancestors):
        raise LivenessError(f"--frame-ancestors takes CSP sources such as \"'self' https://shop.example\", "
                            f"got {args.frame_ancestors!r}")
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
                        docs=args.docs, metrics_private=args.metrics_private, session_ttl=args.session_ttl,
                        max_sessions_per_key=args.max_sessions_per_key, max_sessions=args.max_sessions,
                        session_owner_mb=args.session_owner_mb, session_total_mb=args.session_total_mb,
                        frame_ancestors=args.frame_ancestors, operating_point=args.operating_point)
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
    if args.workers > 1 and args.state == MEMORY:
        print(f"[WARNING] --workers {args.workers} with --state {MEMORY}: each worker keeps its own liveness sessions, "
              "and a session's frames reach any worker; give --state redis://HOST:PORT/DB for sessions", flush=True)
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
        uvicorn.run("liveness.service.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning", **edge)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
