"""Load test of the liveness service on loopback: bounded in requests and in time.

    python benchmarks/load_api.py                                  # the model from run_sample.sh
    python benchmarks/load_api.py -m liveness.keras -l le.pickle --requests 1000 --concurrency 8

Starts liveness_api.py on a free 127.0.0.1 port, sends --requests POSTs of 640x480 JPEG faces
(multipart and base64, real and replay frames of the built-in sample) at --concurrency, with
--malformed of them broken (random bytes, truncated JPEG, bad base64, wrong content type, JSON
without the image), then prints requests per second and p50/p99 latency. It fails if any answer
is a 5xx or a malformed body is not answered 4xx.
"""
import argparse
import asyncio
import base64
import os
import random
import sys
import time

import cv2
import httpx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.sample import real_frames, replay_frames  # noqa: E402
from liveness_api import start_local  # noqa: E402

SAMPLE = os.path.join(ROOT, "output", "sample")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(SAMPLE, "liveness.keras"))
    ap.add_argument("-l", "--le", default=os.path.join(SAMPLE, "le.pickle"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--malformed", type=float, default=0.10, help="share of broken request bodies")
    ap.add_argument("--time-limit", type=float, default=300.0, help="stop sending after this many seconds")
    ap.add_argument("--workers", type=int, default=1, help="service processes")
    ap.add_argument("--threads", type=int, default=2, help="scoring threads per service process")
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        raise LivenessError(f"model not found: {args.model} (run bash run_sample.sh, or pass --model and --le)")
    if args.requests < 1 or args.concurrency < 1 or not 0 <= args.malformed <= 1:
        raise LivenessError("--requests and --concurrency must be 1 or more, --malformed in [0, 1]")
    return args


def start_service(args):
    return start_local(args.model, args.le, "--workers", args.workers, "--threads", args.threads)


def request_bodies(count, malformed, seed=0):
    """(kind, httpx keyword arguments) for each request, shuffled; kind 'ok' or the way it is broken."""
    faces = [cv2.imencode(".jpg", f)[1].tobytes() for f in (*real_frames(10, (640, 480)), *replay_frames(10, (640, 480)))]
    rng = random.Random(seed)
    broken = {
        "random-bytes": lambda: {"files": {"file": ("x.jpg", os.urandom(20_000))}},
        "truncated-jpeg": lambda: {"files": {"file": ("t.jpg", rng.choice(faces)[:5_000])}},
        "bad-base64": lambda: {"json": {"image_base64": "%%%" + "A" * 1001}},
        "wrong-content-type": lambda: {"content": rng.choice(faces), "headers": {"content-type": "image/jpeg"}},
        "json-without-image": lambda: {"json": {"image": "nothing"}},
    }
    bad = int(round(count * malformed))
    bodies = [(kind, broken[kind]()) for kind in (list(broken) * count)[:bad]]
    for i in range(count - bad):
        face = faces[i % len(faces)]
        bodies.append(("ok", {"files": {"file": ("face.jpg", face)}} if i % 2 else
                       {"json": {"image_base64": base64.b64encode(face).decode()}}))
    rng.shuffle(bodies)
    return bodies


async def send_all(url, bodies, concurrency, time_limit):
    """(kind, status, seconds) for each request sent before the time limit."""
    results, started = [], time.perf_counter()
    queue = list(reversed(bodies))

    async def worker(client):
        while queue and time.perf_counter() - started < time_limit:
            kind, kwargs = queue.pop()
            t0 = time.perf_counter()
            try:
                status = (await client.post(f"{url}/v1/liveness", **kwargs)).status_code
            except httpx.HTTPError:
                status = 0  # no answer at all
            results.append((kind, status, time.perf_counter() - t0))

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return results, time.perf_counter() - started


@exit_on_error
def main():
    args = parse_args()
    bodies = request_bodies(args.requests, args.malformed)
    print(f"[INFO] starting the service ({args.workers} worker(s), {args.threads} threads)...")
    process, url = start_service(args)
    try:
        print(f"[INFO] {len(bodies)} requests at concurrency {args.concurrency} to {url}...")
        results, elapsed = asyncio.run(send_all(url, bodies, args.concurrency, args.time_limit))
    finally:
        process.terminate()
        process.wait(timeout=30)
    statuses = np.array([s for _, s, _ in results])
    latency = np.array([t for _, _, t in results]) * 1000
    good = np.array([k == "ok" for k, _, _ in results])
    server_errors = int(np.sum((statuses >= 500) | (statuses == 0)))
    malformed_not_4xx = int(np.sum(~good & ((statuses < 400) | (statuses >= 500))))
    print(f"[INFO] {len(results)} requests in {elapsed:.1f} s: {len(results) / elapsed:.1f} requests per second")
    print(f"[INFO] latency all: p50 {np.percentile(latency, 50):.0f} ms, p99 {np.percentile(latency, 99):.0f} ms; "
          f"valid images: p50 {np.percentile(latency[good], 50):.0f} ms, p99 {np.percentile(latency[good], 99):.0f} ms")
    print(f"[INFO] valid images answered 200: {int(np.sum(good & (statuses == 200)))}/{int(good.sum())}; "
          f"malformed answered 4xx: {int(np.sum(~good & (statuses >= 400) & (statuses < 500)))}/{int((~good).sum())}; "
          f"5xx or no answer: {server_errors}")
    if server_errors or malformed_not_4xx or len(results) < len(bodies):
        raise LivenessError(f"load test failed: {server_errors} 5xx, {malformed_not_4xx} malformed not 4xx, "
                            f"{len(bodies) - len(results)} not sent in time")


if __name__ == "__main__":
    main()
