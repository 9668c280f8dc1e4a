"""The service in front of clients, over real HTTP: API keys, rate limits, request IDs, the access log, metrics."""
import base64
import json
import time

import cv2
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import assert_one_line_error, run_script
from liveness.data.sample import real_frames
from liveness.service.api_keys import digest
from liveness_api import start_local

KEY, OTHER_KEY = "k" * 8 + "-correct-horse-battery", "a-second-key-for-the-exam-app"


@pytest.fixture(scope="module")
def image():
    return cv2.imencode(".jpg", next(real_frames(1, (640, 480))))[1].tobytes()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "api_keys.txt"
    path.write_text(f"# the door kiosk, stored as its hash\nsha256:{digest(KEY).hex()} door-kiosk\n{OTHER_KEY} exam-app\n")
    return path


@pytest.fixture(scope="module")
def guarded(trained, keys_file, tmp_path_factory):
    publish = tmp_path_factory.mktemp("publish")
    process, url = start_local(trained["model"], trained["le"], "--api-keys", keys_file, "--rate-limit", "2/s",
                               "--publish", publish)
    yield {"url": url, "process": process, "publish": publish}
    process.terminate()
    process.wait(timeout=30)


def post(url, data, timeout=60, **headers):
    return httpx.post(f"{url}/v1/liveness", files={"file": ("face.jpg", data)}, headers=headers, timeout=timeout)


def metric_values(url, **headers):
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=30).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def wait_for_tokens(seconds=1.1):
    time.sleep(seconds)  # the 2/s window empties


def test_no_key_or_a_wrong_key_gets_401_and_a_right_key_gets_200(guarded, image):
    wait_for_tokens()
    missing = post(guarded["url"], image)
    wrong = post(guarded["url"], image, authorization="Bearer not-the-key-at-all-123")
    assert missing.status_code == wrong.status_code == 401
    assert "API key" in missing.json()["detail"] and missing.headers["www-authenticate"] == "Bearer"
    assert post(guarded["url"], image, authorization=f"Bearer {KEY}").status_code == 200
    wait_for_tokens()
    assert post(guarded["url"], image, **{"x-api-key": OTHER_KEY}).status_code == 200  # the other header, a raw key


def test_health_checks_and_metrics_stay_open_and_docs_stay_closed(guarded):
    assert httpx.get(f"{guarded['url']}/healthz").status_code == 200
    assert httpx.get(f"{guarded['url']}/readyz").status_code == 200
    assert httpx.get(f"{guarded['url']}/metrics").status_code == 200
    assert httpx.get(f"{guarded['url']}/docs").status_code == 404


def test_the_rate_limit_answers_429_with_retry_after_then_lets_the_key_in_again(guarded, image):
    wait_for_tokens(1.5)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(5) as pool:  # at once: a window of 2 cannot empty in between
        answers = list(pool.map(lambda _: post(guarded["url"], image, authorization=f"Bearer {KEY}"), range(5)))
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.status_code in (200, 429) for a in answers)
    wait = int(refused[0].headers["retry-after"])
    assert wait >= 1
    assert post(guarded["url"], image, **{"x-api-key": OTHER_KEY}).status_code == 200  # a window per key
    time.sleep(wait)
    assert post(guarded["url"], image, authorization=f"Bearer {KEY}").status_code == 200


def test_a_request_id_is_echoed_when_sane_and_made_otherwise(guarded):
    given = httpx.get(f"{guarded['url']}/healthz", headers={"x-request-id": "ticket-42.a"})
    assert given.headers["x-request-id"] == "ticket-42.a"
    insane = httpx.get(f"{guarded['url']}/healthz", headers={"x-request-id": "a b\tc" + "x" * 100})
    made = httpx.get(f"{guarded['url']}/healthz")
    assert len(insane.headers["x-request-id"]) == 32 and len(made.headers["x-request-id"]) == 32
    assert insane.headers["x-request-id"] != made.headers["x-request-id"]


