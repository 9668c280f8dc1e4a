"""The one-camera check's number: how much a session's face must move beyond one still picture moved around.

    python benchmarks/session_camera.py          # after benchmarks/sessions.py has scored ../shared

Live: every window of 10 consecutive counted frames of every live recording of ../shared (the frames and face
patches benchmarks/sessions.py recorded, at about the page's pace). Photo injections: for each live recording,
one frame (as if downloaded) made into 10 frames as an attacker would: tiny variants of it (1-3 px shifts, +-2 %
brightness, noise of sigma 1.5, JPEG 70-95), the same shrunk to 360 px first, a slow zoom (to 1.15x) and a slow
pan (40 px) with noise and JPEG 85. Each injected frame goes through the model's face detector and the same face
patch (liveness.sessions.camera). Prints each kind's movement (liveness.sessions.camera.movement) and the live
windows' percentiles.

The choice rule (fixed before it ran): the threshold is 1.25 times the largest movement among the injections;
reported: the share of live windows under it (the check's cost to live people). The number is STILL_RESIDUAL in
liveness/sessions/camera.py.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
FRAMES = 10


def jpeg(frame, quality):
    return cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])[1], cv2.IMREAD_COLOR)


def variants(photo, rng, count=FRAMES):
    """`count` tiny variants of one photo: shifted 1-3 px, brightness +-2 %, noise, JPEG 70-95."""
    h, w = photo.shape[:2]
    for _ in range(count):
        dx, dy = rng.integers(-3, 4, 2)
        moved = cv2.warpAffine(photo, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        lit = moved.astype(np.float32) * rng.uniform(0.98, 1.02) + rng.normal(0, 1.5, moved.shape)
        yield jpeg(np.clip(lit, 0, 255).astype(np.uint8), rng.integers(70, 96))


def shrunk(photo, rng, count=FRAMES):
    h, w = photo.shape[:2]
    small = jpeg(cv2.resize(photo, (360, int(round(360 * h / w))), interpolation=cv2.INTER_AREA), 70)
    yield from variants(cv2.resize(small, (w, h)), rng, count)


def moved(photo, rng, zoom, pan, count=FRAMES):
    """A slow zoom (to `zoom`) or pan (`pan` px) of one photo over `count` frames, with noise and JPEG 85."""
    h, w = photo.shape[:2]
    for i in range(count):
        t = i / (count - 1)
        scale = 1 + (zoom - 1) * t
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0, scale)
        matrix[0, 2] += pan * t
        frame = cv2.warpAffine(photo, matrix, (w, h), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        yield jpeg(np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8), 85)


ATTACKS = {"tiny variants": variants, "shrunk to 360 px, variants": shrunk,
           "slow zoom": lambda p, r: moved(p, r, 1.15, 0), "slow pan": lambda p, r: moved(p, r, 1.0, 40)}


def photo_of(path, detector):
    """A frame of a live recording with one face, from its middle (the photo an attacker downloaded)."""
    from liveness.faces.media import read_frames

    frames = [f for _, f in read_frames(path) if f is not None]
    for frame in frames[len(frames) // 2:] + frames[:len(frames) // 2]:
        if len(detector.detect(frame)) == 1:
            return frame
    return None


def injection_movements(paths, detector):
    from liveness.sessions.camera import movement, signature

    rng = np.random.default_rng(0)
    found = {name: [] for name in ATTACKS}
    for path in tqdm(paths, desc="photo injections", unit="rec"):
        photo = photo_of(path, detector)
        if photo is None:
            continue
        for name, make in ATTACKS.items():
            signatures = []
            for frame in make(photo, rng):
                faces = detector.detect(frame)
                if len(faces) == 1:
                    signatures.append(signature(frame, faces[0][0]))
            found[name].append(movement(signatures))
    return found


def live_movements(cache):
    from liveness.sessions.camera import movement
    from liveness.sessions.rule import Rule

    rule, values = Rule(), []
    with open(cache) as f:
        recordings = json.load(f)
    for name, (label, _, frames) in recordings.items():
        if label != "real":
            continue
        kept = [f for f in frames if f["faces"] == 1 and rule.hint([{"box": f["box"]}], f["size"]) is None]
        for start in range(0, len(kept) - FRAMES + 1, FRAMES):
            values.append(movement([f["signature"] for f in kept[start:start + FRAMES]]))
    return values


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("--data", default=SHARED)
    ap.add_argument("--cache", default=os.path.join(ROOT, "output", "sessions_frames_v2.json"),
                    help="the frames benchmarks/sessions.py scored")
    args = ap.parse_args()
    from liveness.faces.detectors import create_detector
    from liveness.faces.media import list_media
    from liveness.models.metadata import resolve_detector_type

    detector = create_detector(resolve_detector_type(None, args.model)[0])
    paths = [p for folder in ("videos", "images") for p in list_media(os.path.join(args.data, folder))
             if os.path.basename(p).split(".")[0].endswith("_real")]
    injections = injection_movements(paths, detector)
    live = np.array(live_movements(args.cache))
    threshold = 1.25 * max(max(v) for v in injections.values() if v)
    print(f"[INFO] {len(live)} live windows of {FRAMES} counted frames; photo injections from {len(paths)} live "
          "recordings")
    print("| frames | sessions | movement: min | median | max |\n| --- | --- | --- | --- | --- |")
    for name, values in [*injections.items(), ("live windows", list(live))]:
        print(f"| {name} | {len(values)} | {min(values):.2f} | {np.median(values):.2f} | {max(values):.2f} |")
    print(f"[INFO] live windows' percentiles: 1st {np.percentile(live, 1):.2f}, 5th {np.percentile(live, 5):.2f}")
    print(f"[INFO] chosen STILL_RESIDUAL (1.25 x the largest injection): {threshold:.2f}; live windows under it: "
          f"{(live < threshold).sum()} of {len(live)} ({(live < threshold).mean():.4f})")


if __name__ == "__main__":
    sys.exit(main())
