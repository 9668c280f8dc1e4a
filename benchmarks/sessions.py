"""The session's decision rule, chosen by leave-one-person-out on ../shared and reported nested.

    python benchmarks/sessions.py                      # the recommended fusion, sessions of 10 frames
    python benchmarks/sessions.py --frames 20

Every recording of ../shared/data (videos: one frame in --every; image sets: every frame, they are
subsampled already; frames of benchmarks/shared_data_exclude.csv left out) is cut into windows of --frames
consecutive frames: each window is one session. Each frame is scored as the service scores it (the model's
own face detector, every face, the largest judged, its quality measured by liveness.faces.quality).

The candidates (fixed before anything ran): the mean, the median, the mean logit and the trimmed mean of the
judged frames' scores, each with capture checks (the face's shorter side at least 0, 40 or 80 pixels, its
brightness at least 0, 40 or 60, its sharpness at least 0 or 20), a session judged when at least half its
frames pass: 72 rules. The choice rule (fixed before anything ran): the lowest session ACER, where a live
session asked to retry counts as rejected (never as right) and an attack session asked to retry as refused;
on a tie the simpler rule (fewer checks, then mean before median before mean logit before trimmed mean).
Reported: that rule chosen on all persons (its LOPO figures are the same, it fits nothing else), and the
nested figure, where each person's sessions are decided by the rule chosen without them.
"""
import argparse
import collections
import itertools
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
AGGREGATES = ("mean", "median", "mean_logit", "trimmed_mean")


def candidate_rules():
    from liveness.service.sessions import Rule

    return [Rule(aggregate=a, min_face=f, min_brightness=b, min_sharpness=s)
            for a, f, b, s in itertools.product(AGGREGATES, (0, 40, 80), (0.0, 40.0, 60.0), (0.0, 20.0))]


def simplicity(rule):
    checks = sum(v > 0 for v in (rule.min_face, rule.min_brightness, rule.min_sharpness))
    return checks, AGGREGATES.index(rule.aggregate), rule.min_face, rule.min_brightness, rule.min_sharpness


