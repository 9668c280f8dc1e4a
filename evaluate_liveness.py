"""Evaluate a liveness model with ISO/IEC 30107-3 figures, at frame and video level.

    python evaluate_liveness.py --model liveness.keras --le le.pickle --dataset test_set --output eval/
    python evaluate_liveness.py -m liveness.keras -l le.pickle --calibrate dev_set --dataset test_set -o eval/

--dataset holds one folder per class: the bona fide class (`real`, see --bona-fide) and one
folder per attack type (`fake`, or `print`, `replay`, ...), each with face ROIs, videos, or both.
Two thresholds, never confused: --confidence is the face detector's; --threshold is the liveness
decision on the "real" score. --calibrate picks the liveness threshold on a separate set and
stores it beside the model (<model>.json), where the demo and later runs find it.
"""
import argparse
import csv
import io
import json
import os
import sys

import cv2
import numpy as np

from liveness.common.atomic import check_writable_folder, write_bytes
from liveness.data.exclusions import add_exclude_argument, load_exclusions
from liveness.errors import LivenessError, exit_on_error
from liveness.evaluation.metrics import NOT_SURE, REAL, bpcer_at_apcer, decide, equal_error_rate, summarize
from liveness.evaluation.report import render, worst_failures
from liveness.faces.crops import preview
from liveness.faces.detectors import add_detector_arguments
from liveness.faces.media import is_recording
from liveness.models.metadata import check_threshold, detector_for, resolve_threshold, update_metadata
from liveness.quiet import add_verbose_argument


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True, help="liveness model")
    ap.add_argument("-l", "--le", required=True, help="its label encoder (le.pickle)")
    ap.add_argument("--dataset", help="labelled folder to evaluate (class folders of ROIs and/or videos)")
    ap.add_argument("-o", "--output", help="folder for metrics.json, scores.csv, roc_det.png and report.html")
    add_detector_arguments(ap)
    ap.add_argument("--detect", action="store_true", help="run the face detector on still images too (full photos)")
    ap.add_argument("-s", "--skip", type=int, default=1, help="score every N-th video frame")
    ap.add_argument("--bona-fide", default="real", help="the live class; every other class is an attack type")
    ap.add_argument("-t", "--threshold", type=float, default=None,
                    help="liveness threshold on the real score (default: calibrated beside the model, else 0.5)")
    ap.add_argument("--band", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                    help="scores in [LOW, HIGH] are 'not sure' and left out of APCER/BPCER")
    ap.add_argument("--calibrate", metavar="DEV_DIR", default=None,
                    help="pick the threshold on this separate labelled set and store it beside the model")
    ap.add_argument("--target-apcer", type=float, default=None,
                    help="with --calibrate: the threshold where APCER is at most this (default: at the EER)")
    ap.add_argument("--smooth", type=int, default=1,
                    help="score each video frame by the mean over its recording's last N frames (as the demo's --smooth)")
    ap.add_argument("--save-failures", metavar="DIR", default=None,
                    help="copy every misclassified face into DIR/<true>_as_<predicted>/ with metadata.csv")
    add_exclude_argument(ap, "left out of calibration and of the figures")
    add_verbose_argument(ap)
    args = ap.parse_args()
    if args.dataset is None and args.calibrate is None:
        raise LivenessError("nothing to do: give --dataset, --calibrate, or both")
    if args.dataset is not None and args.output is None:
        raise LivenessError("--dataset needs --output DIR for the results")
    if args.threshold is not None:
        check_threshold(args.threshold)
    if args.threshold is not None and args.calibrate is not None:
        raise LivenessError("--threshold and --calibrate both set the threshold; give one")
    if args.band is not None:
        low, high = args.band
        if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0) or low > high:
            raise LivenessError(f"--band needs 0 <= LOW <= HIGH <= 1, got {low} {high}")
    if args.target_apcer is not None and not 0.0 <= args.target_apcer <= 1.0:
        raise LivenessError("--target-apcer must be in [0, 1]")
    if args.skip < 1:
        raise LivenessError(f"--skip must be 1 or more, got {args.skip}")
    if args.smooth < 1:
        raise LivenessError(f"--smooth must be 1 or more, got {args.smooth}")
    if args.calibrate and args.dataset and os.path.realpath(args.calibrate) == os.path.realpath(args.dataset):
        raise LivenessError("--calibrate and --dataset are the same folder: a threshold is never tuned on the set it is evaluated on")
    if args.output is not None:  # before anything is scored, not after
        check_writable_folder(args.output, "--output")
    if args.save_failures is not None:
        check_writable_folder(args.save_failures, "--save-failures")
    return args


def leave_out(rows, exclusions, folder):
    """The rows of faces outside excluded frames, and how many were left out."""
    kept = [r for r in rows if not exclusions.excludes(r.recording, r.frame)]
    if not kept:
        raise LivenessError(f"every face in {folder} is in a frame that --exclude leaves out")
    if len(kept) < len(rows):
        print(f"[INFO] {len(rows) - len(kept)} faces in {folder} left out (--exclude)")
    return kept, len(rows) - len(kept)


