"""Load test of the liveness service on loopback: bounded in requests and in time.

    python benchmarks/load_api.py                                  # the model from run_sample.sh
    python benchmarks/load_api.py -m liveness.keras -l le.pickle --requests 1000 --concurrency 8

Starts liveness_api.py on a free 127.0.0.1 port, sends --requests POSTs of 640x480 JPEG faces
(multipart and base64, real and replay frames of the built-in sample) at --concurrency, with
--malformed of them broken (random bytes, truncated JPEG, bad base64, wrong content type, JSON
without the image), then prints requests per second and p50/p99 latency. It fails if any answer
is a 5xx or a malformed body is not answered 4xx.

    python benchmarks/load_api.py --slow 8 --slow 64

--slow N instead measures a normal client beside N slow uploaders: each opens a connection, sends its
headers with a Content-Length of --slow-length and then one byte every half second, and starts again
when the service gives up on it (408 after its --body-timeout). First --reference requests one at a
time without them, then the same with them, for --flood-seconds. It fails unless every normal request
is answered 200, the slow ones only 408, and the normal p99 (the service's own, from its access log)
stays within 2x the unloaded p99. Each --slow runs on a fresh service.

    python benchmarks/load_api.py --flood 64

--flood N instead measures the service behind its guards (an API key, --rate-limit, --max-pending):
first --reference requests one at a time (the unloaded latency), then N clients sending valid
images back to back for --flood-seconds, each request written whole on a kept-alive connection,
ignoring Retry-After as a flood does. It fails unless the service answers only 200, 429 and 503,
is still healthy after, and the p99 latency of the admitted (200) requests stays within 2x the
unloaded p99, both as the service measures them in its access log (by request ID). The service,
its scoring processes included, runs on one core and the clients on the others (--no-pin: at a
lower priority instead), in both phases, so the clients' own work is not counted.

    python benchmarks/load_api.py --replicas 2 --rate-limit 20/s

--replicas N instead measures a rate limit across replicas: N service processes on N ports that count
in one redis-server (started here on a free port; Debian's redis-server), one API key, --concurrency
clients spread over the replicas and faster than the limit, for --flood-seconds. It fails unless the
admitted rate is within 10% of the limit. It prints the latency the shared check adds: the service's
own latency of its 429 answers (which are answered right after the check), against the same flood
on the same replicas counting in memory:// (each its own count: N times the limit).
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
sys.path.insert(0, os.path.join(ROOT, "tests"))  # tests/redis_server.py: a redis-server on a free port

from liveness.data.sample import real_frames, replay_frames  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402
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
    ap.add_argument("--scorers", type=int, default=2, help="scoring processes per service process")
    ap.add_argument("--flood", type=int, default=0, metavar="N", help="flood at concurrency N instead (see above)")
    ap.add_argument("--flood-seconds", type=float, default=30.0)
    ap.add_argument("--slow", type=int, action="append", default=[], metavar="N",
                    help="N slow uploaders beside a normal client instead (see above); repeatable")
    ap.add_argument("--slow-length", type=int, default=50_000, help="the Content-Length the slow uploaders declare")
    ap.add_argument("--body-timeout", type=float, default=None, help="the service's --body-timeout (default: its own)")
    ap.add_argument("--reference", type=int, default=100, help="unloaded requests, one at a time, before the flood")
    ap.add_argument("--max-pending", type=int, default=None, help="the service's --max-pending (default: its own)")
    ap.add_argument("--rate-limit", default=None,
                    help="the service's --rate-limit for the benchmark's key (default: 1000/s, with --replicas 20/s)")
    ap.add_argument("--replicas", type=int, default=0, metavar="N",
                    help="N replicas sharing one Redis instead (see above)")
    ap.add_argument("--detector-type", default=None, help="the service's --detector-type (default: the model's)")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                    help="run the service on one core and the clients on the others (default: on)")
    args = ap.parse_args()
    args.rate_limit = args.rate_limit or ("20/s" if args.replicas else "1000/s")
    if not os.path.isfile(args.model):
        raise LivenessError(f"model not found: {args.model} (run bash run_sample.sh, or pass --model and --le)")
    if args.requests < 1 or args.concurrency < 1 or not 0 <= args.malformed <= 1:
        raise LivenessError("--requests and --concurrency must be 1 or more, --malformed in [0, 1]")
    return args


def start_service(args):
    detector = ["--detector-type", args.detector_type] if args.detector_type else []
    return start_local(args.model, args.le, "--workers", args.workers, "--scorers", args.scorers, *detector)


def sample_faces():
    """20 JPEG-encoded 640x480 frames of the built-in sample: 10 live, 10 replayed."""
    return [cv2.imencode(".jpg", f)[1].tobytes() for f in (*real_frames(10, (640, 480)), *replay_frames(10, (640, 480)))]


def request_bodies(count, malformed, seed=0):
    """(kind, httpx keyword arguments) for each request, shuffled; kind 'ok' or the way it is broken."""
    faces = sample_faces()
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


async def flood(urls, faces, concurrency, seconds, headers):
    """(status, seconds) of every request of `concurrency` clients sending back to back for `seconds`.

    Client i sends to urls[i % len(urls)], as a load balancer would spread them.

    Each request is written whole, in one go, on a kept-alive raw connection: the service's clock starts
    when the headers arrive, and an HTTP library on a busy core would send the body later, which the
    service would count as its own latency (httpx did: 26 ms a request).
    """
    bodies = []
    for face in faces:
        built = httpx.Request("POST", f"{urls[0]}/v1/liveness", files={"file": ("face.jpg", face)})
        bodies.append((built.headers["content-type"], built.read()))
    fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    results, started = [], time.perf_counter()

    async def client_loop(i):
        host, port = urls[i % len(urls)].split("//", 1)[1].rsplit(":", 1)
        reader = writer = None
        n = i
        while time.perf_counter() - started < seconds:
            content_type, body = bodies[n % len(bodies)]
            head = (f"POST /v1/liveness HTTP/1.1\r\nHost: {host}:{port}\r\n{fixed}X-Request-ID: flood-{n}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(head + body)
                lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
                status = int(lines[0].split()[1])
                await reader.readexactly(next(int(h.split(":", 1)[1]) for h in lines if h.startswith("content-length:")))
                if "connection: close" in lines:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError,
                    StopIteration):
                status = 0  # no answer, or not HTTP
                if writer is not None:
                    writer.close()
                writer = None
            results.append((status, time.perf_counter() - t0))
            n += concurrency
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client_loop(i) for i in range(concurrency)))
    return results


def benchmark_key():
    """(a new API key, a keys file holding its hash): the caller removes the file."""
    import tempfile

    from liveness.service.api_keys import digest

    key = "flood-benchmark-key-" + os.urandom(8).hex()
    keys = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    keys.write(f"sha256:{digest(key).hex()} flood\n")
    keys.close()
    return key, keys


def flood_test(args):
    key, keys = benchmark_key()
    flags = ["--workers", args.workers, "--scorers", args.scorers, "--api-keys", keys.name, "--rate-limit", args.rate_limit]
    flags += ["--detector-type", args.detector_type] if args.detector_type else []
    if args.max_pending is not None:
        flags += ["--max-pending", args.max_pending]
    faces = sample_faces()
    headers = {"authorization": f"Bearer {key}"}
    print(f"[INFO] starting the service ({' '.join(map(str, flags[:4]))}, --rate-limit {args.rate_limit}, "
          f"--max-pending {args.max_pending if args.max_pending is not None else 'default'})...")
    cores = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cores) >= 2
    # one core for the service (its scoring processes included), the others for the clients, in both phases:
    # the clients' own work is kept off the service's core, as it would be on another machine
    process, url = start_local(args.model, args.le, *flags, cores={cores[0]} if pin else None)
    try:
        if pin:
            os.sched_setaffinity(0, set(cores[1:]))
        else:
            os.nice(19)  # the clients at least yield the CPU to the service they measure
        unloaded = asyncio.run(send_reference(url, faces, args.reference, headers))
        print(f"[INFO] flood: {args.flood} clients for {args.flood_seconds:.0f} s...")
        flooded = asyncio.run(flood([url], faces, args.flood, args.flood_seconds, headers))
        healthy = httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        process.log.seek(0)
        served = service_latencies(process.log.read())
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.remove(keys.name)
    # the service's own latency, from its access log: what it takes once a request is in its hands
    own_reference = np.array(served.get(("reference", 200), [1e9]))
    own_admitted = np.array(served.get(("flood", 200), [1e9]))
    own_p99_ref, own_p99 = np.percentile(own_reference, 99), np.percentile(own_admitted, 99)
    reference = np.array([t for s, t in unloaded if s == 200]) * 1000
    statuses = np.array([s for s, _ in flooded])
    admitted = np.array([t for s, t in flooded if s == 200]) * 1000
    counts = {int(s): int(np.sum(statuses == s)) for s in np.unique(statuses)}
    p99_ref, p99_admitted = np.percentile(reference, 99), np.percentile(admitted, 99) if len(admitted) else float("inf")
    print(f"[INFO] unloaded ({len(reference)} requests, one at a time): service p50 {np.percentile(own_reference, 50):.0f} ms, "
          f"p99 {own_p99_ref:.0f} ms; as the client saw it p50 {np.percentile(reference, 50):.0f} ms, p99 {p99_ref:.0f} ms")
    print(f"[INFO] flood ({len(flooded)} requests, {len(flooded) / args.flood_seconds:.0f} a second): answers {counts}; "
          f"admitted {len(admitted)} ({len(admitted) / args.flood_seconds:.1f} a second): service p50 "
          f"{np.percentile(own_admitted, 50):.0f} ms, p99 {own_p99:.0f} ms; as the clients saw it p50 "
          f"{np.percentile(admitted, 50):.0f} ms, p99 {p99_admitted:.0f} ms (64 clients on what is left of the "
          "2 cores: their figure holds their own waiting)")
    checks = [("only 200, 429 and 503 answered", set(counts) <= {200, 429, 503}, str(sorted(counts))),
              ("still healthy after the flood", healthy, "/healthz 200" if healthy else "/healthz failed"),
              ("admitted p99 within 2x the unloaded p99 (the service's own)", own_p99 <= 2 * own_p99_ref,
               f"{own_p99:.0f} ms vs 2 x {own_p99_ref:.0f} ms ({own_p99 / own_p99_ref:.2f}x)")]
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    if not all(ok for _, ok, _ in checks):
        raise LivenessError("the flood test failed")


async def slow_uploaders(url, count, seconds, length):
    """`count` connections that each send headers, then a byte every half second; {status: count} of the answers."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    head = (f"POST /v1/liveness HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    answers, started = {}, time.perf_counter()

    async def one():
        while time.perf_counter() - started < seconds:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(head)
            status = 0
            try:
                while time.perf_counter() - started < seconds:
                    try:
                        line = await asyncio.wait_for(reader.readline(), 0.5)
                    except asyncio.TimeoutError:
                        writer.write(b" ")
                        continue
                    status = int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else 0
                    break
            except (OSError, ValueError, IndexError):
                status = 0
            finally:
                writer.close()
            if status:
                answers[status] = answers.get(status, 0) + 1

    await asyncio.gather(*(one() for _ in range(count)))
    return answers


