"""Liveness sessions over real HTTP: created with a key, fed frames with the session's token alone, decided once;
expiry, tokens, 409/404/401, limits, bad input, and two replicas sharing one Redis."""
import time

import cv2
import httpx
import numpy
import pytest

from liveness.data.sample import real_frames, replay_frames
from liveness.sessions.rule import SECURE_FRAME_THRESHOLD
from liveness_api import start_local
from redis_server import RedisServer

KEY, OTHER_KEY = "a-key-for-the-session-tests-1", "another-key-for-sessions-02"


def jpegs(kind, count):
    """`count` JPEG frames of the sample: live, replayed on a phone, or with no face ("none")."""
    if kind == "none":
        frames = [numpy.full((480, 640, 3), 128, numpy.uint8)] * count
    else:
        # one in four of the sample's 15 frames a second: about the page's pace, so 4 frames span a second
        made = real_frames(4 * count, (640, 480)) if kind == "real" else replay_frames(4 * count, (640, 480))
        frames = list(made)[::4]
    return [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text(f"{KEY} backend\n{OTHER_KEY} other-site\n")
    return path


@pytest.fixture(scope="module")
def server(trained, keys):
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--api-keys", keys,
                               "--session-ttl", 4, "--max-sessions-per-key", 3)
    yield url
    process.terminate()
    process.wait(timeout=30)