def score_frames(args):
    """{recording: (label, person, [frame records])}, each frame as the service's session records it."""
    from liveness.common.provenance import recording_of, subject_of
    from liveness.data.exclusions import load_exclusions
    from liveness.faces.detectors import create_detector
    from liveness.faces.media import list_media, read_frames
    from liveness.faces.quality import face_quality
    from liveness.models.metadata import resolve_detector_type
    from liveness.models.model_io import load_classifier

    classifier, _ = load_classifier(args.model, args.le)
    detector = create_detector(resolve_detector_type(None, args.model)[0])
    exclusions = load_exclusions(args.exclude) if args.exclude else None
    real = classifier.classes.index(classifier.bona_fide)
    recordings = {}
    paths = [p for folder in ("videos", "images") for p in list_media(os.path.join(args.data, folder))]
    for path in tqdm(paths, desc="recordings", unit="rec"):
        recording = recording_of(path)
        every = 1 if os.path.isdir(path) else args.every
        frames = []
        for index, frame in read_frames(path, select=lambda i: i % every == 0):
            if frame is None or (exclusions is not None and exclusions.excludes(recording, index)):
                continue
            faces = detector.detect(frame)
            record = {"faces": len(faces), "score": None, "box": None, "quality": None}
            if faces:
                box = max((b for b, _ in faces), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                record.update(score=float(classifier.predict([classifier.crop(frame, box)])[0][real]), box=list(box),
                              quality=face_quality(frame, box))
            frames.append(record)
        label = "real" if recording.endswith("_real") else "fake"
        recordings[recording] = (label, subject_of(recording), frames)
    return recordings


def sessions_of(recordings, size):
    """[(person, label, frames)] of every window of `size` consecutive frames."""
    out = []
    for label, person, frames in recordings.values():
        for start in range(0, len(frames) - size + 1, size):
            out.append((person, label, frames[start:start + size]))
    return out


def figures(decisions):
    """APCER, BPCER (live sessions not decided real, retries included), ACER and retry rates."""
    live = [d for label, d in decisions if label == "real"]
    attack = [d for label, d in decisions if label == "fake"]
    apcer = sum(d == "real" for d in attack) / max(1, len(attack))
    bpcer = sum(d != "real" for d in live) / max(1, len(live))
    return {"sessions": len(decisions), "live": len(live), "attack": len(attack), "apcer": apcer, "bpcer": bpcer,
            "acer": (apcer + bpcer) / 2, "retry_live": sum(d == "retry" for d in live) / max(1, len(live)),
            "retry_attack": sum(d == "retry" for d in attack) / max(1, len(attack))}


def decide_all(sessions, rule, size, threshold):
    from liveness.service.sessions import decide

    return [(label, decide(frames, size, threshold, rule)["decision"]) for _, label, frames in sessions]


def choose(sessions, rules, size, threshold):
    table = {rule: figures(decide_all(sessions, rule, size, threshold)) for rule in rules}
    return min(rules, key=lambda r: (round(table[r]["acer"], 12), simplicity(r))), table


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--data", default=SHARED)
    ap.add_argument("--exclude", default=os.path.join(ROOT, "benchmarks", "shared_data_exclude.csv"))
    ap.add_argument("--every", type=int, default=3, help="one video frame in EVERY (about 8 a second at 25 fps)")
    ap.add_argument("--frames", type=int, default=10, help="a session's frame count")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--cache", default=os.path.join(ROOT, "output", "sessions_frames.json"),
                    help="the frames' scores, kept to choose again without scoring again")
    args = ap.parse_args()
    started = time.perf_counter()
    if os.path.isfile(args.cache):
        with open(args.cache) as f:
            recordings = {k: tuple(v) for k, v in json.load(f).items()}
        print(f"[INFO] frames' scores from {args.cache}")
    else:
        recordings = score_frames(args)
        os.makedirs(os.path.dirname(args.cache), exist_ok=True)
        with open(args.cache, "w") as f:
            json.dump(recordings, f)
    scored = time.perf_counter() - started
    sessions = sessions_of(recordings, args.frames)
    rules = candidate_rules()
    persons = sorted({p for p, _, _ in sessions})
    chosen, table = choose(sessions, rules, args.frames, args.threshold)
    nested, picks = [], collections.Counter()
    for person in persons:
        inner, _ = choose([s for s in sessions if s[0] != person], rules, args.frames, args.threshold)
        picks[inner] += 1
        nested += decide_all([s for s in sessions if s[0] == person], inner, args.frames, args.threshold)
    outer = figures(nested)
    chose = time.perf_counter() - started - scored
    print(f"[INFO] {len(sessions)} sessions of {args.frames} frames from {len(recordings)} recordings, {len(persons)} "
          f"persons; {len(rules)} rules tried; scoring {scored:.0f} s, choosing {chose:.0f} s")
    print("| rule | sessions | APCER | BPCER (retries in) | ACER | live asked to retry | attacks asked to retry |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    plain = next(r for r in rules if simplicity(r) == (0, 0, 0, 0.0, 0.0))
    for name, f in (("the mean, no checks", table[plain]), (f"chosen on all persons: {describe(chosen)}", table[chosen]),
                    ("**the choice rule, nested LOPO**", outer)):
        print(f"| {name} | {f['sessions']} | {f['apcer']:.4f} | {f['bpcer']:.4f} | {f['acer']:.4f} | "
              f"{f['retry_live']:.4f} | {f['retry_attack']:.4f} |")
    print("[INFO] rules the nested folds chose: " + "; ".join(f"{describe(r)} x{n}" for r, n in picks.most_common()))


def describe(rule):
    checks = [f"face >= {rule.min_face} px" if rule.min_face else "",
              f"brightness >= {rule.min_brightness:g}" if rule.min_brightness else "",
              f"sharpness >= {rule.min_sharpness:g}" if rule.min_sharpness else ""]
    checks = [c for c in checks if c]
    return f"{rule.aggregate}" + (f" with {', '.join(checks)}" if checks else ", no checks")


if __name__ == "__main__":
    sys.exit(main())