async def beside_slow(url, faces, count, seconds, length):
    """The normal client's (status, seconds), one request at a time, while `count` slow uploaders run."""
    slow = asyncio.create_task(slow_uploaders(url, count, seconds, length))
    await asyncio.sleep(1.0)  # every slow one connected and trickling first
    results, started = [], time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        i = 0
        while time.perf_counter() - started < seconds - 2:
            t0 = time.perf_counter()
            try:
                status = (await client.post(f"{url}/v1/liveness", headers={"x-request-id": f"normal-{i}"},
                                            files={"file": ("face.jpg", faces[i % len(faces)])})).status_code
            except httpx.HTTPError:
                status = 0
            results.append((status, time.perf_counter() - t0))
            i += 1
    return results, await slow


def slow_test(args):
    """--slow: a normal client's answers and latency beside N slow uploaders, against its own unloaded run."""
    faces = sample_faces()
    checks = []
    for count in args.slow:
        flags = ["--workers", args.workers, "--scorers", args.scorers, "--max-uploads", max(256, 2 * count)]
        flags += ["--body-timeout", args.body_timeout] if args.body_timeout else []
        flags += ["--max-pending", args.max_pending] if args.max_pending is not None else []
        flags += ["--detector-type", args.detector_type] if args.detector_type else []
        print(f"[INFO] starting the service for {count} slow uploaders...", flush=True)
        process, url = start_local(args.model, args.le, *flags)
        try:
            unloaded = asyncio.run(send_reference(url, faces, args.reference, {}))
            normal, slow_answers = asyncio.run(beside_slow(url, faces, count, args.flood_seconds, args.slow_length))
            process.log.seek(0)
            served = service_latencies(process.log.read())
        finally:
            process.terminate()
            process.wait(timeout=30)
        own_ref = np.percentile(served.get(("reference", 200), [1e9]), 99)
        own_normal = np.percentile(served.get(("normal", 200), [1e9]), 99)
        statuses = [s for s, _ in normal]
        print(f"[INFO] {count} slow uploaders, {args.flood_seconds:.0f} s: normal client {len(normal)} requests, "
              f"answers {dict((s, statuses.count(s)) for s in sorted(set(statuses)))}; slow uploaders answered "
              f"{slow_answers}; the service's p99: unloaded {own_ref:.0f} ms, beside them {own_normal:.0f} ms "
              f"({own_normal / own_ref:.2f}x)", flush=True)
        checks += [(f"{count} slow: every normal request answered 200", set(statuses) == {200}, f"{len(normal)} requests"),
                   (f"{count} slow: the slow uploaders answered only 408", set(slow_answers) <= {408}, str(slow_answers)),
                   (f"{count} slow: normal p99 within 2x unloaded", own_normal <= 2 * own_ref,
                    f"{own_normal:.0f} ms vs 2 x {own_ref:.0f} ms")]
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    if not all(ok for _, ok, _ in checks):
        raise LivenessError("the slow-client test failed")


