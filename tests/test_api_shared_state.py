"""Limits that hold for the whole service: several processes and replicas counting in one real Redis."""
import asyncio
import itertools
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, assert_one_line_error, run_script
from liveness.data.sample import real_frames
from liveness_api import start_local
from redis_server import RedisServer, free_port

RATE, SECONDS = 5, 3.0  # --rate-limit 5/s, hammered for 3 s
KEY, OTHER_KEY = "a-key-for-the-rate-test-0001", "a-key-for-the-publish-test-02"


@pytest.fixture(scope="module")
def model(trained, tmp_path_factory):
    """The trained LivenessNet exported to LiteRT, as a user serves it: each service starts in seconds."""
    folder = tmp_path_factory.mktemp("served")
    shutil.copy(trained["model"], folder / "liveness.keras")
    result = subprocess.run([sys.executable, "-m", "liveness.export", folder / "liveness.keras"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return {"model": str(folder / "liveness.tflite"), "le": trained["le"]}


@pytest.fixture(scope="module")
def image():
    return cv2.imencode(".jpg", next(real_frames(1, (640, 480))))[1].tobytes()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def serve(model, *flags):
    return start_local(model["model"], model["le"], "--scorers", 1, "--detector-type", "ssd", *flags)


def stop(*processes):
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def replicas(model, image, redis_server, tmp_path_factory):
    """Two service processes on two ports, one Redis, one publish folder: replicas behind a load balancer."""
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text(f"{KEY} rate-test\n{OTHER_KEY} publish-test\n")
    publish = tmp_path_factory.mktemp("publish")
    flags = ["--state", redis_server.url, "--rate-limit", f"{RATE}/s", "--api-keys", keys,
             "--publish", publish, "--publish-max-mb", len(image) * 4.5 / 1e6]
    first, first_url = serve(model, *flags)
    second, second_url = serve(model, *flags)
    yield {"urls": [first_url, second_url], "publish": publish}
    stop(first, second)


def hammer(urls, seconds, clients=4, **headers):
    """Requests back to back for `seconds` from `clients` threads, round robin over `urls`, each on a new
    connection: several at once, so that even a slow machine asks faster than the limit admits.

    The body is not an image, so an admitted request is answered 415 at once: (statuses in the order the
    requests were numbered, elapsed seconds).
    """
    numbers, answered, started = itertools.count(), {}, time.perf_counter()

    def client():
        while time.perf_counter() - started < seconds:
            number = next(numbers)
            answer = httpx.post(f"{urls[number % len(urls)]}/v1/liveness", content=b"not an image", timeout=10,
                                headers={"content-type": "image/jpeg", **headers})
            answered[number] = answer.status_code

    with ThreadPoolExecutor(clients) as pool:
        for running in [pool.submit(client) for _ in range(clients)]:
            running.result()
    return [answered[n] for n in sorted(answered)], time.perf_counter() - started


def assert_one_limit(statuses, elapsed):
    """Admitted requests match one limit of RATE a second, within the moving window's one-second rounding."""
    admitted = sum(s != 429 for s in statuses)
    assert set(statuses) <= {415, 429}, set(statuses)
    assert statuses.count(429) > admitted  # the client was faster than the limit
    assert RATE * (elapsed - 1) <= admitted <= RATE * (elapsed + 1), (admitted, elapsed)


def test_two_replicas_sharing_one_redis_admit_one_limit_for_a_key(replicas):
    statuses, elapsed = hammer(replicas["urls"], SECONDS, authorization=f"Bearer {KEY}")
    assert_one_limit(statuses, elapsed)
    for first in (0, 1):  # both replicas admitted some and refused some: the count is shared, not split
        assert {415, 429} <= set(statuses[first::2])


def test_the_publish_quota_holds_across_replicas_that_share_the_folder(replicas, image):
    answers = []
    for i in range(10):
        answers.append(httpx.post(f"{replicas['urls'][i % 2]}/v1/liveness", files={"file": ("face.jpg", image)},
                                  headers={"x-api-key": OTHER_KEY}, timeout=60).status_code)
        time.sleep(1.0 / RATE + 0.02)  # under the rate limit: every image is scored
    assert answers == [200] * 10
    saved = [f for _, _, files in os.walk(replicas["publish"]) for f in files
             if f not in ("metadata.csv", ".publish-id")]
    assert len(saved) == 4  # a cap of 4.5 images holds 4, whichever replica saved them


def metric_totals(url):
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "liveness_requests_total" and s.labels["path"] == "/v1/liveness"}


def test_workers_share_the_limit_and_metrics_count_every_worker(model, redis_server):
    process, url = serve(model, "--workers", 2, "--state", redis_server.url[:-1] + "1", "--rate-limit", f"{RATE}/s")
    try:
        statuses, elapsed = hammer([url], SECONDS)
        time.sleep(0.5)  # a request is counted just after its answer is sent
        readings = [metric_totals(url) for _ in range(6)]  # each read answered by whichever worker accepts it
    finally:
        stop(process)
    assert_one_limit(statuses, elapsed)
    expected = {(("path", "/v1/liveness"), ("status", str(s))): float(statuses.count(s)) for s in set(statuses)}
    assert all(reading == expected for reading in readings), (readings, expected)


def test_a_redis_lost_while_serving_gives_503_then_recovery(model, tmp_path):
    server = RedisServer(tmp_path)
    process, url = serve(model, "--state", server.url, "--rate-limit", "100/s")
    try:
        post = lambda: httpx.post(f"{url}/v1/liveness", content=b"x", headers={"content-type": "image/jpeg"},
                                  timeout=10)
        assert post().status_code == 415
        server.stop()
        lost = [post() for _ in range(5)]
        server.start()
        deadline, back = time.time() + 10, None
        while time.time() < deadline and (back := post()).status_code == 503:
            time.sleep(0.2)
    finally:
        stop(process)
        server.stop()
    assert [a.status_code for a in lost] == [503] * 5 and lost[0].headers["retry-after"] == "1"
    assert "rate limit" in lost[0].json()["detail"]
    assert back.status_code == 415
    process.log.seek(0)
    log = process.log.read()
    assert log.count("is unreachable") == 1 and log.count("answers again") == 1


@pytest.mark.parametrize("flags,words", [
    (["--workers", 2, "--rate-limit", "2/s"], ["--workers 2", "--rate-limit", "--state redis://"]),
    (["--workers", 3, "--publish", "DIR"], ["--workers 3", "--publish-max-mb", "--state redis://"]),
    (["--state", "postgres://db/1"], ["--state", "memory://"]),
])
def test_limits_that_would_multiply_or_a_bad_state_refuse_to_start(model, tmp_path, flags, words):
    flags = [tmp_path if f == "DIR" else f for f in flags]
    assert_one_line_error(run_script("liveness_api.py", "-m", model["model"], "-l", model["le"], *flags), *words)


def test_an_unreachable_redis_at_start_is_one_line_and_exit_1(model):
    result = run_script("liveness_api.py", "-m", model["model"], "-l", model["le"], "--rate-limit", "2/s",
                        "--state", f"redis://127.0.0.1:{free_port()}/0")
    assert_one_line_error(result, "unreachable", "--state")
    assert result.returncode == 1


def test_memory_state_forgets_clients_whose_window_has_passed():
    from liveness.service.ratelimit import RateLimit
    from liveness.service.shared_state import SharedState

    async def many_addresses():
        state = SharedState("memory://")
        limit = RateLimit("5/s", state)
        for i in range(2000):  # 2,000 addresses, one request each
            assert (await limit.allow(f"10.0.{i // 256}.{i % 256}")) == (True, 0)
        held = len(state.storage.events)
        await asyncio.sleep(math.ceil(limit.item.get_expiry()) + 0.2)
        await limit.allow("10.9.9.9")
        for _ in range(50):  # the expiry pass runs beside the requests
            await asyncio.sleep(0.05)
            if len(state.storage.events) <= 1:
                break
        return held, len(state.storage.events)

    held, after = asyncio.run(many_addresses())
    assert held == 2000 and after <= 1


def test_the_publish_quota_holds_when_redis_is_flushed_or_restarted_empty(model, image, tmp_path):
    import redis

    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    publish = tmp_path / "publish"
    process, url = serve(model, "--state", server.url, "--publish", publish, "--publish-max-mb",
                         len(image) * 4.5 / 1e6)

    def post(times):
        for _ in range(times):
            assert httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=60).status_code == 200

    def saved():
        return len([f for _, _, files in os.walk(publish) for f in files if f not in ("metadata.csv", ".publish-id")])

    try:
        post(2)
        assert saved() == 2
        redis.Redis.from_url(server.url).flushall()  # the count is gone: it is taken again from the folder
        post(4)
        assert saved() == 4  # a cap of 4.5 images holds 4, not 2 + a fresh 4
        server.stop()
        server.start()  # a Redis that comes back empty
        deadline = time.time() + 20
        while httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=60).status_code != 200:
            assert time.time() < deadline
            time.sleep(0.5)
        post(2)
        assert saved() == 4
    finally:
        stop(process)
        server.stop()
    assert "counted again from the folder" in (process.log.seek(0) or process.log.read())
