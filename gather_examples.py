"""Gather face ROIs from videos: the first step of building a liveness dataset.

Every --skip-th frame goes through the face detector (the SSD unless
--detector-type says otherwise); the most confident face above --confidence is
cropped and written to --output as <source>_<frame>.png, so ROIs from several
runs and videos never overwrite each other, and a row is appended to
<output>/manifest.csv (file, source, frame, box, detector confidence, detector)
so every ROI can be traced to its recording, and a model trained on the ROIs
knows whose boxes it learned from. A still image is one frame: it is never skipped.

    python gather_examples.py --input videos/real.mov --output dataset/real --detector face_detector --skip 1
    python gather_examples.py --input videos/fake.mp4 --output dataset/fake --detector face_detector --skip 4
"""
import argparse
import contextlib
import csv
import functools
import multiprocessing
import os

import cv2
from tqdm import tqdm

from liveness.common.atomic import check_writable_folder
from liveness.common.interrupts import deferred_interrupt
from liveness.common.provenance import recording_of, spreadsheet_safe
from liveness.data.exclusions import Exclusions, add_exclude_argument, load_exclusions
from liveness.errors import LivenessError, exit_on_error
from liveness.faces.detectors import add_detector_arguments, create_detector
from liveness.faces.media import check_readable, expand_inputs, frame_count, is_image, prefetch, read_frames
from liveness.models.metadata import resolve_detector_type


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--input", type=str, nargs="+", required=True,
                    help="video file(s), image(s), or a folder of them")
    ap.add_argument("-o", "--output", type=str, required=True, help="folder for the cropped faces")
    add_detector_arguments(ap)
    ap.add_argument("-s", "--skip", type=int, default=16, help="keep every N-th frame")
    ap.add_argument("-j", "--jobs", type=int, default=1,
                    help="detect in N processes, each with its own detector (same results as 1)")
    add_exclude_argument(ap, "not gathered")
    args = ap.parse_args()
    if args.skip < 1:
        raise LivenessError(f"--skip must be 1 or more, got {args.skip}")
    if args.jobs < 1:
        raise LivenessError(f"--jobs must be 1 or more, got {args.jobs}")
    check_writable_folder(args.output, "--output")
    return args


def encode_roi(roi):
    ok, encoded = cv2.imencode(".png", roi)
    if not ok:
        raise LivenessError("cannot encode a face crop as PNG")
    return encoded.tobytes()


def save_roi(png, folder, source, frame_index):
    """Write PNG bytes as <source>_<frame>.png, never replacing a file already there."""
    base = os.path.join(folder, f"{source}_{frame_index:06d}")
    tmp = f"{base}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(png)
        for attempt in range(10_000):
            path = f"{base}.png" if attempt == 0 else f"{base}_{attempt}.png"
            try:
                os.link(tmp, path)  # fails if the name is taken: nothing is overwritten
                return path
            except FileExistsError:
                continue
        raise LivenessError(f"too many ROIs named {base}_*.png")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


class Manifest:
    """manifest.csv in the output folder: one appended row per ROI, so each can be traced to its recording."""

    COLUMNS = ["file", "source", "frame", "startX", "startY", "endX", "endY", "confidence", "detector"]

    def __init__(self, folder, detector):
        path = os.path.join(folder, "manifest.csv")
        new = not os.path.isfile(path) or os.path.getsize(path) == 0
        # a manifest written before the detector column keeps its columns: its rows stay readable
        self.columns = self.COLUMNS if new else self._header(path)
        self.detector = detector
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(self.COLUMNS)

    @staticmethod
    def _header(path):
        with open(path, newline="") as f:
            return next(csv.reader(f), [])

    def add(self, roi_path, source, frame, box, confidence):
        row = [spreadsheet_safe(os.path.basename(roi_path)), spreadsheet_safe(source), frame, *box, f"{confidence:.4f}",
               self.detector]
        self.writer.writerow(row[:len(self.columns)])
        self.file.flush()

    def close(self):
        self.file.close()


