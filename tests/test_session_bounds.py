"""Bounds a session's sender cannot push past, in this process and in a real Redis: open sessions per owner and in
all, frame bytes per owner and in all, frames dropped when a session decides, and a session that expires while
it decides stays gone (404, never a key without expiry). Then the same over HTTP without API keys: sessions
counted per client address, and a session id alone reads no face image."""
import json
import time

import cv2
import httpx
import numpy as np
import pytest

from liveness.errors import ApiError
from liveness.sessions.store import KEY_PREFIX, SessionSettings, SessionStore
from liveness_api import start_local
from redis_server import RedisServer

LIMITS = SessionSettings(ttl=2.0, max_open=2, max_total=3, owner_bytes=3000, total_bytes=5000)
SIGNATURE = {"pixels": "0" * 32, "patch": ""}


@pytest.fixture(params=["memory", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        yield SessionStore(LIMITS)
        return
    import redis

    server = RedisServer(tmp_path)
    client = redis.Redis.from_url(server.url)
    yield SessionStore(LIMITS, client, (redis.RedisError, OSError))
    server.stop()


def status_of(work):
    with pytest.raises(ApiError) as refused:
        work()
    return refused.value.status


def frame(store, session, size, arrived):
    return store.add_frame(session["id"], {"score": 0.9, "problem": None}, SIGNATURE, b"x" * size, 0.1, arrived)


def test_open_sessions_are_bounded_per_owner_and_in_all(store):
    first = [store.create("site-a", 2, 1) for _ in range(2)]
    assert status_of(lambda: store.create("site-a", 2, 1)) == 429
    store.create("site-b", 2, 1)
    assert status_of(lambda: store.create("site-c", 2, 1)) == 503  # everyone's ceiling
    now = time.time()
    frame(store, first[0], 10, now)
    frame(store, first[0], 10, now + 0.2)
    store.finish(first[0]["id"], "site-a", {"frame_count": 2}, [])
    store.create("site-c", 2, 1)  # a decided session no longer counts as open


def test_frame_bytes_and_pace_are_bounded(store):
    a, b = store.create("site-a", 5, 1), store.create("site-b", 5, 1)
    now = time.time()
    assert frame(store, a, 1400, now) == 1
    assert status_of(lambda: frame(store, a, 100, now + 0.05)) == 429  # sooner than a camera's pace
    assert frame(store, a, 1400, now + 0.2) == 2
    assert status_of(lambda: frame(store, a, 1400, now + 0.4)) == 429  # the owner's 3000 bytes
    assert frame(store, b, 1500, now) == 1
    assert status_of(lambda: frame(store, b, 1000, now + 0.2)) == 503  # everyone's 5000 bytes
    assert store.get(a["id"])["frame_count"] == 2


def test_deciding_drops_the_frames_but_the_kept_images(store):
    session = store.create("site-a", 3, 1)
    now = time.time()
    for i in range(3):
        frame(store, session, 1000, now + 0.2 * i)
    records, images = store.frames(session["id"])
    assert len(records) == len(images) == 3
    assert store.finish(session["id"], "site-a", {"frame_count": 3, "kept": [1]}, [(1, b"kept")])
    assert not store.finish(session["id"], "site-a", {"frame_count": 3}, [])  # a session decides once
    assert store.frames(session["id"]) == ([], [])
    assert store.kept(session["id"], [1]) == [(1, b"kept")]
    assert store.get(session["id"])["frame_count"] == 3
    assert frame(store, store.create("site-a", 3, 1), 2990, now) == 1  # the dropped frames no longer count


def test_a_session_that_expires_while_deciding_stays_gone(store):
    session = store.create("site-a", 1, 1)
    frame(store, session, 10, time.time())
    time.sleep(2.1)
    assert status_of(lambda: store.finish(session["id"], "site-a", {"frame_count": 1}, [(0, b"x")])) == 404
    assert store.get(session["id"]) is None
    if store.shared:
        for key in store.client.scan_iter(f"{KEY_PREFIX}:*"):
            assert store.client.pttl(key) > 0, key  # nothing is left without an expiry


@pytest.fixture(scope="module")
def open_server(trained):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--max-sessions-per-key", 2)
    yield url
    process.terminate()
    process.wait(timeout=30)


def from_address(address):
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def test_without_keys_sessions_are_counted_per_client_address(open_server):
    with from_address("127.0.0.1") as one, from_address("127.0.0.2") as other:
        assert [one.post(f"{open_server}/v1/sessions", json={}).status_code for _ in range(3)] == [201, 201, 429]
        assert other.post(f"{open_server}/v1/sessions", json={}).status_code == 201


def test_without_keys_a_session_id_reads_no_face_image_and_no_score(open_server):
    from liveness.data.sample import real_frames

    with from_address("127.0.0.3") as client:
        session = client.post(f"{open_server}/v1/sessions",
                              json={"frames": 2, "audit_images": 2, "challenge": "none"}).json()
        for image in real_frames(4, (640, 480), seed=4):  # 2 frames, and up to 2 more while too few pictures show
            time.sleep(session["frame_interval_ms"] / 1000 + 0.03)
            answer = client.post(f"{open_server}/v1/sessions/{session['id']}/frames",
                                 files={"file": ("f.jpg", cv2.imencode(".jpg", image)[1].tobytes())},
                                 headers={"Authorization": f"Bearer {session['token']}"}).json()["session"]
            if answer["status"] == "SUCCEEDED":
                break
        assert answer["status"] == "SUCCEEDED" and answer["decision"] in ("real", "fake", "retry")  # the try-out
        read = httpx.get(f"{open_server}/v1/sessions/{session['id']}", timeout=30).json()
    assert read["decision"] == answer["decision"]
    assert "reference_image" not in read and "audit_images" not in read and "score" not in json.dumps(read)
    assert httpx.get(f"{open_server}/v1/sessions/..%2Fliveness", timeout=30).status_code == 404


def test_the_capture_page_may_be_framed_only_by_the_named_origins(open_server, trained):
    page = httpx.get(f"{open_server}/capture", timeout=30)
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--frame-ancestors",
                               "'self' https://shop.example")
    try:
        csp = httpx.get(f"{url}/capture", timeout=30).headers["content-security-policy"]
        assert "frame-ancestors 'self' https://shop.example" in csp
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_one_client_sending_large_frames_leaves_room_for_another(trained, tmp_path):
    """2 MB frames of a face, from one key, for as long as it is allowed: its bytes stop at its cap (429) and a
    second site still gets a session whose frames count."""
    from liveness.data.sample import real_frames

    keys = tmp_path / "keys.txt"
    keys.write_text("greedy-site-key-000000000001 greedy\nother-site-key-0000000000002 other\n")
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--api-keys", keys,
                               "--session-owner-mb", 6, "--session-total-mb", 10)
    rng = np.random.default_rng(0)
    face = cv2.resize(next(real_frames(1, (640, 480), seed=2)), (1440, 1080))
    try:
        statuses = []
        greedy = {"Authorization": "Bearer greedy-site-key-000000000001"}
        for _ in range(3):
            session = httpx.post(f"{url}/v1/sessions", json={"frames": 30, "challenge": "none"}, headers=greedy,
                                 timeout=30).json()
            for _ in range(4):
                noisy = np.clip(face + rng.normal(0, 40, face.shape), 0, 255).astype(np.uint8)
                data = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 97])[1].tobytes()
                assert 1.2e6 < len(data) < 2e6
                time.sleep(0.06)
                statuses.append(httpx.post(f"{url}/v1/sessions/{session['id']}/frames", files={"file": ("f.jpg", data)},
                                           headers={"Authorization": f"Bearer {session['token']}"}, timeout=60))
        codes = [r.status_code for r in statuses]
        assert codes.count(200) in (3, 4) and 429 in codes  # 6 MB at most, then refused
        assert "frame bytes" in next(r for r in statuses if r.status_code == 429).json()["detail"]
        other = {"Authorization": "Bearer other-site-key-0000000000002"}
        session = httpx.post(f"{url}/v1/sessions", json={"frames": 2, "challenge": "none"}, headers=other,
                             timeout=30).json()
        data = cv2.imencode(".jpg", next(real_frames(1, (640, 480), seed=3)))[1].tobytes()
        answer = httpx.post(f"{url}/v1/sessions/{session['id']}/frames", files={"file": ("f.jpg", data)},
                            headers={"Authorization": f"Bearer {session['token']}"}, timeout=60)
        assert answer.status_code == 200 and answer.json()["session"]["frames_received"] == 1
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_photo_sent_as_every_frame_is_asked_to_move_and_never_decided_real(open_server):
    from liveness.data.sample import real_frames
    from liveness.sessions.flow import STILL_EXTRA

    photo = cv2.imencode(".jpg", next(real_frames(1, (640, 480), seed=4)))[1].tobytes()
    with from_address("127.0.0.4") as client:
        session = client.post(f"{open_server}/v1/sessions", json={"frames": 4, "challenge": "none"}).json()

        def send():
            time.sleep(session["frame_interval_ms"] / 1000 + 0.03)
            return client.post(f"{open_server}/v1/sessions/{session['id']}/frames", files={"file": ("f.jpg", photo)},
                               headers={"Authorization": f"Bearer {session['token']}"})

        limit = STILL_EXTRA * 4
        answers = [send().json()["session"] for _ in range(limit)]
        # a person is asked to move; a photo cannot
        assert [a["hint"] for a in answers[3:limit - 1]] == ["turn_head"] * (limit - 4)
        assert answers[-1]["outcome"] == "retry" and answers[-1]["reason"] == "duplicate_frame"
        assert answers[-1]["decision"] == "retry"
        assert send().status_code == 409  # STILL_EXTRA times its frames at most
    read = httpx.get(f"{open_server}/v1/sessions/{session['id']}", timeout=30).json()
    assert read["decision"] == "retry"
    assert [f["problem"] for f in read["frames"]][1:] == ["duplicate_frame"] * (limit - 1)
