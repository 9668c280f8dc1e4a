"""The real service, served by uvicorn on a free loopback port, spoken to over HTTP."""
import base64
import concurrent.futures
import csv
import hashlib
import os
import struct
import time
import zlib

import cv2
import httpx
import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from liveness.data.sample import real_frames, replay_frames
from liveness_api import start_local


def start_server(trained, *flags):
    return start_local(trained["model"], trained["le"], *flags)


@pytest.fixture(scope="module")
def service(trained, tmp_path_factory):
    publish = tmp_path_factory.mktemp("publish")
    process, url = start_server(trained, "--publish", publish, "--max-upload-mb", 1)
    yield {"url": url, "publish": publish, "model": trained["model"]}
    process.terminate()
    process.wait(timeout=30)


def jpeg(frame):
    return cv2.imencode(".jpg", frame)[1].tobytes()


@pytest.fixture(scope="module")
def images():
    return {"real": jpeg(next(real_frames(1, (640, 480)))), "fake": jpeg(next(replay_frames(1, (640, 480)))),
            "blank": cv2.imencode(".png", np.full((240, 320, 3), 90, "uint8"))[1].tobytes()}


def post_file(url, data, name="face.jpg"):
    return httpx.post(f"{url}/v1/liveness", files={"file": (name, data)}, timeout=60)


def post_base64(url, data):
    return httpx.post(f"{url}/v1/liveness", json={"image_base64": base64.b64encode(data).decode()}, timeout=60)


def test_a_multipart_upload_gets_every_face_scored(service, images):
    response = post_file(service["url"], images["real"])
    assert response.status_code == 200
    answer = response.json()
    assert len(answer["faces"]) == 1
    face = answer["faces"][0]
    (x0, y0, x1, y1) = face["box"]
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
    assert 0.0 <= face["score"] <= 1.0
    assert face["decision"] == ("real" if face["score"] >= answer["threshold"] else "fake")
    assert answer["threshold"] == 0.5 and answer["band"] is None
    assert answer["model"]["sha256"] == hashlib.sha256(open(service["model"], "rb").read()).hexdigest()
    assert answer["model"]["trained_at"]


def test_base64_json_gives_the_same_answer_as_multipart(service, images):
    a = post_file(service["url"], images["fake"]).json()
    b = post_base64(service["url"], images["fake"]).json()
    assert a["faces"] == b["faces"]


def test_an_image_without_a_face_is_answered_with_no_faces(service, images):
    response = post_file(service["url"], images["blank"], "blank.png")
    assert response.status_code == 200
    assert response.json()["faces"] == [] and response.json()["decision"] == "no_face"


def png_header_only(width, height):
    """A PNG whose header claims width x height pixels, with no pixel data behind it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("make,status", [
    (lambda url, img: httpx.post(f"{url}/v1/liveness", files={"file": ("big.jpg", os.urandom(1_200_000))}), 413),
    (lambda url, img: post_file(url, png_header_only(8000, 6000)), 413),
    (lambda url, img: post_file(url, b"hello, not an image"), 415),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", content=img["real"], headers={"content-type": "image/jpeg"}), 415),
    (lambda url, img: post_file(url, img["real"][: len(img["real"]) // 3]), 422),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", json={"image_base64": "@@not base64@@"}), 422),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", json={"picture": "AAAA"}), 422),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", content=b"{not json", headers={"content-type": "application/json"}), 422),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", files={"other": ("a.jpg", img["real"])}), 422),
    (lambda url, img: httpx.post(f"{url}/v1/liveness", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}), 422),
], ids=["over-size-limit", "over-40-megapixels", "not-an-image", "wrong-content-type", "truncated-jpeg",
        "bad-base64", "json-without-image", "broken-json", "multipart-without-file", "broken-multipart"])
def test_bad_requests_get_a_json_4xx(service, images, make, status):
    response = make(service["url"], images)
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str)
    assert httpx.get(f"{service['url']}/healthz").status_code == 200  # and the process lives on


def test_concurrent_requests_on_several_scorers_score_as_alone(service, images):
    alone = {k: post_file(service["url"], images[k]).json()["faces"] for k in ("real", "fake")}
    kinds = ["real", "fake"] * 8
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda k: post_file(service["url"], images[k]), kinds))
    for kind, response in zip(kinds, answers):
        assert response.status_code == 200
        got, want = response.json()["faces"], alone[kind]
        assert [f["box"] for f in got] == [f["box"] for f in want]
        np.testing.assert_allclose([f["score"] for f in got], [f["score"] for f in want], rtol=1e-5, atol=1e-6)


def scorer_processes(service_pid):
    """The pids of the service's scoring processes (its children running multiprocessing's spawn_main)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                spawned = b"spawn_main" in f.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == service_pid and spawned:
            found.append(int(entry))
    return found