def kept(index, skip, slot=0, slots=1):
    """Whether frame `index` (from zero) is gathered, and by worker `slot` of `slots`.

    Like the original, frames skip, 2*skip, ... counting from one are kept; with
    several workers on one recording they take the kept frames in turn.
    """
    number = index + 1
    return number % skip == 0 and (number // skip - 1) % slots == slot


def find_rois(path, detector, skip, counts, on_frame=None, slot=0, slots=1, exclusions=Exclusions()):
    """Yield (frame index, box, confidence, PNG of the face) for this slot's kept frames with a face.

    Counts frames read, kept frames left out by `exclusions` and kept frames
    without a face into `counts`.
    """
    recording = recording_of(path)  # as evaluate_liveness.py names it, so one exclusion file serves both
    skip = 1 if is_image(path) else skip  # a still image is one frame: never skipped
    excluded = functools.partial(exclusions.excludes, recording)
    # frames not kept, and kept frames left out, are only grabbed, never decoded
    frames = read_frames(path, select=lambda i: kept(i, skip, slot, slots) and not excluded(i))
    for index, frame in prefetch(frames):  # decoding runs ahead on its own thread
        counts["read"] += 1
        if on_frame is not None:
            on_frame()
        if frame is None:
            counts["excluded"] += kept(index, skip, slot, slots) and excluded(index)
            continue
        faces = detector.detect(frame)
        if not faces:
            counts["missed"] += 1
            continue
        box, confidence = faces[0]
        (startX, startY, endX, endY) = box
        yield index, box, confidence, encode_roi(frame[startY:endY, startX:endX])


def store(path, rois, output, manifest):
    """Save one recording's ROIs and their manifest rows, in frame order; returns how many."""
    source = recording_of(path) if os.path.isdir(path) else os.path.splitext(os.path.basename(path))[0]
    saved = 0
    for index, box, confidence, png in rois:
        with deferred_interrupt():  # an ROI and its manifest row are written both or neither
            roi_path = save_roi(png, output, source, index)
            manifest.add(roi_path, os.path.abspath(path), index, box, confidence)
        saved += 1
    return saved


_worker_detector = None  # one per worker process (--jobs)


def _start_worker(detector_type, folder, confidence):
    global _worker_detector
    cv2.setNumThreads(1)  # the processes share the cores; one thread each
    _worker_detector = create_detector(detector_type, folder, confidence)


def _gather_in_worker(task, skip, slots, exclusions):
    path, slot = task
    counts = {"read": 0, "missed": 0, "excluded": 0}
    return path, list(find_rois(path, _worker_detector, skip, counts, slot=slot, slots=slots, exclusions=exclusions)), counts


def gather_parallel(paths, args, manifest):
    """--jobs N: each recording's kept frames shared among N processes, written here in frame order.

    The ROIs, their names and the manifest come out as --jobs 1 writes them.
    """
    totals = {"read": 0, "missed": 0, "excluded": 0, "saved": 0}
    tasks = [(path, slot) for path in paths for slot in range(args.jobs)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, _start_worker, (args.detector_kind, args.detector, args.confidence)) as pool:
        results = pool.imap(functools.partial(_gather_in_worker, skip=args.skip, slots=args.jobs,
                                                        exclusions=args.exclusions), tasks)
        parts = []
        for path, rois, counts in tqdm(results, total=len(tasks), desc="recording parts", unit="part"):
            parts.append(rois)
            totals["missed"] += counts["missed"]
            totals["excluded"] += counts["excluded"]
            if len(parts) == args.jobs:  # every slot of this recording is in
                totals["read"] += counts["read"]
                totals["saved"] += store(path, sorted((r for part in parts for r in part), key=lambda r: r[0]),
                                         args.output, manifest)
                parts = []
    return totals


def gather_serial(paths, args, manifest):
    """--jobs 1: one recording after another, with a progress bar over frames."""
    detector = create_detector(args.detector_kind, args.detector, args.confidence)
    totals = {"read": 0, "missed": 0, "excluded": 0, "saved": 0}
    for path in paths:
        with tqdm(total=frame_count(path) or None, desc=os.path.basename(path), unit="frame") as progress:
            totals["saved"] += store(path, find_rois(path, detector, args.skip, totals, lambda: progress.update(1),
                                                       exclusions=args.exclusions),
                                     args.output, manifest)
    return totals


@exit_on_error
def main():
    args = parse_args()
    args.exclusions = load_exclusions(args.exclude)
    paths = expand_inputs(args.input)
    for path in paths:
        check_readable(path)

    args.detector_kind, source = resolve_detector_type(args.detector_type)
    create_detector(args.detector_kind, args.detector, args.confidence)  # a bad detector fails here, once
    print(f"[INFO] gathering faces from {len(paths)} file(s) with the {args.detector_kind} detector ({source}), "
          f"{args.jobs} process(es)...")
    os.makedirs(args.output, exist_ok=True)
    manifest = Manifest(args.output, args.detector_kind)
    try:
        gather = gather_parallel if args.jobs > 1 else gather_serial
        totals = gather(paths, args, manifest)
    finally:
        manifest.close()
    print(f"[INFO] {totals['read']} frames read, {totals['saved']} faces saved to {args.output}, "
          f"{totals['missed']} frames without a face"
          + (f", {totals['excluded']} frames left out (--exclude)" if args.exclude else ""))


if __name__ == "__main__":
    main()
