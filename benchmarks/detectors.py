"""Face detectors compared on recordings: how often each finds a face, where, and how fast.

    python benchmarks/detectors.py                      # ../shared/data/videos, every detector dlib allows
    python benchmarks/detectors.py --data DIR --detectors ssd,haar --width 0

For each detector and each video of DIR/videos (labelled real or fake by the file name): the
share of frames where it finds a face, the mean IoU of its most confident box with the SSD's on
frames where both find one, and milliseconds per frame. Frames are resized to --width first (the
demo's 600 is close); slow detectors can be sampled with --skip-slow.
"""
import argparse
import os
import sys
import time

import imutils
import numpy as np
from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from liveness.detectors import DETECTOR_TYPES, create_detector, iou  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.media import is_video, read_frames  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
SLOW = ("mmod",)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/*_real.* and *_fake.* (default: ../shared/data)")
    ap.add_argument("--detectors", default=",".join(DETECTOR_TYPES), help="comma-separated detector types")
    ap.add_argument("--width", type=int, default=640, help="resize frames to this width first (0 keeps them)")
    ap.add_argument("--skip-slow", type=int, default=4, help="run the slow detectors (mmod) on every N-th frame only")
    ap.add_argument("-c", "--confidence", type=float, default=0.5)
    args = ap.parse_args()
    args.detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    if "ssd" not in args.detectors:
        args.detectors.insert(0, "ssd")  # the reference for IoU
    return args


def videos(data):
    folder = os.path.join(data, "videos")
    if not os.path.isdir(folder):
        raise LivenessError(f"no videos folder in {data}")
    found = [(os.path.join(folder, n), "real" if "_real." in n else "fake") for n in sorted(os.listdir(folder))
             if is_video(n) and ("_real." in n or "_fake." in n)]
    if not found:
        raise LivenessError(f"no *_real.* or *_fake.* videos in {folder}")
    return found


@exit_on_error
def main():
    args = parse_args()
    detectors = {}
    for kind in args.detectors:
        try:
            detectors[kind] = create_detector(kind, None, args.confidence)
        except LivenessError as error:
            print(f"[WARNING] {kind} left out: {error}")
    stats = {k: {"found": {"real": [], "fake": []}, "iou": [], "seconds": []} for k in detectors}
    for path, label in videos(args.data):
        frames = [imutils.resize(f, width=args.width) if args.width else f for _, f in read_frames(path)]
        for index, frame in enumerate(tqdm(frames, desc=os.path.basename(path), unit="frame")):
            reference = None
            for kind, detector in detectors.items():
                if kind in SLOW and index % args.skip_slow:
                    continue
                started = time.perf_counter()
                faces = detector.detect(frame)
                stats[kind]["seconds"].append(time.perf_counter() - started)
                stats[kind]["found"][label].append(bool(faces))
                if kind == "ssd":
                    reference = faces[0][0] if faces else None
                elif faces and reference is not None:
                    stats[kind]["iou"].append(iou(faces[0][0], reference))

    width = f"width {args.width}" if args.width else "full size"
    print(f"[INFO] frames at {width}, confidence {args.confidence}; {', '.join(SLOW)} on every {args.skip_slow}th frame")
    print("| detector | faces found, real frames | faces found, fake frames | IoU with SSD | ms per frame |")
    print("| --- | --- | --- | --- | --- |")
    for kind, s in stats.items():
        real, fake = s["found"]["real"], s["found"]["fake"]
        overlap = "reference" if kind == "ssd" else (f"{np.mean(s['iou']):.2f}" if s["iou"] else "n/a")
        print(f"| {kind} | {np.mean(real):.3f} ({sum(real)}/{len(real)}) | {np.mean(fake):.3f} ({sum(fake)}/{len(fake)}) | "
              f"{overlap} | {1000 * np.mean(s['seconds']):.1f} |")


if __name__ == "__main__":
    main()