def nice_of(pid, tid=None):
    with open(f"/proc/{pid}/task/{tid or pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def test_a_scoring_process_that_dies_costs_one_503_and_is_replaced(trained, images):
    process, url = start_server(trained, "--scorers", 1)
    try:
        assert post_file(url, images["real"]).status_code == 200
        (scorer,) = scorer_processes(process.pid)
        # the event loop's thread yields the CPU to scoring; the scoring process keeps the usual priority
        assert nice_of(process.pid) > nice_of(scorer) == os.getpriority(os.PRIO_PROCESS, 0)
        os.kill(scorer, 9)
        time.sleep(0.5)  # killed while idle: the watchdog notices at once, the next request need not
        started = time.time()
        died = post_file(url, images["real"])
        assert died.status_code == 503 and "restarted" in died.json()["detail"]
        assert time.time() - started < 3  # at once, not after a replacement has loaded its model
        deadline = time.time() + 120
        while (again := post_file(url, images["real"])).status_code == 503 and time.time() < deadline:
            time.sleep(1)  # the replacement loads its model meanwhile
        assert again.status_code == 200 and len(again.json()["faces"]) == 1
        replaced = scorer_processes(process.pid)
        assert len(replaced) == 1 and replaced != [scorer]
    finally:
        process.terminate()
        process.wait(timeout=30)
    deadline = time.time() + 10  # the scorers end with the service
    while os.path.exists(f"/proc/{replaced[0]}") and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{replaced[0]}")


def test_health_and_readiness_answer_and_the_docs_stay_closed_without_the_flag(service):
    assert httpx.get(f"{service['url']}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{service['url']}/readyz").json()["status"] == "ready"
    assert httpx.get(f"{service['url']}/docs").status_code == 404
    assert httpx.get(f"{service['url']}/openapi.json").status_code == 404


def test_the_docs_describe_both_body_forms_with_the_flag(trained):
    process, url = start_server(trained, "--docs", "--scorers", 1)
    try:
        assert httpx.get(f"{url}/docs").status_code == 200
        spec = httpx.get(f"{url}/openapi.json").json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    body = spec["paths"]["/v1/liveness"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}


def test_the_publish_folder_files_every_scored_image_with_its_row(service, images):
    before = len(read_metadata(service["publish"]))
    answer = post_file(service["url"], images["fake"]).json()
    rows = read_metadata(service["publish"])
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["decision"] == answer["decision"] and int(row["faces"]) == len(answer["faces"])
    assert (service["publish"] / row["file"]).read_bytes() == images["fake"]
    assert row["file"].startswith(answer["decision"] + "/")
    files = [os.path.join(r, f) for r, _, fs in os.walk(service["publish"]) for f in fs if f != "metadata.csv"]
    assert sorted(os.path.relpath(f, service["publish"]) for f in files) == sorted(r["file"] for r in rows)


def read_metadata(folder):
    path = folder / "metadata.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_full_publish_folder_stops_saving_not_serving(trained, images, tmp_path):
    process, url = start_server(trained, "--scorers", 1, "--publish", tmp_path, "--publish-max-mb", len(images["real"]) * 1.5 / 1e6)
    try:
        answers = [post_file(url, images[k]) for k in ("real", "real", "fake")]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(read_metadata(tmp_path)) == 1


def test_the_service_scores_like_evaluate_liveness(service, images, trained, tmp_path):
    dataset = tmp_path / "set"
    for kind in ("real", "fake"):
        os.makedirs(dataset / kind)
        (dataset / kind / f"subjS_{kind}.jpg").write_bytes(images[kind])
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", dataset,
                        "--detect", "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "eval" / "scores.csv", newline="") as f:
        evaluated = {row["label"]: row for row in csv.DictReader(f)}
    for kind in ("real", "fake"):
        face = post_file(service["url"], images[kind]).json()["faces"][0]
        row = evaluated[kind]
        assert face["box"] == [int(row[k]) for k in ("startX", "startY", "endX", "endY")]
        assert face["score"] == pytest.approx(float(row["score"]), abs=1e-5)


def test_bad_service_flags_are_one_line_errors(trained, tmp_path):
    assert_one_line_error(run_script("liveness_api.py", "-m", trained["model"], "-l", trained["le"], "--band", 0.8, 0.2), "--band")
    assert_one_line_error(run_script("liveness_api.py", "-m", tmp_path / "none.keras", "-l", trained["le"]), "model not found")
