"""Screens filmed by a webcam, the attack the shipped model misses: what the crops show, and what sees them.

    python benchmarks/screens.py                        # the table, from benchmarks/groups.py's features
    python benchmarks/screens.py --sheet docs/images/screens.png      # and the synthetic contact sheet
    python benchmarks/screens.py --spectrum          # and two measures of the face at the camera's full resolution

The table: for each screen group of ../shared (K, L, AA, AG, AH) and the live groups pooled, the share of
frames each member and the shipped fusion accept at 0.5, at each crop scale, mirrored, and at each of
RetinaFace's input sides; and the capture quality (face size, brightness, contrast, sharpness) of the screen
frames the fusion accepts, of those it refuses, and of live faces. Nothing is chosen here: it describes.

--spectrum reads every frame again and measures the face box at the camera's own resolution, before any
downscaling: the share of its spectrum's energy in the upper half of the frequencies, and the highest peak
there against the median (a screen's pixel grid and moire would show as either), then how well each tells each
screen group from the live faces (AUC, 0.5 chance, under 0.5 reversed).

The sheet is made of synthetic frames only (no third-party frame may enter the repository): the built-in
sample's portrait on a TV screen that fills the webcam's view, and on one whose frame shows, each with the
boxes of what the three members see (the pair's 2.7x and 4x crops, the second network's 1.5x square) and
those crops as the networks get them.
"""
import argparse
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from liveness.common.atomic import atomic_path  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402

SCREEN_GROUPS = ("K", "L", "AA", "AG", "AH")


def tv_frame(fill, size=(640, 480), seed=0):
    """A webcam frame of the sample's portrait on a TV: the screen fills the view (`fill` True) or shows its frame
    and the wall around it. Broadcast layout (a caption bar), the screen's pixel grid, moire and a colour cast."""
    from liveness.data.sample import portrait

    rng = np.random.default_rng(seed)
    (w, h) = size
    screen = (w, h) if fill else (int(0.62 * w), int(0.58 * h))
    image = portrait()
    m = cv2.getRotationMatrix2D((223.0, 114.0), 0, 0.22 * screen[0] / 95.0)
    m[0, 2] += 0.35 * screen[0] - 223.0
    m[1, 2] += 0.38 * screen[1] - 114.0
    content = cv2.warpAffine(image, m, screen, borderMode=cv2.BORDER_CONSTANT, borderValue=(90, 40, 20))
    content = content.astype("float32")
    content[int(0.8 * screen[1]):] = (30, 30, 170)  # a caption bar
    cv2.putText(content, "BREAKING NEWS", (int(0.05 * screen[0]), int(0.9 * screen[1])), cv2.FONT_HERSHEY_SIMPLEX,
                screen[0] / 600, (255, 255, 255), 2)
    content = content * np.array([1.15, 1.0, 0.85]) + 10  # a cool cast
    yy, xx = np.mgrid[0:screen[1], 0:screen[0]].astype("float32")
    content *= (1 - 0.05 * ((xx % 3) == 0) - 0.05 * ((yy % 3) == 0))[..., None]  # the pixel grid
    content *= (1 + 0.08 * np.sin(0.7 * xx + 0.3 * yy) * np.sin(0.2 * xx - 0.6 * yy))[..., None]  # moire
    if fill:
        frame = content
    else:
        frame = np.full((h, w, 3), (150, 160, 170), "float32")  # the wall
        x0, y0 = (w - screen[0]) // 2, int(0.18 * h)
        cv2.rectangle(frame, (x0 - 14, y0 - 14), (x0 + screen[0] + 14, y0 + screen[1] + 14), (20, 20, 20), -1)
        frame[y0:y0 + screen[1], x0:x0 + screen[0]] = content
    frame = cv2.GaussianBlur(np.clip(frame, 0, 255), (0, 0), 1.5) + rng.normal(0, 3, (h, w, 3))  # webcam optics
    return np.clip(frame, 0, 255).astype("uint8")


def crop_boxes(frame, box):
    """{what: (x0, y0, x1, y1)} the members see of a face in `box`, as each cuts it."""
    from liveness.faces.crops import shifted_box
    from liveness.models import second_network

    (h, w) = frame.shape[:2]
    out = {f"pair x{s:g}": shifted_box(box, s, w, h) for s in (2.7, 4.0)}
    x, y, side = second_network.square(box)
    out["second x1.5"] = (x, y, x + side, y + side)
    return out


