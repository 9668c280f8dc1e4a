"""The capture page in a real browser: Debian's chromium and chromium-driver, driven by Selenium, with Chromium's
fake camera playing a clip made from the built-in sample. .ci/run installs them; without them the tests skip,
except where LIVENESS_REQUIRE_BROWSER=1 (set by .ci/run) makes their absence a failure."""
import os
import shutil
import time

import cv2
import httpx
import numpy as np
import pytest

from liveness.data.sample import real_frames, replay_frames
from liveness_api import start_local

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def need_browser():
    if CHROMIUM and DRIVER:
        try:
            import selenium  # noqa: F401
            return
        except ImportError:
            pass
    if os.environ.get("LIVENESS_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium, chromium-driver or selenium is missing (.ci/run installs them)")
    pytest.skip("chromium, chromium-driver or selenium is missing (apt-get install chromium chromium-driver)")


def write_y4m(path, frames):
    """A Y4M clip (the raw format Chromium's fake camera plays, in a loop) of BGR frames."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F8:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return str(path)


@pytest.fixture(scope="module")
def camera_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("camera")
    live = list(real_frames(16, (640, 480), seed=11))
    return {"live": write_y4m(folder / "live.y4m", live),
            # a recording replayed on a phone: its face moves on the screen (a photo on one is a still picture,
            # which the session asks to retry: tests/test_session_rule.py)
            "replay": write_y4m(folder / "replay.y4m", replay_frames(16, (640, 480), seed=12,
                                                                    video=real_frames(16, (640, 480), seed=13))),
            "dark": write_y4m(folder / "dark.y4m", [(f * 0.15).astype(np.uint8) for f in live])}  # seen, too dark


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    """LivenessNet trained as run_sample.sh trains it: ROIs the SSD gathers from a live and a replay clip of the
    built-in sample (other frames than the camera plays), long enough to tell the two apart: at 40 epochs one
    training in four scored the camera's live clip under 0.5 (training on CPU threads is not repeatable), at 80
    four of four scored it 1.0 and the replay clip at most 0.02."""
    from conftest import run_script
    from liveness.data.sample import write_video

    need_browser()
    out = tmp_path_factory.mktemp("sample_model")
    write_video(str(out / "real.mov"), real_frames(40, (640, 480), seed=21))
    write_video(str(out / "fake.mp4"), replay_frames(40, (640, 480), seed=22))
    for label, clip in (("real", "real.mov"), ("fake", "fake.mp4")):
        gathered = run_script("gather_examples.py", "-i", out / clip, "-o", out / "dataset" / label, "-s", 1)
        assert gathered.returncode == 0, gathered.stderr
    model, le = out / "liveness.keras", out / "le.pickle"
    result = run_script("train_liveness.py", "--dataset", out / "dataset", "--model", model, "--le", le, "--epochs", 80,
                        "--plot", out / "plot.png", "--report", out / "report.txt", "--no-export")
    assert result.returncode == 0, result.stderr
    return {"model": str(model), "le": str(le)}


@pytest.fixture(scope="module")
def server(sample_model):
    # balanced: the model's own threshold, whatever the secure point is chosen at (a LivenessNet trained in seconds
    # on one synthetic face need not reach the secure point); these tests are about the page, which shows whatever the
    # API decided
    process, url = start_local(sample_model["model"], sample_model["le"], "--scorers", 1,
                               "--operating-point", "balanced")
    yield url
    process.terminate()
    process.wait(timeout=30)


def browser(clip=None, deny=False, size="800,1000"):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-device-for-media-stream",
                 f"--window-size={size}"):
        options.add_argument(flag)
    if clip:
        options.add_argument(f"--use-file-for-fake-video-capture={clip}")
    if deny:
        options.add_experimental_option("prefs", {"profile.default_content_setting_values.media_stream_camera": 2})
    else:
        options.add_argument("--use-fake-ui-for-media-stream")  # the camera prompt answered yes
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def wait_for(driver, attribute, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = driver.execute_script(f"return document.body.dataset.{attribute} || null")
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {attribute} after {seconds} s: the page says {driver.find_element('id', 'status').text!r}")


def run_session(server, clip, size="800,1000"):
    """(what the page shows, the API's result for its session), the session made by the backend."""
    session = httpx.post(f"{server}/v1/sessions", json={"frames": 8, "challenge": "none"}, timeout=30).json()
    driver = browser(clip, size=size)
    try:
        driver.get(server + session["capture_url"])
        outcome = wait_for(driver, "outcome")
        page = driver.execute_script("""
            const box = document.getElementById('decision').getBoundingClientRect();
            const g = document.getElementById('overlay');
            const pixels = g.width && g.height ? g.getContext('2d').getImageData(0, 0, g.width, g.height).data : [];
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) painted += pixels[i] > 0;
            return {decision: document.body.dataset.decision || null, reason: document.body.dataset.reason,
                    shown: document.getElementById('decision').textContent, bottom: box.bottom, top: box.top,
                    height: window.innerHeight, width: document.documentElement.scrollWidth,
                    viewport: window.innerWidth, painted: painted, address: location.href};""")
    finally:
        driver.quit()
    return outcome, page, httpx.get(f"{server}/v1/sessions/{session['id']}", timeout=30).json()


def test_the_live_clip_ends_on_live_as_the_api_decided(server, camera_clips):
    outcome, page, api = run_session(server, camera_clips["live"])
    assert api["status"] == "SUCCEEDED" and api["frames_received"] == 8
    assert outcome == "done" and page["decision"] == api["decision"] == "real" and page["shown"] == "Live"


def test_the_replay_clip_ends_on_not_live_as_the_api_decided(server, camera_clips):
    outcome, page, api = run_session(server, camera_clips["replay"])
    assert outcome == "done" and page["decision"] == api["decision"] == "fake" and page["shown"] == "Not live"


def test_a_dark_clip_ends_on_try_again_with_its_reason(server, camera_clips):
    outcome, page, api = run_session(server, camera_clips["dark"])
    assert outcome == "retry" and page["decision"] == api["decision"] == "retry" and page["reason"] == api["reason"]
    assert api["reason"] == "too_dark" and "try again" in page["shown"].lower()


@pytest.mark.parametrize("size", ["1280,800", "390,844"])
def test_the_outcome_shows_without_scrolling_and_no_box_is_left_when_the_camera_stops(server, camera_clips, size):
    outcome, page, _ = run_session(server, camera_clips["live"], size=size)
    assert outcome == "done" and page["shown"], page["reason"]
    assert 0 <= page["top"] and page["bottom"] <= page["height"], page  # in view, at a laptop's or a phone's size
    assert page["width"] <= page["viewport"]  # nothing wider than the screen
    assert page["painted"] == 0  # the overlay is cleared: no stale box once the camera stops
    assert "token" not in page["address"] and "session=" not in page["address"]  # the token left the address bar


def test_a_link_whose_session_is_not_an_id_builds_no_request(server, camera_clips):
    driver = browser(camera_clips["live"])
    try:
        driver.get(server + "/capture?session=../liveness%3F&token=x")
        assert wait_for(driver, "error", 30) == "token"
        sent = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/v1/'))")
        assert sent == []
    finally:
        driver.quit()


def test_a_denied_camera_gets_a_plain_message(server, camera_clips):
    driver = browser(camera_clips["live"], deny=True)
    try:
        driver.get(server + "/capture")  # no keys: the page makes its own session
        assert wait_for(driver, "error", 30) == "denied"
        assert "Camera access was denied" in driver.find_element("id", "status").text
    finally:
        driver.quit()


def test_a_screenshot_of_the_page_mid_capture(server, camera_clips, tmp_path):
    """The page while it captures, kept for the README (docs/images/capture.png is this screenshot)."""
    session = httpx.post(f"{server}/v1/sessions", json={"frames": 30, "challenge": "none"}, timeout=30).json()
    driver = browser(camera_clips["live"], size="480,900")  # a phone's portrait screen
    try:
        driver.get(server + session["capture_url"])
        deadline = time.time() + 60
        while driver.execute_script("return document.getElementById('progress').value") < 4:
            assert time.time() < deadline
            time.sleep(0.1)
        shot = tmp_path / "capture.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 400 and image.std() > 10
    if os.environ.get("LIVENESS_SAVE_SCREENSHOT"):
        shutil.copy(shot, os.environ["LIVENESS_SAVE_SCREENSHOT"])


STEPS_IN_ORDER = ("turn_left", "turn_right", "look_up")


@pytest.fixture(scope="module")
def challenge_server(sample_model):
    """The service whose every challenge asks STEPS_IN_ORDER after the shortest pauses (a wrapper swaps its random
    source: the production service reads no switch for it), so a clip can answer it."""
    wrapper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripted_challenge_api.py")
    process, url = start_local(sample_model["model"], sample_model["le"], "--scorers", 1, "--operating-point",
                               "balanced", "--scripted-steps", ",".join(STEPS_IN_ORDER), script=wrapper)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def movement_clips(tmp_path_factory):
    from liveness.data.sample import head_movement_frames

    folder = tmp_path_factory.mktemp("movements")
    # still while the counted frames go and the first prompt comes, then each movement, as a person asked would
    return {"asked": write_y4m(folder / "asked.y4m", head_movement_frames(STEPS_IN_ORDER, lead_s=3.0, between_s=1.2)),
            "still": write_y4m(folder / "still.y4m", head_movement_frames([], lead_s=12.0))}


def run_challenge(server, clip, size="800,1000"):
    """(what the page showed while it asked: [(prompt, arrow, status)], what it shows at the end, the API's
    result), for a default session (its challenge on) made by the backend."""
    session = httpx.post(f"{server}/v1/sessions", json={"frames": 8}, timeout=30).json()
    assert session["challenge"] == "head_movements"
    driver = browser(clip, size=size)
    asked = []
    try:
        driver.get(server + session["capture_url"])
        deadline = time.time() + 90
        while not driver.execute_script("return document.body.dataset.outcome || null"):
            assert time.time() < deadline, driver.find_element("id", "status").text
            seen = driver.execute_script(
                "return [document.body.dataset.prompt || '', document.getElementById('prompt').textContent,"
                " document.getElementById('status').textContent, document.getElementById('status').getAttribute("
                "'aria-live'), document.getElementById('prompt').getBoundingClientRect().bottom <= innerHeight]")
            if seen[0] and (not asked or asked[-1][0] != seen[0]):
                asked.append(tuple(seen))
            time.sleep(0.05)
        shown = driver.execute_script(
            "return {outcome: document.body.dataset.outcome, reason: document.body.dataset.reason, decision: "
            "document.body.dataset.decision || null, text: document.getElementById('decision').textContent, "
            "arrow: document.getElementById('prompt').textContent}")
    finally:
        driver.quit()
    return asked, shown, httpx.get(f"{server}/v1/sessions/{session['id']}", timeout=30).json()


@pytest.mark.parametrize("size", ["1280,800", "390,844"])
def test_the_page_asks_each_step_with_an_arrow_and_words_and_a_person_doing_them_is_live(challenge_server,
                                                                                        movement_clips, size):
    asked, shown, api = run_challenge(challenge_server, movement_clips["asked"], size)
    assert [a[0] for a in asked] == list(STEPS_IN_ORDER), asked  # one step at a time, in the server's order
    assert [a[1] for a in asked] == ["\u2190", "\u2192", "\u2191"]  # the video is a mirror: left is left
    assert all(a[2].startswith(("Turn your head", "Look up")) and a[3] == "polite" and a[4] for a in asked)
    assert api["status"] == "SUCCEEDED" and [m["step"] for m in api["challenge"]["met"]] == list(STEPS_IN_ORDER)
    assert shown["outcome"] == "done" and shown["decision"] == api["decision"] == "real", (shown, api)
    assert shown["arrow"] == ""  # no prompt is left once the check ends


def test_a_person_who_does_not_move_when_asked_is_told_what_to_do(challenge_server, movement_clips):
    asked, shown, api = run_challenge(challenge_server, movement_clips["still"])
    assert [a[0] for a in asked] == ["turn_left"]
    assert api["decision"] == "retry" and api["reason"] == shown["reason"] == "missed_turn_left"
    assert shown["outcome"] == "retry" and "Turn your head to your left when the arrow shows" in shown["text"]
