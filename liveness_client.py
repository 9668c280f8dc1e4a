"""Post every image of a labelled folder to the liveness service and score its answers; or run sessions.

    python liveness_client.py test_images --url http://127.0.0.1:8000
    python liveness_client.py --session videos/me.mov                  # one session from a recording
    python liveness_client.py --session recordings/ --frames 10 --json  # one session per recording

The folder holds real/ (live faces) and fake/ (attacks) images. Each image's decision is the
service's (any fake face makes the image fake); images with no face, or only unsure faces, are
counted apart. Prints accuracy, APCER, BPCER and the failures.

With --session, a recording (a video or an image set's folder) is one passive liveness session (POST
/v1/sessions with "challenge": "none": a recording made without prompts cannot answer a challenge, so this
measures the passive rule): its frames are sent in order at the capture page's pace (about 8 a second, as the
camera gave them) until the session has counted --frames of them, and the session's result is printed. Given a
folder with real/ and fake/ holding recordings, it runs one session
per recording and prints session-level APCER, BPCER (live sessions not decided real; a retry is never
right), ACER, the retry rates of live and of attack sessions, and the APCER of each attack species, where
fake/ holds a folder per species (fake/phone/, fake/screen/; --json: one JSON object).
"""
import argparse
import json
import os

import httpx

from liveness.errors import LivenessError, exit_on_error
from liveness.faces.media import list_images


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", help="folder with real/ and fake/ images")
    ap.add_argument("--session", metavar="RECORDING", default=None,
                    help="run liveness sessions instead: a video or image set, or a folder with real/ and fake/ "
                         "holding them")
    ap.add_argument("--frames", type=int, default=10, help="with --session: a session's frame count")
    ap.add_argument("--api-key", default=os.environ.get("LIVENESS_API_KEY"),
                    help="the service's API key, if it has keys (default: $LIVENESS_API_KEY)")
    ap.add_argument("--json", action="store_true", help="with --session: the figures as one JSON object")
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
    ap.add_argument("--bona-fide", default="real", help="the live class folder; every other folder is an attack")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    args = ap.parse_args()
    if (args.folder is None) == (args.session is None):
        ap.error("give a folder of labelled images, or --session RECORDING")
    if not 1 <= args.frames <= 30:
        raise LivenessError("--frames must be from 1 to 30")
    return args


def labelled_images(folder):
    if not os.path.isdir(folder):
        raise LivenessError(f"folder not found: {folder}")
    found = [(label, path) for label in sorted(os.listdir(folder)) if os.path.isdir(os.path.join(folder, label))
             for path in list_images(os.path.join(folder, label))]
    if not found:
        raise LivenessError(f"{folder} has no class subfolders with images (expected {folder}/real, {folder}/fake)")
    return found


def post(client, url, path, key=None):
    with open(path, "rb") as f:
        response = client.post(f"{url}/v1/liveness", files={"file": (os.path.basename(path), f)},
                               headers={"Authorization": f"Bearer {key}"} if key else {})
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}: {response.json().get('detail', '') if response.content else ''}"
    return response.json(), None


def rate(flags):
    return f"{sum(flags) / len(flags):.4f} ({sum(flags)}/{len(flags)})" if flags else "n/a"


PAGE_INTERVAL_S = 0.125  # the capture page sends a frame every 125 ms at most, or as the service asks
PAGE_FPS = 8


def camera_frames(recording):
    """The recording as a camera would give the page, about PAGE_FPS frames a second: a video's frames at that
    rate, an image set's (already spread out) one by one; each as the page's JPEG."""
    import cv2

    from liveness.faces.media import read_frames

    step = 1
    if os.path.isfile(recording):
        capture = cv2.VideoCapture(recording)
        fps = capture.get(cv2.CAP_PROP_FPS) or PAGE_FPS
        capture.release()
        step = max(1, int(round(fps / PAGE_FPS)))
    found = False
    for _, frame in read_frames(recording, select=lambda i: i % step == 0):
        if frame is not None:
            found = True
            yield cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    if not found:
        raise LivenessError(f"no frames could be read from {recording}")


def run_session(client, url, recording, count, key):
    """The result of one session fed `recording` at the page's pace until it decides (GET /v1/sessions/{id})."""
    import time

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    created = client.post(f"{url}/v1/sessions", json={"frames": count, "challenge": "none"}, headers=headers)
    if created.status_code != 201:
        raise LivenessError(f"cannot create a session: HTTP {created.status_code} {created.text[:200]}")
    session = created.json()
    interval = max(PAGE_INTERVAL_S, session.get("frame_interval_ms", 0) / 1000 + 0.015)
    for data in camera_frames(recording):
        sent = time.perf_counter()
        answer = client.post(f"{url}/v1/sessions/{session['id']}/frames", files={"file": ("frame.jpg", data)},
                             headers={"Authorization": f"Bearer {session['token']}"})
        if answer.status_code == 429:  # too soon, or over a bound: the page waits and sends its next frame
            time.sleep(interval)
            continue
        if answer.status_code != 200:
            raise LivenessError(f"a frame of {recording} was refused: HTTP {answer.status_code} {answer.text[:200]}")
        if answer.json()["session"]["status"] == "SUCCEEDED":
            break
        time.sleep(max(0.0, interval - (time.perf_counter() - sent)))
    result = client.get(f"{url}/v1/sessions/{session['id']}", headers=headers).json()
    if result.get("status") != "SUCCEEDED":  # the recording ended before the session had its frames
        result = {**result, "decision": "retry", "reason": result.get("reason") or "frames_missing"}
    return result


