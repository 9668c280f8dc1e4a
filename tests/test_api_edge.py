"""The service's HTTP edge against clients that abuse the connection itself: huge headers, silent or dribbling
sockets, a thousand idle connections, forged X-Forwarded-For, redirects built from Host, degenerate images."""
import resource
import socket
import time

import cv2
import httpx
import numpy as np
import pytest

from liveness_api import start_local


@pytest.fixture(scope="module")
def server(trained):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--header-timeout", 2,
                               "--rate-limit", "2/s", open_files=1024)
    yield {"url": url, "port": int(url.rsplit(":", 1)[1]), "process": process}
    process.terminate()
    process.wait(timeout=30)


def connect(server):
    return socket.create_connection(("127.0.0.1", server["port"]), timeout=10)


def test_a_megabyte_of_headers_gets_431_with_a_json_detail(server):
    for method, path in (("GET", "/healthz"), ("POST", "/v1/liveness")):
        response = httpx.request(method, server["url"] + path, headers={"X-Padding": "a" * (1 << 20)}, timeout=20)
        assert response.status_code == 431
        assert "headers over" in response.json()["detail"]
    assert httpx.get(server["url"] + "/healthz", headers={"X-Padding": "a" * 8000}).status_code == 200


def test_a_silent_connection_is_closed_within_the_header_deadline(server):
    with connect(server) as silent:
        started = time.time()
        assert silent.recv(100) == b""  # closed by the service, nothing answered: nothing was asked
        assert 1.5 < time.time() - started < 6


def test_headers_dribbled_past_the_deadline_get_408(server):
    with connect(server) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.time()
        answer = slow.recv(1000)
        assert answer.startswith(b"HTTP/1.1 408") and b'"detail"' in answer
        assert time.time() - started < 6


def test_eleven_hundred_idle_sockets_do_not_lock_out_a_client_at_1024_open_files(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"this test process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400) if hard == resource.RLIM_INFINITY
                                                else min(hard, max(soft, 1400)), hard))
    idle = []
    try:
        for _ in range(1100):
            idle.append(connect(server))
        started = time.time()
        response = httpx.get(server["url"] + "/healthz", timeout=10)
        assert response.status_code == 200 and time.time() - started < 3
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def admitted(url, forwarded):
    """How many of these requests got past the rate limit (anything but 429; the empty body itself is refused)."""
    codes = [httpx.post(f"{url}/v1/liveness", headers={"X-Forwarded-For": f}, content=b"",
                        timeout=10).status_code for f in forwarded]
    assert 500 not in codes
    return sum(code != 429 for code in codes)


def test_a_rotating_x_forwarded_for_gets_no_more_than_the_limit(server):
    time.sleep(1.1)  # a fresh window
    started = time.time()
    count = admitted(server["url"], [f"10.0.{i}.1" for i in range(12)])
    assert count <= 2 * (int(time.time() - started) + 2)  # 2/s for one client, whatever it claims to be
    assert count < 12


def test_forwarded_headers_count_only_from_a_proxy_the_operator_names(trained):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--rate-limit", "2/s",
                               "--forwarded-allow-ips", "127.0.0.1")
    try:
        # behind a named proxy each forwarded client has a limit of its own
        assert admitted(url, [f"10.0.{i}.1" for i in range(6)]) == 6
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_trailing_slash_gets_404_and_no_redirect_built_from_host(server):
    response = httpx.post(server["url"] + "/v1/liveness/", headers={"Host": "attacker.example"}, timeout=10)
    assert response.status_code == 404 and "location" not in response.headers


@pytest.mark.parametrize("height,width", [(2, 2), (1, 100), (100, 1), (1, 40000), (40000, 1)])
def test_tiny_and_strip_images_get_no_face_and_no_server_error(server, height, width):
    time.sleep(1.1)  # a fresh window of the module's rate limit
    png = cv2.imencode(".png", np.full((height, width, 3), 128, "uint8"))[1].tobytes()
    response = httpx.post(server["url"] + "/v1/liveness", files={"file": ("tiny.png", png)}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["faces"] == [] and response.json()["decision"] == "no_face"