def test_the_access_log_has_a_line_per_request_and_never_the_image(guarded, image):
    wait_for_tokens()
    sent = base64.b64encode(image).decode()
    answer = httpx.post(f"{guarded['url']}/v1/liveness", json={"image_base64": sent}, timeout=60,
                        headers={"authorization": f"Bearer {KEY}", "x-request-id": "log-check-1"})
    assert answer.status_code == 200
    broken = httpx.post(f"{guarded['url']}/v1/liveness", json={"image_base64": sent[:-7] + "!!"}, timeout=60,
                        headers={"authorization": f"Bearer {OTHER_KEY}", "x-request-id": "log-check-2"})
    assert broken.status_code == 422
    time.sleep(0.3)
    log = guarded["process"].log
    log.seek(0)
    text = log.read()
    assert sent[:40] not in text and sent[-40:] not in text  # no base64 of the image anywhere
    lines = {e["request_id"]: e for e in (json.loads(x) for x in text.splitlines() if x.startswith("{"))}
    ok, bad = lines["log-check-1"], lines["log-check-2"]
    assert (ok["key"], ok["status"], ok["decision"], ok["faces"]) == ("door-kiosk", 200, answer.json()["decision"], 1)
    assert (bad["key"], bad["status"], bad["decision"]) == ("exam-app", 422, None)
    assert ok["latency_ms"] > 0 and ok["path"] == "/v1/liveness"


def test_the_publish_folder_records_the_key_name_never_the_key(guarded):
    rows = (guarded["publish"] / "metadata.csv").read_text()
    assert "door-kiosk" in rows and KEY not in rows and OTHER_KEY not in rows and digest(KEY).hex() not in rows


def test_metrics_parse_and_move_by_what_was_served(guarded, image):
    wait_for_tokens()
    before = metric_values(guarded["url"])
    ok = post(guarded["url"], image, authorization=f"Bearer {KEY}")
    denied = post(guarded["url"], image)
    after = metric_values(guarded["url"])
    assert (ok.status_code, denied.status_code) == (200, 401)

    def moved(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("liveness_requests_total", path="/v1/liveness", status="200") == 1
    assert moved("liveness_requests_total", path="/v1/liveness", status="401") == 1
    assert moved("liveness_decisions_total", decision=ok.json()["decision"]) == 1
    assert moved("liveness_faces_per_image_count") == 1 and moved("liveness_faces_per_image_sum") == 1
    assert moved("liveness_request_seconds_count", path="/v1/liveness") == 2
    sha = ok.json()["model"]["sha256"]
    assert after[("liveness_model_info", (("file", ok.json()["model"]["file"]), ("sha256", sha)))] == 1


def test_private_metrics_need_a_key(trained, keys_file):
    process, url = start_local(trained["model"], trained["le"], "--api-keys", keys_file, "--metrics-private", "--scorers", 1)
    try:
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"x-api-key": KEY}).status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_past_max_pending_the_service_answers_503_not_a_longer_queue(trained, image):
    import concurrent.futures

    process, url = start_local(trained["model"], trained["le"], "--max-pending", 1, "--scorers", 1)
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post(url, image), range(16)))
        codes = {a.status_code for a in answers}
        assert codes <= {200, 503} and 200 in codes and 503 in codes
        assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("flags,words", [(["--rate-limit", "fast"], ["--rate-limit"]),
                                         (["--metrics-private"], ["--api-keys"]),
                                         (["--api-keys", "/nonexistent/keys.txt"], ["keys.txt"])])
def test_bad_security_flags_get_one_line(trained, flags, words):
    result = run_script("liveness_api.py", "-m", trained["model"], "-l", trained["le"], *flags)
    assert_one_line_error(result, *words)


def test_a_keys_file_with_a_short_key_is_refused(trained, tmp_path):
    (tmp_path / "keys.txt").write_text("secret door\n")
    result = run_script("liveness_api.py", "-m", trained["model"], "-l", trained["le"], "--api-keys", tmp_path / "keys.txt")
    assert_one_line_error(result, "line 1", "16 characters")


def test_without_keys_the_service_says_so_at_start_up(trained):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1)
    try:
        process.log.seek(0)
        assert "[WARNING] no --api-keys" in process.log.read()
    finally:
        process.terminate()
        process.wait(timeout=30)
