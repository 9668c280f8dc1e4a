"""Hostile and careless clients over real HTTP on loopback: raw sockets where a client must misbehave.

Every loop here is bounded in count and in time.
"""
import base64
import json
import socket
import threading
import time

import cv2
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import assert_one_line_error, run_script
from liveness.data.sample import real_frames
from liveness.service.api_keys import digest
from liveness_api import start_local

BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def image():
    return cv2.imencode(".jpg", next(real_frames(1, (640, 480))))[1].tobytes()


@pytest.fixture(scope="module")
def stale(tmp_path_factory):
    """A publish folder as a service killed while writing leaves it: half-written hidden files."""
    publish = tmp_path_factory.mktemp("publish")
    (publish / "real").mkdir()
    (publish / "real" / ".20260101T000000_abcd.jpg.tmp").write_bytes(b"\xff" * 300_000)
    (publish / ".other.png.tmp").write_bytes(b"\x00" * 200_000)
    (publish / "real" / "kept.jpg").write_bytes(b"\xff\xd8 a finished image")
    return publish


@pytest.fixture(scope="module")
def server(trained, stale):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--max-pending", 2,
                               "--body-timeout", BODY_TIMEOUT, "--publish", stale, "--publish-max-mb", 0.4)
    yield {"url": url, "process": process, "port": int(url.rsplit(":", 1)[1])}
    process.terminate()
    process.wait(timeout=30)


def service_log(process):
    process.log.seek(0)
    return process.log.read()


def request_head(port, length, content_type="application/json"):
    return (f"POST /v1/liveness HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def status_of(sock, timeout):
    """The status code of the answer on `sock`, or None if none came within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        head = sock.recv(4096)
    except (socket.timeout, ConnectionError):
        return None
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None


def v1_statuses(url):
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return {sample.labels["status"]: sample.value for family in families if family.name == "liveness_requests"
            for sample in family.samples if sample.name.endswith("_total") and sample.labels["path"] == "/v1/liveness"}


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_a_hundred_thousand_deep_gets_422(server, opening):
    body = opening * 100_000
    answer = httpx.post(f"{server['url']}/v1/liveness", content=body, headers={"content-type": "application/json"},
                        timeout=30)
    assert answer.status_code == 422 and "image_base64" in answer.json()["detail"]
    assert "RecursionError" not in service_log(server["process"])


def test_a_dropped_upload_is_no_server_error_and_logs_one_line(server):
    before = v1_statuses(server["url"])
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=5) as sock:
        sock.sendall(request_head(server["port"], 50_000, "multipart/form-data; boundary=x"))
        sock.sendall(b"--x\r\n" + b"a" * 1000)
    deadline = time.time() + 10
    while v1_statuses(server["url"]) == before and time.time() < deadline:
        time.sleep(0.2)
    after = v1_statuses(server["url"])
    new = {status: after[status] - before.get(status, 0) for status in after if after[status] != before.get(status, 0)}
    assert new == {"499": 1.0}
    log = service_log(server["process"])
    assert "ClientDisconnect" not in log and "Traceback" not in log
    assert sum('"status": 499' in line for line in log.splitlines()) == 1


def test_slow_bodies_and_a_short_body_get_408_while_a_normal_client_is_answered(server, image):
    slow = []
    for _ in range(8):  # more than --max-pending: were they holding scoring slots, nobody else would get one
        sock = socket.create_connection(("127.0.0.1", server["port"]), timeout=5)
        sock.sendall(request_head(server["port"], 2000))
        slow.append(sock)
    stop = threading.Event()

    def trickle():  # a byte every half second on each, for at most the deadline and a little
        for _ in range(int(2 * BODY_TIMEOUT) + 4):
            if stop.wait(0.5):
                return
            for sock in slow:
                try:
                    sock.send(b" ")
                except OSError:
                    pass

    trickler = threading.Thread(target=trickle)
    started = time.time()
    trickler.start()
    try:
        normal = [httpx.post(f"{server['url']}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=30)
                  for _ in range(3)]
        assert [a.status_code for a in normal] == [200, 200, 200]
        codes = [status_of(sock, BODY_TIMEOUT + 5 - (time.time() - started)) for sock in slow]
        assert codes == [408] * 8 and time.time() - started < BODY_TIMEOUT + 5
    finally:
        stop.set()
        trickler.join()
        for sock in slow:
            sock.close()
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=5) as short:
        short.sendall(request_head(server["port"], 1000) + b'{"image_base64": "')  # 18 of 1000 bytes, then silence
        started = time.time()
        assert status_of(short, BODY_TIMEOUT + 5) == 408 and time.time() - started < BODY_TIMEOUT + 3


def test_half_written_publish_files_are_removed_at_start_and_never_counted(server, stale, image):
    assert not list(stale.rglob("*.tmp")) and (stale / "real" / "kept.jpg").exists()
    assert "removed 2 half-written image(s)" in service_log(server["process"])
    # 500 KB of stale files would already be over the 0.4 MB cap; without them the image is saved
    answer = httpx.post(f"{server['url']}/v1/liveness", files={"file": ("face.jpg", image)}, timeout=30)
    assert answer.status_code == 200
    deadline = time.time() + 5
    while len([p for p in stale.rglob("*.jpg") if p.name != "kept.jpg"]) < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert len([p for p in stale.rglob("*.jpg") if p.name != "kept.jpg"]) >= 1


def test_base64_wrapped_at_76_columns_is_accepted(server, image):
    encoded = base64.encodebytes(image).decode()  # what the `base64` command writes: lines of 76
    assert "\n" in encoded
    answer = httpx.post(f"{server['url']}/v1/liveness", json={"image_base64": encoded}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["faces"]) == 1


def test_two_file_parts_get_422_and_an_rfc2231_filename_is_a_file(server, image):
    two = httpx.post(f"{server['url']}/v1/liveness", files=[("file", ("a.jpg", image)), ("file", ("b.jpg", image))],
                     timeout=30)
    assert two.status_code == 422 and "2 'file' parts" in two.json()["detail"]
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''f%C3%A4ce.jpg\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--b--\r\n")
    answer = httpx.post(f"{server['url']}/v1/liveness", content=body,
                        headers={"content-type": "multipart/form-data; boundary=b"}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["faces"]) == 1


def test_the_415_message_names_the_formats_that_are_decoded(server):
    answer = httpx.post(f"{server['url']}/v1/liveness", files={"file": ("x.txt", b"plain text, no image")}, timeout=30)
    assert answer.status_code == 415
    for name in ("JPEG", "PNG", "WebP", "GIF", "JPEG 2000", "AVIF"):
        assert name in answer.json()["detail"]


@pytest.mark.parametrize("line, words", [
    ("a" * 64 + " raw-hex", ["SHA-256 without its prefix"]),
    ("SHA256:" + "a" * 64 + " upper", ["lower case"]),
    ("sha256:" + "a" * 63 + " short", ["64 hex digits"]),
    (f"sha256:{digest('a-key-used-twice-here').hex()} one\na-key-used-twice-here two", ["two names"]),
])
def test_key_file_mistakes_are_refused_at_start_in_one_line(trained, tmp_path, line, words):
    keys = tmp_path / "keys.txt"
    keys.write_text(line + "\n")
    result = run_script("liveness_api.py", "-m", trained["model"], "-l", trained["le"], "--api-keys", keys)
    assert_one_line_error(result, *words)


def test_every_answer_of_the_hostile_tests_was_below_500(server):
    statuses = v1_statuses(server["url"])
    assert statuses and all(int(float(status)) < 500 for status in statuses), statuses
    assert json.dumps(statuses)  # nothing odd in the labels