def sheet(path):
    """The contact sheet: each synthetic TV frame with the members' boxes, then their crops at input size."""
    from liveness.faces.crops import crop_region
    from liveness.faces.detectors import create_detector
    from liveness.models import second_network

    detector = create_detector("retinaface")
    colours = {"pair x2.7": (0, 200, 0), "pair x4": (0, 160, 255), "second x1.5": (255, 80, 255)}
    rows = []
    for fill in (True, False):
        frame = tv_frame(fill)
        faces = detector.detect(frame)
        if not faces:
            raise LivenessError("RetinaFace found no face on the synthetic TV frame")
        box = faces[0][0]
        shown = frame.copy()
        cv2.rectangle(shown, box[:2], box[2:], (255, 255, 255), 2)
        boxes = crop_boxes(frame, box)
        for name, b in boxes.items():
            cv2.rectangle(shown, b[:2], b[2:], colours[name], 3)
        crops = [cv2.resize(crop_region(frame, box, s, "shift"), (160, 160), interpolation=cv2.INTER_AREA)
                 for s in (2.7, 4.0)]
        second = second_network.crop(frame, box)  # as the network gets it: RGB, channels first, 128x128
        crops.append(cv2.resize(cv2.cvtColor((second.transpose(1, 2, 0) * 255).astype("uint8"), cv2.COLOR_RGB2BGR),
                                (160, 160)))
        for crop, name in zip(crops, colours):
            cv2.rectangle(crop, (0, 0), (159, 159), colours[name], 4)
        column = np.vstack(crops[:2])
        right = np.vstack([crops[2], np.full((160, 160, 3), 255, "uint8")])
        panel = np.hstack([cv2.resize(shown, (427, 320)), column, right])
        rows.append(panel)
    picture = np.vstack(rows)
    legend = np.full((36, picture.shape[1], 3), 255, "uint8")
    cv2.putText(legend, "white: face box; green: pair x2.7; orange: pair x4; magenta: second net x1.5; crops at right",
                (6, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
    picture = np.vstack([legend, picture])
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp + ".png", picture):
            raise LivenessError(f"cannot write {path}")
        os.replace(tmp + ".png", tmp)
    print(f"[INFO] wrote {path}")


def cached_features(work):
    """The features benchmarks/groups.py kept in `work` (its default frames)."""
    from groups import cache_path

    cache = cache_path(work, 3)
    if not os.path.isfile(cache):
        raise LivenessError(f"{cache} not found: run benchmarks/groups.py first")
    return dict(np.load(cache))


def table(work):
    """The member-by-member table on the screen groups, from groups.py's cache."""
    from groups import CROP_MULTIPLIERS, DETECTOR_SIDES, SHIPPED_WEIGHT, fuse, member_logits

    data = cached_features(work)
    live = data["label"] == "real"
    columns = {}
    pair, second = member_logits(data)
    columns["pair"] = fuse(pair, pair, 0.0)
    columns["second"] = fuse(second, second, 0.0)
    columns["fusion"] = fuse(pair, second, SHIPPED_WEIGHT)
    for m in CROP_MULTIPLIERS:
        if m != 1.0:
            columns[f"fusion, crops x{m:g}"] = fuse(*member_logits(data, 0, (m,)), SHIPPED_WEIGHT)
    columns["fusion, mirror averaged"] = fuse(*member_logits(data, 0, (1.0,), True), SHIPPED_WEIGHT)
    for s, side in enumerate(DETECTOR_SIDES[1:], 1):
        columns[f"fusion, RetinaFace at {side}"] = fuse(*member_logits(data, s), SHIPPED_WEIGHT)
    groups = [g for g in SCREEN_GROUPS if g in set(data["group"])]
    print("| accepted at 0.5 | " + " | ".join(groups) + " | live rejected |")
    print("| --- |" + " --- |" * (len(groups) + 1))
    for name, scores in columns.items():
        cells = [f"{(scores[(data['group'] == g) & ~live] >= 0.5).mean():.2f}" for g in groups]
        print(f"| {name} | " + " | ".join(cells) + f" | {(scores[live] < 0.5).mean():.3f} |")
    accepted = columns["fusion"] >= 0.5
    face = data["faces"][:, 0, 0] > 0
    print("\nMedian capture quality, within one camera (one group) at a time:\n\n"
          "| faces | count | size (px) | brightness | contrast | sharpness |\n| --- | --- | --- | --- | --- | --- |")
    for group in ("AG", "AH"):
        mine = (data["group"] == group) & face
        for name, rows in ((f"{group}'s screens the fusion accepts", mine & ~live & accepted),
                           (f"{group}'s screens it refuses", mine & ~live & ~accepted),
                           (f"{group}'s live faces", mine & live)):
            if rows.any():
                q = np.median(data["quality"][rows], axis=0)
                print(f"| {name} | {int(rows.sum())} | {q[0]:.0f} | {q[1]:.0f} | {q[2]:.0f} | {q[3]:.0f} |")


def spectrum_measures(frame, box):
    """(log high-to-middle band energy, log highest high-band peak over its median) of the face in `box`, at
    full resolution: its central square of a power of two pixels (at most 128), Hann-windowed."""
    (x0, y0, x1, y1) = (int(v) for v in box)
    grey = cv2.cvtColor(frame[max(0, y0):y1, max(0, x0):x1], cv2.COLOR_BGR2GRAY).astype("float32")
    if min(grey.shape) < 32:
        return np.nan, np.nan
    n = min(128, 2 ** int(np.log2(min(grey.shape))))
    cy, cx = grey.shape[0] // 2, grey.shape[1] // 2
    patch = grey[cy - n // 2:cy + n // 2, cx - n // 2:cx + n // 2]
    power = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * np.outer(np.hanning(n), np.hanning(n))))) ** 2
    yy, xx = np.mgrid[-n // 2:n // 2, -n // 2:n // 2]
    radius = np.hypot(yy, xx) / (n / 2)
    high, middle = power[(radius > 0.5) & (radius < 1.0)], power[(radius > 0.1) & (radius <= 0.5)]
    return float(np.log(high.sum() / (middle.sum() + 1e-9))), float(np.log(high.max() / (np.median(high) + 1e-9)))


def spectrum(work, data_folder):
    """Each measure's AUC, live faces against each screen group's, from the frames groups.py kept."""
    from liveness.common.provenance import recording_of
    from liveness.evaluation.metrics import auc
    from liveness.faces.media import list_media, read_frames

    data = cached_features(work)
    paths = {recording_of(p): p for f in ("videos", "images") for p in list_media(os.path.join(data_folder, f))}
    values = np.full((len(data["frame"]), 2), np.nan)
    for recording in sorted(set(data["recording"])):
        rows = {int(data["frame"][i]): i for i in np.flatnonzero(data["recording"] == recording)}
        for index, frame in read_frames(paths[recording], select=lambda i: i in rows):
            if frame is not None and index in rows and data["faces"][rows[index], 0, 0] > 0:
                values[rows[index]] = spectrum_measures(frame, data["box"][rows[index], 0])
    live = (data["label"] == "real") & ~np.isnan(values[:, 0])
    groups = [g for g in SCREEN_GROUPS if g in set(data["group"])]
    print("\n| measure (AUC: live against) | " + " | ".join(groups) + " |\n| --- |" + " --- |" * len(groups))
    for k, name in enumerate(("high-band energy (lower: live)", "high-band peak (lower: live)")):
        cells = []
        for group in groups:
            screen = (data["group"] == group) & (data["label"] != "real") & ~np.isnan(values[:, k])
            labels = np.r_[["real"] * int(live.sum()), ["fake"] * int(screen.sum())]
            cells.append(f"{auc(np.r_[-values[live, k], -values[screen, k]], labels, 'real'):.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "groups"), help="benchmarks/groups.py's --work")
    ap.add_argument("--sheet", help="also write the synthetic contact sheet here (PNG)")
    ap.add_argument("--spectrum", action="store_true", help="also the full-resolution measures (reads the frames)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"),
                    help="with --spectrum: the recordings groups.py read (default: ../shared/data)")
    args = ap.parse_args()
    if args.sheet:
        sheet(args.sheet)
    table(args.work)
    if args.spectrum:
        spectrum(args.work, args.data)


if __name__ == "__main__":
    sys.exit(main())