def create(url, key=KEY, **options):
    """A passive session (no challenge: these tests are about the counted frames; tests/test_challenge.py has
    the challenge's)."""
    options.setdefault("challenge", "none")
    return httpx.post(f"{url}/v1/sessions", json=options, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def send(url, session, data, token=None, pace=True):
    """One frame, sent no sooner after the last than the session asks (frame_interval_ms), as the page does."""
    if pace:
        time.sleep(session.get("frame_interval_ms", 0) / 1000 + 0.03)
    return httpx.post(f"{url}/v1/sessions/{session['id']}/frames", files={"file": ("frame.jpg", data)},
                      headers={"Authorization": f"Bearer {token or session['token']}"}, timeout=60)


def result(url, session, key=KEY):
    return httpx.get(f"{url}/v1/sessions/{session['id']}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_session_decides_once_it_has_its_frames_and_the_backend_reads_it(server):
    session = create(server, frames=4, audit_images=2).json()
    assert session["capture_url"] == f"/capture?session={session['id']}&token={session['token']}"
    assert session["frame_interval_ms"] == 300  # 4 frames span at least 0.9 s
    assert result(server, session).json()["status"] == "CREATED"
    answers = [send(server, session, data).json() for data in jpegs("real", 4)]
    progress = [a["session"] for a in answers]
    assert [p["frames_received"] for p in progress] == [1, 2, 3, 4]
    assert [p["status"] for p in progress] == ["IN_PROGRESS"] * 3 + ["SUCCEEDED"]
    assert progress[-1]["outcome"] == "done" and "decision" not in progress[-1]  # the page is not told, with keys
    read = result(server, session).json()
    assert read["status"] == "SUCCEEDED" and read["decision"] in ("real", "fake") and 0 <= read["live_frames"] <= 4
    point = read["operating_point"]
    assert point["name"] == "secure" and point["frame_threshold"] >= SECURE_FRAME_THRESHOLD
    assert len(read["frames"]) == 4 and all(0 <= f["score"] <= 1 and f["problem"] is None for f in read["frames"])
    assert len(read["audit_images"]) == 2 and read["reference_image"]["box"] == read["frames"][
        read["reference_image"]["frame"]]["box"]
    image = cv2.imdecode(__import__("numpy").frombuffer(
        __import__("base64").b64decode(read["audit_images"][0]["image_base64"]), "uint8"), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    late = send(server, session, jpegs("real", 1)[0])
    assert late.status_code == 409 and "detail" in late.json()


def test_no_answer_to_the_token_holder_carries_a_score(server):
    session = create(server, frames=3).json()
    frames = jpegs("real", 3)
    answers = [send(server, session, data).json() for data in [jpegs("none", 1)[0], *frames]]
    assert answers[0]["session"]["hint"] == "no_face" and answers[0]["session"]["frames_received"] == 0
    for answer in answers:
        text = str(answer)
        assert set(answer) == {"session"} and "score" not in text and "confidence" not in text, answer
    assert answers[1]["session"]["box"] is not None and answers[-1]["session"]["status"] == "SUCCEEDED"


def test_frames_sooner_than_a_cameras_pace_are_refused_and_not_counted(server):
    session = create(server, frames=3).json()
    frames = jpegs("real", 3)
    assert send(server, session, frames[0]).status_code == 200
    hurried = send(server, session, frames[1], pace=False)
    assert hurried.status_code == 429 and "pace" in hurried.json()["detail"]
    assert result(server, session).json()["frames_received"] == 1
    assert send(server, session, frames[1]).json()["session"]["frames_received"] == 2


def test_the_token_opens_its_session_and_nothing_else(server):
    session, other = create(server, frames=2).json(), create(server, frames=2).json()
    frame = jpegs("real", 1)[0]
    assert send(server, session, frame, token="not-the-token").status_code == 401
    assert send(server, other, frame, token=session["token"]).status_code == 401  # another session's token
    headers = {"Authorization": f"Bearer {session['token']}"}
    assert httpx.post(f"{server}/v1/liveness", files={"file": ("f.jpg", frame)}, headers=headers).status_code == 401
    assert httpx.get(f"{server}/v1/sessions/{session['id']}", headers=headers).status_code == 401
    assert httpx.post(f"{server}/v1/sessions", headers=headers).status_code == 401
    assert result(server, session, key=OTHER_KEY).status_code == 404  # another site's key sees no such session
    unknown = dict(session, id="00000000-0000-4000-8000-000000000000")
    assert send(server, unknown, frame).status_code == 404
    assert result(server, unknown).status_code == 404


def test_sessions_expire_and_a_key_holds_a_bounded_number(server):
    time.sleep(4.5)  # the earlier tests' open sessions expire
    opened = [create(server, frames=3) for _ in range(3)]
    assert [r.status_code for r in opened] == [201] * 3
    refused = create(server, frames=3)
    assert refused.status_code == 429 and "open sessions" in refused.json()["detail"]
    assert create(server, key=OTHER_KEY, frames=3).status_code == 201  # counted per key
    time.sleep(4.5)
    expired = opened[0].json()
    assert send(server, expired, jpegs("real", 1)[0]).status_code == 404
    assert result(server, expired).status_code == 404
    assert create(server, frames=3).status_code == 201  # expired sessions no longer count


def test_a_session_request_of_a_megabyte_gets_413_before_it_is_read(server):
    response = httpx.post(f"{server}/v1/sessions", content=b"{" + b" " * 1_000_000 + b"}",
                          headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"}, timeout=30)
    assert response.status_code == 413 and response.json()["detail"]


@pytest.mark.parametrize("body,headers", [(b"{not json", {"content-type": "application/json"}),
                                          (b'{"frames": 0}', {"content-type": "application/json"}),
                                          (b'{"frames": 100}', {"content-type": "application/json"}),
                                          (b'{"frames": 3, "audit_images": 9}', {"content-type": "application/json"}),
                                          (b'[1, 2]', {"content-type": "application/json"}),
                                          (b'{"frames": true}', {"content-type": "application/json"})])
def test_bad_session_options_get_422(server, body, headers):
    response = httpx.post(f"{server}/v1/sessions", content=body,
                          headers={"Authorization": f"Bearer {KEY}", **headers}, timeout=30)
    assert response.status_code == 422 and response.json()["detail"]


def real_frames_one():
    return next(real_frames(1, (640, 480)))


def test_bad_frames_get_4xx_and_cost_the_session_nothing(server):
    time.sleep(4.5)
    session = create(server, frames=2).json()
    url = f"{server}/v1/sessions/{session['id']}/frames"
    auth = {"Authorization": f"Bearer {session['token']}"}
    png = cv2.imencode(".png", real_frames_one())[1].tobytes()
    wide = cv2.imencode(".jpg", numpy.zeros((1080, 1921, 3), numpy.uint8))[1].tobytes()
    jpeg = jpegs("real", 1)[0]
    for response, status in ((httpx.post(url, content=b"not an image", headers={**auth, "content-type": "image/jpeg"}),
                              415),
                             (httpx.post(url, files={"file": ("f.jpg", b"\xff\xd8 broken")}, headers=auth), 415),
                             (httpx.post(url, files={"file": ("f.jpg", b"\xff\xd8\xff broken")}, headers=auth), 422),
                             (httpx.post(url, files={"file": ("big.jpg", b"\xff" * 2_100_000)}, headers=auth), 413),
                             (httpx.post(url, files={"file": ("f.png", png)}, headers=auth), 415),
                             (httpx.post(url, files={"file": ("wide.jpg", wide)}, headers=auth), 413),
                             (httpx.post(url, json={"image_base64": __import__("base64").b64encode(jpeg).decode()},
                                         headers=auth), 415)):
        assert response.status_code == status and response.json()["detail"], response.text
    assert result(server, session).json()["frames_received"] == 0
    assert httpx.post(f"{server}/v1/sessions/not-a-uuid/frames", headers=auth).status_code in (401, 404)


def test_two_replicas_sharing_one_redis_decide_as_one_process(trained, keys, tmp_path):
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    flags = ["--scorers", 1, "--api-keys", keys, "--state", redis.url]
    first, first_url = start_local(trained["model"], trained["le"], *flags)
    second, second_url = start_local(trained["model"], trained["le"], *flags)
    try:
        for kind in ("real", "fake"):
            frames = jpegs(kind, 6)
            alone = create(first_url, frames=6).json()
            for data in frames:
                send(first_url, alone, data)
            shared = create(second_url, frames=6).json()
            for i, data in enumerate(frames):  # frames alternated between the replicas
                assert send((first_url, second_url)[i % 2], shared, data).status_code == 200
            a, b = result(first_url, alone).json(), result(first_url, shared).json()
            assert b["status"] == "SUCCEEDED" and b["frames_received"] == 6
            assert (a["decision"], a["live_frames"], a["reason"]) == (b["decision"], b["live_frames"], b["reason"])
            assert result(second_url, shared).json()["decision"] == b["decision"]
            assert send(second_url, shared, frames[0]).status_code == 409
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=30)
        redis.stop()


def test_the_client_runs_one_session_per_recording_and_prints_the_figures(server, tmp_path):
    import json
    import os

    from conftest import run_script
    from liveness.data.sample import write_video

    time.sleep(4.5)  # the earlier tests' open sessions expire
    clips = {"real": str(tmp_path / "real" / "real.mov"), "fake": str(tmp_path / "fake" / "phone" / "fake.mp4")}
    for label, frames in (("real", real_frames(24, (640, 480), seed=7)), ("fake", replay_frames(24, (640, 480)))):
        os.makedirs(os.path.dirname(clips[label]))
        write_video(clips[label], frames)
    result = run_script("liveness_client.py", "--url", server, "--api-key", KEY, "--session", tmp_path, "--frames", 4,
                        "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"sessions", "apcer", "bpcer", "acer", "apcer_by_species", "retry_live", "retry_attack"}
    assert figures["sessions"] == 2 and figures["acer"] == (figures["apcer"] + figures["bpcer"]) / 2
    assert figures["apcer_by_species"] == {"phone": figures["apcer"]}  # the replay's folder names its species
    one = run_script("liveness_client.py", "--url", server, "--api-key", KEY, "--session", clips["real"], "--frames", 3)
    assert one.returncode == 0 and one.stdout.startswith(f"[INFO] {clips['real']}: "), one.stdout + one.stderr
    wrong_key = run_script("liveness_client.py", "--url", server, "--api-key", "nope", "--session", clips["real"])
    assert wrong_key.returncode == 1 and "[ERROR] cannot create a session: HTTP 401" in wrong_key.stderr


def test_a_published_session_is_one_folder_and_one_row(trained, tmp_path):
    import csv
    import json
    import os

    publish = tmp_path / "publish"
    process, url = start_local(trained["model"], trained["le"], "--scorers", 1, "--publish", publish)
    try:
        session = httpx.post(f"{url}/v1/sessions", json={"frames": 4, "audit_images": 2, "challenge": "none"},
                             timeout=30).json()
        for data in jpegs("real", 4):
            assert send(url, session, data).status_code == 200
        api = httpx.get(f"{url}/v1/sessions/{session['id']}", timeout=30).json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    folder = publish / "sessions" / session["id"]
    result = json.loads((folder / "result.json").read_text())
    assert result["decision"] == api["decision"] and len(result["frames"]) == 4
    saved = sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")
    assert saved == sorted({f"frame_{i:02d}.jpg" for i in [result["reference_frame"], *result["audit_frames"]]})
    with open(publish / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [os.path.join("sessions", session["id"])]  # no frame published alone
    assert rows[0]["decision"] == api["decision"] and int(rows[0]["faces"]) == 4


def test_a_default_session_asks_its_challenge_after_its_counted_frames_and_tells_no_score(server):
    from liveness.data.sample import head_movement_frames

    assert create(server, frames=3, challenge="blink").status_code == 422
    # the frames are drawn before the session starts: its 4 s must go to the frames, not to drawing them
    still = [cv2.imencode(".jpg", f)[1].tobytes() for f in head_movement_frames([], lead_s=4.0)]
    session = httpx.post(f"{server}/v1/sessions", json={"frames": 3},
                         headers={"Authorization": f"Bearer {KEY}"}, timeout=30).json()
    assert session["challenge"] == "head_movements"
    answers = []
    for index, data in enumerate(still):  # until the first step shows (this server's sessions live 4 s)
        time.sleep(0.31 if index < 3 else 0.1)
        answer = send(server, session, data, pace=False)
        while answer.status_code == 429:  # came sooner than a camera's pace after the last: the page waits
            time.sleep(0.1)
            answer = send(server, session, data, pace=False)
        answers.append(answer.json()["session"])
        if (answers[-1].get("challenge") or {}).get("prompt"):
            break
    assert [a["frames_received"] for a in answers[:3]] == [1, 2, 3]
    assert "challenge" not in answers[1] and answers[2]["challenge"]["prompt"] is None  # a pause first
    shown = answers[-1]["challenge"]
    assert shown["prompt"] in ("turn_left", "turn_right", "look_up") and shown["steps"] == 3 and shown["done"] == 0
    assert answers[-1]["status"] == "IN_PROGRESS" and all("score" not in str(a) for a in answers)
    assert result(server, session).json()["decision"] is None  # undecided until every step is met or one missed
