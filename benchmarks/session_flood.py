"""One client pushing 2 MB session frames for 8 s: how much the service grows, and whether another still gets in.

    python benchmarks/session_flood.py                    # the recommended fusion, the service's default bounds

The service runs as shipped (--api-keys, default session bounds). The greedy site opens sessions and sends a
2 MB JPEG of a face (noise over the sample's portrait at 1440x1080, so it is counted and kept) to each as fast
as the camera's pace allows, for --seconds, opening a new session whenever one is refused or full. Prints what
its frames got (200, 429, 503), the service's resident memory (its process and its scorers, from /proc) before
and after, and whether a second site then gets a session whose frame counts. Target: at most 300 MB of growth.
"""
import argparse
import collections
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402
from serving import rss_mb, scorer_pids  # noqa: E402

GREEDY, OTHER = "greedy-site-key-000000000001", "other-site-key-0000000000002"


def big_frames(count, rng):
    """`count` different JPEGs of about 2 MB, each a face the session counts."""
    from liveness.data.sample import real_frames

    face = cv2.resize(next(real_frames(1, (640, 480), seed=2)), (1440, 1080))
    out = []
    for _ in range(count):
        noisy = np.clip(face + rng.normal(0, 45, face.shape), 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes())
    return out


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    from liveness_api import start_local

    frames = big_frames(12, np.random.default_rng(0))
    keys = os.path.join(tempfile.mkdtemp(), "keys.txt")
    with open(keys, "w") as f:
        f.write(f"{GREEDY} greedy\n{OTHER} other\n")
    process, url = start_local(args.model, args.le, "--api-keys", keys)
    pids = [process.pid, *scorer_pids(process.pid)]
    statuses = collections.Counter()
    try:
        before = sum(rss_mb(pids))
        with httpx.Client(timeout=60) as client:
            greedy, session, sent = {"Authorization": f"Bearer {GREEDY}"}, None, 0
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline:
                if session is None:
                    made = client.post(f"{url}/v1/sessions", json={"frames": 30, "challenge": "none"}, headers=greedy)
                    statuses[f"create {made.status_code}"] += 1
                    session = made.json() if made.status_code == 201 else None
                    if session is None:
                        time.sleep(0.05)
                        continue
                answer = client.post(f"{url}/v1/sessions/{session['id']}/frames",
                                     files={"file": ("f.jpg", frames[sent % len(frames)])},
                                     headers={"Authorization": f"Bearer {session['token']}"})
                sent += 1
                statuses[f"frame {answer.status_code}"] += 1
                if answer.status_code != 200 or answer.json()["session"]["status"] == "SUCCEEDED":
                    session = None
                time.sleep(session and session["frame_interval_ms"] / 1000 or 0)
            after = sum(rss_mb(pids))
            other = {"Authorization": f"Bearer {OTHER}"}
            made = client.post(f"{url}/v1/sessions", json={"frames": 2, "challenge": "none"}, headers=other)
            counted = None
            if made.status_code == 201:
                from liveness.data.sample import real_frames

                small = cv2.imencode(".jpg", next(real_frames(1, (640, 480), seed=3)))[1].tobytes()
                answer = client.post(f"{url}/v1/sessions/{made.json()['id']}/frames",
                                     files={"file": ("f.jpg", small)},
                                     headers={"Authorization": f"Bearer {made.json()['token']}"})
                counted = answer.status_code == 200 and answer.json()["session"]["frames_received"] == 1
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"[INFO] {sum(v for k, v in statuses.items() if k.startswith('frame'))} frames of about "
          f"{np.mean([len(f) for f in frames]) / 1e6:.1f} MB in {args.seconds:g} s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"[INFO] the service's memory (process and scorers): {before:.0f} MB before, {after:.0f} MB after: "
          f"**{after - before:+.0f} MB** (target at most +300 MB)")
    print(f"[INFO] a second site then: session {made.status_code}, its frame counted: {counted}")


if __name__ == "__main__":
    sys.exit(main())
