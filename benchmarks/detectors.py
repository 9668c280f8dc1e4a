"""Face detectors compared on the pool: where their boxes disagree, how fast they are, and what the pair scores.

    python benchmarks/detectors.py --persons subjA subjD subjE subjF subjG subjH subjI subjJ subjK subjL \
        --model pretrained/minifasnet.keras --le pretrained/le.pickle        # the README's detector table
    python benchmarks/detectors.py --detectors ssd-squashed,ssd,haar --every 5   # boxes and speed only

On every --every-th frame of each recording in DATA/videos (labelled by its name), each detector's
most confident box is kept. Two detectors disagree on a frame when one finds a face and the other
does not, or their boxes overlap by IoU under 0.4. It prints, per detector, the share of frames
with a face, milliseconds per frame (all in this one run, on the same frames, full size as
gather_examples.py and evaluate_liveness.py see them), and the disagreements of each pair; and it
writes WORK/disagreements.png, a contact sheet of the frames where the squashed and letterboxed SSD
or the SSD and RetinaFace disagree, every detector's box drawn in its colour. The sheet is made of
the recordings' frames: it stays in WORK, never in the project.

With --model and --le, each of --accuracy-detectors scores the model through
benchmarks/cross_person.py --dev lopo (every person scored by the fixed model, each person's
threshold chosen on all the others), and the table adds its pooled frame-level ACER at 0.5 and at
those thresholds, AUC and the worst person. --recipes runs LivenessNet's named recipes through the
same protocol, trained on ROIs gathered by each detector (--folds persons groups).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import DEFAULT_EXCLUDE, fmt, recordings  # noqa: E402
from liveness.common.atomic import atomic_path  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.faces.detectors import create_detector, iou  # noqa: E402
from liveness.faces.media import read_frames  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
COLOURS = {"ssd-squashed": (0, 0, 255), "ssd": (0, 200, 0), "retinaface": (255, 128, 0), "haar": (0, 200, 255),
           "hog": (255, 0, 255), "mmod": (128, 128, 128)}
SHEET_PAIRS = (("ssd-squashed", "ssd"), ("ssd", "retinaface"))
DISAGREE_IOU = 0.4


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/<person>_{real,fake}.* (default: ../shared/data)")
    ap.add_argument("--persons", nargs="+", default=None, help="only these persons (default: all in videos/)")
    ap.add_argument("--detectors", default="ssd-squashed,ssd,retinaface", help="comma-separated detector types")
    ap.add_argument("--every", type=int, default=3, help="look at every N-th frame (default 3, as the evaluation scores)")
    ap.add_argument("-c", "--confidence", type=float, default=None, help="default: each detector's own")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "detectors"), help="folder for the sheet and the runs")
    ap.add_argument("--sheet-max", type=int, default=48, help="frames on the contact sheet at most")
    ap.add_argument("-m", "--model", default=None, help="score this model with each detector (cross_person.py --dev lopo)")
    ap.add_argument("-l", "--le", default=None, help="with --model: its label encoder")
    ap.add_argument("--accuracy-detectors", default="ssd-squashed,ssd,retinaface",
                    help="the detectors the accuracy runs use (default: %(default)s)")
    ap.add_argument("--recipes", nargs="*", default=[], help="LivenessNet recipes to train per detector (original, context)")
    ap.add_argument("--folds", type=int, default=0, help="with --recipes: persons in K groups (default: one person a fold)")
    ap.add_argument("--skip", type=int, default=3, help="with --recipes: gather every N-th frame for training")
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE, help="frames left out of the accuracy runs (CSV, or none)")
    args = ap.parse_args()
    args.detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    args.accuracy_detectors = [d.strip() for d in args.accuracy_detectors.split(",") if d.strip()]
    if (args.model is None) != (args.le is None):
        raise LivenessError("--model and --le go together")
    if args.every < 1:
        raise LivenessError("--every must be 1 or more")
    return args


def look(args, detectors):
    """[(recording, frame index, thumbnail or None, {detector: (box, confidence) or None})], and seconds per detector.

    Only frames for the contact sheet keep a (small) picture: a pool's frames at full size do not fit in memory.
    """
    pairs = [p for p in SHEET_PAIRS if p[0] in detectors and p[1] in detectors]
    people = recordings(args.data, args.persons)
    seen, seconds = [], {k: [] for k in detectors}
    for person, sides in people.items():
        for side, path in sorted(sides.items()):
            recording = f"{person}_{side}"
            frames = read_frames(path, select=lambda i: i % args.every == 0)
            for index, frame in tqdm(frames, desc=recording, unit="frame"):
                if frame is None:
                    continue
                found = {}
                for kind, detector in detectors.items():
                    started = time.perf_counter()
                    faces = detector.detect(frame)
                    seconds[kind].append(time.perf_counter() - started)
                    found[kind] = faces[0] if faces else None
                on_sheet = any(disagree(found[a], found[b]) for a, b in pairs)
                seen.append((recording, index, thumbnail(frame, found, f"{recording} #{index}") if on_sheet else None,
                             found))
    return seen, seconds


def disagree(a, b):
    if a is None or b is None:
        return (a is None) != (b is None)
    return iou(a[0], b[0]) < DISAGREE_IOU


def thumbnail(frame, found, caption, height=220):
    """The frame with every detector's box in its colour, scaled to `height`, captioned."""
    picture = frame.copy()
    thickness = max(2, frame.shape[0] // 200)
    for kind, face in found.items():
        if face is not None:
            (x0, y0, x1, y1) = face[0]
            cv2.rectangle(picture, (x0, y0), (x1, y1), COLOURS.get(kind, (255, 255, 255)), thickness)
    scale = height / picture.shape[0]
    picture = cv2.resize(picture, (max(1, int(picture.shape[1] * scale)), height))
    cv2.rectangle(picture, (0, 0), (picture.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(picture, caption, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return picture


def contact_sheet(items, path, width=1400):
    """Thumbnails in rows of at most `width` pixels, with a legend; written atomically as PNG."""
    rows, row, used = [], [], 0
    for picture in items:
        if row and used + picture.shape[1] > width:
            rows.append(row)
            row, used = [], 0
        row.append(picture)
        used += picture.shape[1]
    if row:
        rows.append(row)
    legend = np.zeros((24, width, 3), "uint8")
    x = 5
    for kind, colour in COLOURS.items():
        cv2.rectangle(legend, (x, 6), (x + 14, 18), colour, -1)
        cv2.putText(legend, kind, (x + 18, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        x += 30 + 9 * len(kind)
    lines = [legend] + [np.hstack(r + [np.zeros((r[0].shape[0], width - sum(p.shape[1] for p in r), 3), "uint8")])
                        for r in rows]
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, np.vstack(lines)):
            raise LivenessError(f"cannot write {path}")


def cross_person(args, kind, work, recipe=None):
    """cross_person.py --dev lopo with detector `kind`: the model as it is, or `recipe` trained per fold."""
    command = [sys.executable, os.path.join(ROOT, "benchmarks", "cross_person.py"), "--data", args.data,
               "--work", work, "--dev", "lopo", "--detector-type", kind, "--exclude", args.exclude]
    command += ["--persons", *args.persons] if args.persons else []
    if recipe is None:
        command += ["--model", os.path.abspath(args.model), "--le", os.path.abspath(args.le)]
    else:
        command += ["--train-args", f"--recipe {recipe}", "--folds", str(args.folds), "--skip", str(args.skip)]
    print(f"[INFO] {recipe or 'the model'} with {kind}: {' '.join(command[1:])}", flush=True)
    log = os.path.join(os.path.dirname(work), f"{os.path.basename(work)}.log")
    os.makedirs(os.path.dirname(work), exist_ok=True)
    with open(log, "w") as f:
        if subprocess.run(command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
            raise LivenessError(f"cross_person.py failed; see {log}")
    with open(os.path.join(work, "cross_person.json")) as f:
        return json.load(f)


def accuracy_row(name, kind, result):
    lopo, fixed = result["test"], result["test_at_0.5"]
    worst = lopo["worst_person"]
    return (f"| {name} | {kind} | {fmt(fixed['frame']['acer'])} | {fmt(lopo['frame']['acer'])} | "
            f"{fmt(lopo['frame']['auc'])} | {worst['person']} {fmt(worst['error'])} | {lopo['frame']['count']} | "
            f"{result['seconds']:.0f} |")


@exit_on_error
def main():
    args = parse_args()
    detectors = {}
    for kind in args.detectors:
        try:
            detectors[kind] = create_detector(kind, None, args.confidence)
        except LivenessError as error:
            print(f"[WARNING] {kind} left out: {error}")
    os.makedirs(args.work, exist_ok=True)
    seen, seconds = look(args, detectors)
    confidence = args.confidence if args.confidence is not None else "each detector's own"
    print(f"[INFO] {len(seen)} frames (every {args.every}th), full size, confidence {confidence}")
    print("| detector | frames with a face | ms per frame (mean) | ms per frame (median) |")
    print("| --- | --- | --- | --- |")
    for kind in detectors:
        found = sum(f[kind] is not None for _, _, _, f in seen)
        print(f"| {kind} | {found}/{len(seen)} | {1000 * np.mean(seconds[kind]):.1f} | "
              f"{1000 * np.median(seconds[kind]):.1f} |")
    kinds = list(detectors)
    print("| detectors | frames where they disagree (IoU < 0.4, or one finds none) | recordings |")
    print("| --- | --- | --- |")
    for i, a in enumerate(kinds):
        for b in kinds[i + 1:]:
            where = [(r, n) for r, n, _, f in seen if disagree(f[a], f[b])]
            per = {}
            for r, _ in where:
                per[r] = per.get(r, 0) + 1
            print(f"| {a} / {b} | {len(where)} | {', '.join(f'{r} {c}' for r, c in sorted(per.items())) or '-'} |")
    pairs = [p for p in SHEET_PAIRS if p[0] in detectors and p[1] in detectors]
    chosen = [picture for _, _, picture, _ in seen if picture is not None]
    if chosen:
        step = -(-len(chosen) // args.sheet_max)
        sheet = os.path.join(args.work, "disagreements.png")
        contact_sheet(chosen[::step], sheet)
        print(f"[INFO] {len(chosen)} frames where {' or '.join('/'.join(p) for p in pairs)} disagree; "
              f"every {step}th on {sheet}")

    if args.model is None and not args.recipes:
        return
    rows = []
    for kind in args.accuracy_detectors:
        if args.model is not None:
            rows.append(accuracy_row(os.path.basename(args.model), kind,
                                     cross_person(args, kind, os.path.join(args.work, f"model_{kind}"))))
        for recipe in args.recipes:
            rows.append(accuracy_row(f"LivenessNet {recipe}", kind,
                                     cross_person(args, kind, os.path.join(args.work, f"{recipe}_{kind}"), recipe)))
        print(rows[-1], flush=True)
    print("[INFO] leave one person out, frame level, every 3rd frame; ACER at 0.5 and at each person's threshold "
          "chosen on the others (LOPO); AUC and the worst person at the LOPO thresholds:")
    print("| model | detector | ACER at 0.5 | ACER at the LOPO threshold | AUC | worst person | faces | protocol (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
