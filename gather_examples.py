"""Gather face ROIs from videos: the first step of building a liveness dataset.

Every --skip-th frame goes through the SSD face detector; the most confident
face above --confidence is cropped and written to --output as
<source>_<frame>.png, so ROIs from several runs and videos never overwrite
each other, and a row is appended to <output>/manifest.csv (file, source,
frame, box, detector confidence) so every ROI can be traced to its recording.

    python gather_examples.py --input videos/real.mov --output dataset/real --detector face_detector --skip 1
    python gather_examples.py --input videos/fake.mp4 --output dataset/fake --detector face_detector --skip 4
"""
import argparse
import csv
import os

import cv2
from tqdm import tqdm

from liveness.detector import add_detector_arguments, create_detector
from liveness.errors import LivenessError, exit_on_error
from liveness.media import check_readable, expand_inputs, frame_count, read_frames


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--input", type=str, nargs="+", required=True,
                    help="video file(s), image(s), or a folder of them")
    ap.add_argument("-o", "--output", type=str, required=True, help="folder for the cropped faces")
    add_detector_arguments(ap)
    ap.add_argument("-s", "--skip", type=int, default=16, help="keep every N-th frame")
    args = ap.parse_args()
    if args.skip < 1:
        raise LivenessError(f"--skip must be 1 or more, got {args.skip}")
    return args


def save_roi(roi, folder, source, frame_index):
    """Write `roi` as <source>_<frame>.png, never replacing a file already there."""
    ok, encoded = cv2.imencode(".png", roi)
    if not ok:
        raise LivenessError(f"cannot encode a face from {source} frame {frame_index}")
    base = os.path.join(folder, f"{source}_{frame_index:06d}")
    tmp = f"{base}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(encoded.tobytes())
    try:
        for attempt in range(10_000):
            path = f"{base}.png" if attempt == 0 else f"{base}_{attempt}.png"
            try:
                os.link(tmp, path)  # fails if the name is taken: nothing is overwritten
                return path
            except FileExistsError:
                continue
        raise LivenessError(f"too many ROIs named {base}_*.png")
    finally:
        os.remove(tmp)


class Manifest:
    """manifest.csv in the output folder: one appended row per ROI, so each can be traced to its recording."""

    COLUMNS = ["file", "source", "frame", "startX", "startY", "endX", "endY", "confidence"]

    def __init__(self, folder):
        path = os.path.join(folder, "manifest.csv")
        new = not os.path.isfile(path) or os.path.getsize(path) == 0
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(self.COLUMNS)

    def add(self, roi_path, source, frame, box, confidence):
        self.writer.writerow([os.path.basename(roi_path), source, frame, *box, f"{confidence:.4f}"])
        self.file.flush()

    def close(self):
        self.file.close()


def gather(path, detector, output, skip, progress, manifest):
    """ROIs from one video or image: returns (frames read, faces saved, frames without a face)."""
    source = os.path.splitext(os.path.basename(path))[0]
    read = saved = missed = 0
    for index, frame in read_frames(path):
        read += 1
        progress.update(1)
        # like the original: frames skip, 2*skip, ... counting from one
        if read % skip != 0:
            continue
        faces = detector.detect(frame)
        if not faces:
            missed += 1
            continue
        box, confidence = faces[0]
        (startX, startY, endX, endY) = box
        roi_path = save_roi(frame[startY:endY, startX:endX], output, source, index)
        manifest.add(roi_path, os.path.abspath(path), index, box, confidence)
        saved += 1
        progress.set_postfix(saved=saved)
    return read, saved, missed


@exit_on_error
def main():
    args = parse_args()
    paths = expand_inputs(args.input)
    for path in paths:
        check_readable(path)

    print("[INFO] loading face detector...")
    detector = create_detector(args.detector_type, args.detector, args.confidence)
    os.makedirs(args.output, exist_ok=True)

    totals = [0, 0, 0]
    manifest = Manifest(args.output)
    try:
        for path in paths:
            with tqdm(total=frame_count(path) or None, desc=os.path.basename(path), unit="frame") as progress:
                counts = gather(path, detector, args.output, args.skip, progress, manifest)
            totals = [t + c for t, c in zip(totals, counts)]
    finally:
        manifest.close()
    read, saved, missed = totals
    print(f"[INFO] {read} frames read, {saved} faces saved to {args.output}, {missed} frames without a face")


if __name__ == "__main__":
    main()