def scores_and_labels(rows):
    return np.array([r.score for r in rows]), np.array([r.label for r in rows])


def calibrate(rows, bona_fide, target_apcer):
    """The threshold at the EER, or at the lowest one whose APCER is at most the target."""
    scores, labels = scores_and_labels(rows)
    if target_apcer is None:
        _, threshold = equal_error_rate(scores, labels, bona_fide)
        criterion = "eer"
    else:
        _, threshold = bpcer_at_apcer(scores, labels, bona_fide, target_apcer)
        criterion = f"apcer<={target_apcer}"
    if threshold is None:
        raise LivenessError("the calibration set needs faces of the bona fide class and of an attack class")
    return min(float(threshold), 1.0), criterion


def smooth_scores(rows, frames):
    """Each video face's score replaced by the mean of its video's last `frames` scores, in frame order."""
    by_video = {}
    for r in rows:
        if is_recording(r.file):
            by_video.setdefault(r.file, []).append(r)
    for members in by_video.values():
        members.sort(key=lambda r: r.frame)
        raw = [r.score for r in members]
        for i, r in enumerate(members):
            r.score = float(np.mean(raw[max(0, i - frames + 1):i + 1]))


def video_level(rows):
    """One row per recording: its mean score."""
    groups = {}
    for r in rows:
        groups.setdefault((r.recording, r.label), []).append(r.score)
    keys = sorted(groups)
    return (np.array([np.mean(groups[k]) for k in keys]), np.array([k[1] for k in keys]), [k[0] for k in keys])


def per_group(rows, key, bona_fide, threshold, band):
    """Figures for each recording or each person."""
    groups = {}
    for r in rows:
        groups.setdefault(getattr(r, key), []).append(r)
    out = {}
    for name, members in sorted(groups.items()):
        scores, labels = scores_and_labels(members)
        s = summarize(scores, labels, bona_fide, threshold, band)
        out[name] = {k: s[k] for k in ("count", "bona_fide", "attacks", "not_sure", "apcer", "bpcer", "acer", "auc")}
        out[name]["mean_score"] = float(np.mean(scores))
    return out


def fmt(value):
    return "  n/a " if value is None else f"{value:6.4f}"


def print_summary(title, s):
    print(f"[INFO] {title}: {s['count']} ({s['bona_fide']} bona fide, {s['attacks']} attacks, {s['not_sure']} not sure)")
    print(f"       APCER {fmt(s['apcer'])}  BPCER {fmt(s['bpcer'])}  ACER {fmt(s['acer'])}  "
          f"BPCER20 {fmt(s['bpcer20'])}  BPCER100 {fmt(s['bpcer100'])}  EER {fmt(s['eer'])}  AUC {fmt(s['auc'])}")
    for kind, rate in s["apcer_per_type"].items():
        print(f"       APCER[{kind}] {fmt(rate)}")


def write_scores_csv(path, rows, decisions):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "recording", "subject", "frame", "label", "score", "decision",
                     "startX", "startY", "endX", "endY", "detector_confidence"])
    for r, d in zip(rows, decisions):
        writer.writerow([r.file, r.recording, r.subject, r.frame, r.label, f"{r.score:.6f}", d, *r.box,
                         "" if np.isnan(r.detector_confidence) else f"{r.detector_confidence:.4f}"])
    write_bytes(path, buffer.getvalue().encode())