def limit_phase(args, faces, headers, flags, replicas, state=None):
    """Flood `replicas` services started with `flags` (+ --state): (statuses, {status: service ms}, client ms of 429s)."""
    state_flags = ["--state", state] if state else []
    started = [start_local(args.model, args.le, *flags, *state_flags) for _ in range(replicas)]
    try:
        flooded = asyncio.run(flood([url for _, url in started], faces, args.concurrency, args.flood_seconds, headers))
        served = {}
        for process, _ in started:
            process.log.seek(0)
            for (phase, status), values in service_latencies(process.log.read()).items():
                if phase == "flood":
                    served.setdefault(status, []).extend(values)
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.wait(timeout=30)
    return [s for s, _ in flooded], served, np.array([t for s, t in flooded if s == 429]) * 1000


def replicas_test(args):
    import shutil
    import tempfile

    from liveness.service.ratelimit import parse_rate
    from redis_server import RedisServer

    if shutil.which("redis-server") is None:
        raise LivenessError("--replicas needs Debian's redis-server (apt-get install redis-server)")
    item = parse_rate(args.rate_limit)
    limit = item.amount / item.get_expiry()
    key, keys = benchmark_key()
    headers = {"authorization": f"Bearer {key}"}
    flags = ["--scorers", 1, "--api-keys", keys.name, "--rate-limit", args.rate_limit]
    flags += ["--detector-type", args.detector_type] if args.detector_type else []
    faces = sample_faces()
    phases = {}
    try:
        print(f"[INFO] {args.replicas} replicas, --state memory:// (each counts alone): {args.concurrency} clients "
              f"for {args.flood_seconds:.0f} s at --rate-limit {args.rate_limit}...")
        phases[f"memory://, {args.replicas} replicas"] = limit_phase(args, faces, headers, flags, args.replicas)
        with tempfile.TemporaryDirectory() as folder:
            server = RedisServer(folder, in_test=False)
            try:
                print(f"[INFO] {args.replicas} replicas, --state {server.url}: the same clients spread over them...")
                phases[f"redis://, {args.replicas} replicas"] = limit_phase(args, faces, headers, flags,
                                                                             args.replicas, server.url)
            finally:
                server.stop()
    finally:
        os.remove(keys.name)
    print(f"| state | answers | admitted a second (limit {limit:g}) | 429 p50 / p99, service | 429 p50 / p99, client |")
    print("| --- | --- | --- | --- | --- |")
    rows = {}
    for name, (statuses, served, client_429) in phases.items():
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        admitted = len(statuses) - counts.get(429, 0) - counts.get(503, 0) - counts.get(0, 0)
        own = np.array(served.get(429, [np.nan]))
        rows[name] = (counts, admitted / args.flood_seconds, np.percentile(own, 50), np.percentile(own, 99))
        print(f"| {name} | {counts} | {admitted / args.flood_seconds:.2f} | {rows[name][2]:.1f} / {rows[name][3]:.1f} ms "
              f"| {np.percentile(client_429, 50):.1f} / {np.percentile(client_429, 99):.1f} ms |")
    (memory, shared) = rows.values()
    print(f"[INFO] the shared check adds p50 {shared[2] - memory[2]:+.1f} ms, p99 {shared[3] - memory[3]:+.1f} ms "
          f"to a refused request, as the service measures it")
    checks = [("only 200 and 429 answered", set(shared[0]) <= {200, 429}, str(sorted(shared[0]))),
              ("admitted rate across replicas within 10% of the limit", abs(shared[1] - limit) <= 0.1 * limit,
               f"{shared[1]:.2f} a second against {limit:g} ({shared[1] / limit:.3f}x)")]
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    if not all(ok for _, ok, _ in checks):
        raise LivenessError("the replicas test failed")


def service_latencies(log_text):
    """{(phase, status): [ms, ...]} from the service's JSON access log, the phase taken from the request ID."""
    import json

    out = {}
    for line in log_text.splitlines():
        if line.startswith("{") and '"request_id"' in line:
            entry = json.loads(line)
            phase = entry["request_id"].split("-", 1)[0]
            out.setdefault((phase, entry["status"]), []).append(entry["latency_ms"])
    return out


async def send_reference(url, faces, count, headers):
    results = []
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(count):
            t0 = time.perf_counter()
            status = (await client.post(f"{url}/v1/liveness", headers={**headers, "x-request-id": f"reference-{i}"},
                                        files={"file": ("face.jpg", faces[i % len(faces)])})).status_code
            results.append((status, time.perf_counter() - t0))
    return results


@exit_on_error
def main():
    args = parse_args()
    if args.slow:
        return slow_test(args)
    if args.flood:
        return flood_test(args)
    if args.replicas:
        return replicas_test(args)
    bodies = request_bodies(args.requests, args.malformed)
    print(f"[INFO] starting the service ({args.workers} worker(s), {args.scorers} scoring processes)...")
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