def session_figures(results):
    """Session-level APCER (and per attack species), BPCER (retries in), ACER and retry rates from
    [(is live, decision, species)]: a retry is never right for a live person and never accepts an attack."""
    live = [d for is_live, d, _ in results if is_live]
    attack = [d for is_live, d, _ in results if not is_live]
    apcer = sum(d == "real" for d in attack) / len(attack) if attack else None
    bpcer = sum(d != "real" for d in live) / len(live) if live else None
    acer = (apcer + bpcer) / 2 if None not in (apcer, bpcer) else None
    by_species = {}
    for is_live, decision, species in results:
        if not is_live:
            by_species.setdefault(species, []).append(decision == "real")
    return {"sessions": len(results), "apcer": apcer, "bpcer": bpcer, "acer": acer,
            "apcer_by_species": {k: sum(v) / len(v) for k, v in sorted(by_species.items())},
            "retry_live": sum(d == "retry" for d in live) / len(live) if live else None,
            "retry_attack": sum(d == "retry" for d in attack) / len(attack) if attack else None}


def labelled_recordings(folder):
    """[(label, species, recording)] of a folder of label folders (real/, fake/) holding recordings (videos or
    image sets), each attack recording either directly in its label folder (species "attack") or in a folder
    named after its species (fake/phone/, fake/screen/, fake/print/)."""
    from liveness.faces.media import is_image_set, is_video, list_media

    found = []
    for label in sorted(os.listdir(folder)):
        within = os.path.join(folder, label)
        if not os.path.isdir(within):
            continue
        for path in list_media(within):
            if is_video(path) or is_image_set(path):
                parts = os.path.relpath(path, within).split(os.sep)
                found.append((label, parts[0] if len(parts) > 1 else "attack", path))
    return found


def sessions_main(args, url):
    from liveness.faces.media import is_image_set

    target = args.session
    if not os.path.exists(target):
        raise LivenessError(f"recording not found: {target}")
    labelled = os.path.isdir(target) and not is_image_set(target)
    if labelled:
        recordings = labelled_recordings(target)
        if not recordings:
            raise LivenessError(f"{target} has no real/ and fake/ folders of recordings (videos or image sets)")
    else:
        recordings = [(None, None, target)]
    results = []
    with httpx.Client(timeout=args.timeout) as client:
        client.get(f"{url}/readyz").raise_for_status()
        for label, species, path in recordings:
            result = run_session(client, url, path, args.frames, args.api_key)
            results.append((label, species, path, result))
            if not args.json:
                reason = f" ({result['reason']})" if result.get("reason") else ""
                kind = f" ({label})" if label else ""
                print(f"[INFO] {path}{kind}: {result['decision']}{reason}, {result.get('live_frames')} of "
                      f"{result.get('judged')} judged frames live")
    if not labelled:
        if args.json:
            print(json.dumps({k: v for k, v in results[0][3].items() if k not in ("reference_image", "audit_images")}))
        return
    figures = session_figures([(label == args.bona_fide, result["decision"], species)
                               for label, species, _, result in results])
    if args.json:
        print(json.dumps(figures))
        return
    print(f"[INFO] {figures['sessions']} sessions of {args.frames} frames: " + ", ".join(
        f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in figures.items()
        if k not in ("sessions", "apcer_by_species")))
    if figures["apcer_by_species"]:
        print("[INFO] APCER by attack species: " + ", ".join(
            f"{k} {v:.4f}" for k, v in figures["apcer_by_species"].items()))


@exit_on_error
def main():
    args = parse_args()
    if args.session is not None:
        try:
            return sessions_main(args, args.url.rstrip("/"))
        except httpx.HTTPError as error:
            raise LivenessError(f"cannot reach the service at {args.url}: {error}") from None
    images = labelled_images(args.folder)
    url = args.url.rstrip("/")
    accepted, correct, failures, undecided = {}, [], [], []
    try:
        with httpx.Client(timeout=args.timeout) as client:
            client.get(f"{url}/readyz").raise_for_status()
            for label, path in images:
                answer, error = post(client, url, path, args.api_key)
                decision = answer["decision"] if answer else error
                if answer is None or decision in ("no_face", "not_sure"):
                    undecided.append((path, decision))
                    continue
                is_bona = label == args.bona_fide
                said_real = decision == "real"
                accepted.setdefault(label, []).append(said_real)
                correct.append(said_real == is_bona)
                if said_real != is_bona:
                    scores = ", ".join(f"{f['score']:.4f}" for f in answer["faces"])
                    failures.append(f"{path}: {label} answered {decision} (scores {scores})")
    except httpx.HTTPError as error:
        raise LivenessError(f"cannot reach the service at {url}: {error}") from None

    print(f"[INFO] {len(images)} images posted, {len(correct)} decided, {len(undecided)} without a decision")
    print(f"[INFO] accuracy {rate(correct)}")
    for label, flags in accepted.items():
        if label == args.bona_fide:
            print(f"[INFO] BPCER {rate([not f for f in flags])}")
        else:
            print(f"[INFO] APCER[{label}] {rate(flags)}")
    for line in failures:
        print(f"[FAIL] {line}")
    for path, why in undecided:
        print(f"[UNDECIDED] {path}: {why}")


if __name__ == "__main__":
    main()