def plot_roc_det(path, scores, labels, bona_fide):
    """ROC (bona fide acceptance against APCER) and DET (BPCER against APCER, log axes); returns the PNG's bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, (roc, det) = plt.subplots(1, 2, figsize=(11, 4.8))
    bona = labels == bona_fide
    # curves need both live faces and attacks; a one-class set gets the empty axes
    attack_types = sorted(set(labels.tolist()) - {bona_fide}) if bona.any() else []
    for kind in attack_types:
        keep = bona | (labels == kind)
        apcer, tpr, _ = roc_curve(bona[keep], scores[keep])
        roc.plot(apcer, tpr, label=kind)
        det.plot(np.clip(apcer, 1e-4, 1), np.clip(1 - tpr, 1e-4, 1), label=kind)
    roc.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    roc.set(xlabel="APCER (attacks accepted)", ylabel="1 - BPCER (bona fide accepted)", title="ROC")
    det.set(xscale="log", yscale="log", xlabel="APCER", ylabel="BPCER", title="DET")
    for ax in (roc, det):
        ax.grid(True, which="both", alpha=0.3)
        if attack_types:
            ax.legend(loc="best")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    write_bytes(path, png.getvalue())
    return png.getvalue()


def save_failures(folder, rows, decisions, bona_fide):
    """Every decided, misclassified face as a PNG under <true>_as_<predicted>/, with metadata.csv."""
    groups = {}
    for r, d in zip(rows, decisions):
        if d == NOT_SURE:
            continue
        predicted_bona = d == REAL
        if predicted_bona != (r.label == bona_fide):
            groups.setdefault(f"{r.label}_as_{'real' if predicted_bona else 'fake'}", []).append(r)
    for name, members in groups.items():
        out = os.path.join(folder, name)
        os.makedirs(out, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["file", "source", "frame", "score"])
        for r in members:
            stem = f"{r.recording}_{r.frame:06d}" if is_recording(r.file) else os.path.splitext(os.path.basename(r.file))[0]
            target = os.path.join(out, stem + ".png")
            ok, encoded = cv2.imencode(".png", preview(r.roi))
            if ok:
                write_bytes(target, encoded.tobytes())
            writer.writerow([os.path.basename(target), r.file, r.frame, f"{r.score:.6f}"])
        write_bytes(os.path.join(out, "metadata.csv"), buffer.getvalue().encode())
    return {k: len(v) for k, v in groups.items()}


@exit_on_error
def main():
    args = parse_args()
    exclusions = load_exclusions(args.exclude)
    print("[INFO] loading liveness model...")
    from liveness.models.model_io import load_classifier, prepare_runtime

    print(f"[INFO] runtime: {prepare_runtime(args.model, args.verbose)}")
    from liveness.evaluation.scoring import score_folder

    classifier, _ = load_classifier(args.model, args.le, args.bona_fide)  # its threshold is resolved below
    detector = detector_for(args, args.model)
    score = dict(classifier=classifier, bona_fide=args.bona_fide, detector=detector, detect=args.detect, skip=args.skip)

    if args.calibrate:
        print(f"[INFO] calibrating the liveness threshold on {args.calibrate}...")
        dev_rows, _ = score_folder(args.calibrate, **score)
        dev_rows, _ = leave_out(dev_rows, exclusions, args.calibrate)
        threshold, criterion = calibrate(dev_rows, args.bona_fide, args.target_apcer)
        update_metadata(args.model, threshold=threshold, threshold_criterion=criterion,
                        calibrated_on=os.path.abspath(args.calibrate), bona_fide=args.bona_fide)
        print(f"[INFO] threshold {threshold:.4f} ({criterion}) stored in {args.model}.json")
    if args.dataset is None:
        return
    threshold, source = resolve_threshold(args.model, args.threshold)
    band = tuple(args.band) if args.band else None
    print(f"[INFO] liveness threshold {threshold:.4f} ({source}); face detector confidence {detector.min_confidence}")

    rows, counts = score_folder(args.dataset, keep_rois=args.save_failures is not None, **score)
    rows, counts["excluded"] = leave_out(rows, exclusions, args.dataset)
    if args.smooth > 1:
        smooth_scores(rows, args.smooth)
    scores, labels = scores_and_labels(rows)
    decisions = decide(scores, threshold, band)
    frame = summarize(scores, labels, args.bona_fide, threshold, band)
    video_scores, video_labels, recordings = video_level(rows)
    video = summarize(video_scores, video_labels, args.bona_fide, threshold, band)

    print_summary("frame level", frame)
    print_summary("video level", video)
    results = {
        "model": os.path.abspath(args.model), "dataset": os.path.abspath(args.dataset),
        "bona_fide": args.bona_fide, "threshold": threshold, "threshold_source": source,
        "band": list(band) if band else None, "detector": detector.name, "detector_confidence": detector.min_confidence, "smooth": args.smooth,
        "crop_scale": classifier.crop_scale, "crop_rule": classifier.cropper.rule, "input_size": list(classifier.size),
        "faces": len(rows), "frames_without_face": counts["no_face"], "skipped_images": counts["skipped"],
        "excluded_faces": counts["excluded"], "exclude": os.path.abspath(args.exclude) if args.exclude else None,
        **{k: frame[k] for k in ("apcer", "apcer_per_type", "bpcer", "acer", "bpcer20", "bpcer100", "eer", "auc")},
        "frame_level": frame, "video_level": video,
        "per_recording": per_group(rows, "recording", args.bona_fide, threshold, band),
        "per_subject": per_group(rows, "subject", args.bona_fide, threshold, band),
    }
    os.makedirs(args.output, exist_ok=True)
    write_bytes(os.path.join(args.output, "metrics.json"), (json.dumps(results, indent=2) + "\n").encode())
    write_scores_csv(os.path.join(args.output, "scores.csv"), rows, decisions)
    roc_det = plot_roc_det(os.path.join(args.output, "roc_det.png"), scores, labels, args.bona_fide)
    print("[INFO] per person:")
    for name, g in results["per_subject"].items():
        print(f"       {name:12s} faces {g['count']:5d}  APCER {fmt(g['apcer'])}  BPCER {fmt(g['bpcer'])}  AUC {fmt(g['auc'])}")
    if args.save_failures:
        saved = save_failures(args.save_failures, rows, decisions, args.bona_fide)
        print(f"[INFO] failures saved to {args.save_failures}: {saved or 'none'}")
    failures = worst_failures(rows, decisions, args.bona_fide)
    page = render(results, roc_det, failures, os.path.abspath(args.save_failures) if args.save_failures else None)
    write_bytes(os.path.join(args.output, "report.html"), page.encode())
    print(f"[INFO] wrote metrics.json, scores.csv, roc_det.png and report.html to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
