"""The session's decision rule, chosen by leave-one-person-out on ../shared and reported nested.

    python benchmarks/sessions.py                      # the recommended fusion, sessions of 10 frames
    python benchmarks/sessions.py --frames 20

Every recording of ../shared/data (videos: one frame in --every; image sets: every frame, they are
subsampled already; frames of benchmarks/shared_data_exclude.csv left out) starts a session at every --frames-th
frame. Each frame is scored as the service scores it (the model's own face detector, every face, the largest
judged, its quality measured by liveness.faces.quality).

As in the service, a session skips the frames it would not count (no face, several, off the oval, smaller than
the rule's face size: the page only hints) until it has --frames counted ones (a recording that ends first
leaves it undecided: retry); those it would not judge (too dark, too blurred, a repeat of an earlier frame) are
counted, not judged. A session whose
judged frames show two persons (liveness.sessions.identity) or never move beyond one still picture
(liveness.sessions.camera) asks to retry, as the service does.

The candidates (fixed before anything ran, round 2): at least a share of the judged frames live on their own
(0.5, 0.6, 0.7, 0.8, 0.9 or 1.0: a few confident frames cannot carry the rest), with the quality rules on (the
face's shorter side at least 40, 60 or 80 pixels, its brightness at least 30, 40 or 60, its sharpness at least 10
or 20), a session judged when at least half its frames are: 108 rules. The choice rule (fixed before anything
ran): the lowest session ACER, where a live session asked to retry counts as rejected and an attack session
asked to retry as refused; on a tie the stricter share, then the smaller checks. Reported beside it: today's
rule (the mean logit of the judged frames, no quality checks, no camera or identity check) on the same windows,
the rule chosen on all persons, and the nested figure, where each person's sessions are decided by the rule
chosen without them. (Round 1, the rule shipped before: 72 rules over four ways to average the scores.)
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

from liveness.common.atomic import write_bytes  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
CACHE = os.path.join(ROOT, "output", "sessions_frames_v2.json")  # every frame as scored once, for the benchmarks after


def candidate_rules():
    from liveness.sessions.rule import Rule

    return [Rule(min_live_share=k, min_face=f, min_brightness=b, min_sharpness=s)
            for k, f, b, s in itertools.product(LIVE_SHARES, (40, 60, 80), (30.0, 40.0, 60.0), (10.0, 20.0))]


LIVE_SHARES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def simplicity(rule):
    return -rule.min_live_share, rule.min_face, rule.min_brightness, rule.min_sharpness


def score_frames(args):
    """{recording: (label, person, [frame records])}, each frame as the service's session records it."""
    from liveness.common.provenance import recording_of, subject_of
    from liveness.data.exclusions import load_exclusions
    from liveness.faces.detectors import create_detector
    from liveness.faces.media import list_media, read_frames
    from liveness.faces.quality import face_quality
    from liveness.models.metadata import resolve_detector_type
    from liveness.models.model_io import load_classifier
    from liveness.sessions.camera import signature
    from liveness.sessions.identity import FaceIdentity

    classifier, _ = load_classifier(args.model, args.le)
    detector = create_detector(resolve_detector_type(None, args.model)[0])
    exclusions = load_exclusions(args.exclude) if args.exclude else None
    real = classifier.classes.index(classifier.bona_fide)
    identity = FaceIdentity()
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
            record = {"faces": len(faces), "score": None, "box": None, "quality": None,
                      "size": [frame.shape[1], frame.shape[0]]}
            if faces:
                box = max((b for b, _ in faces), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                record.update(score=float(classifier.predict([classifier.crop(frame, box)])[0][real]), box=list(box),
                              quality=face_quality(frame, box))
            if len(faces) == 1:
                record.update(signature=signature(frame, box), descriptor=identity.describe(frame, box))
            frames.append(record)
        label = "real" if recording.endswith("_real") else "fake"
        recordings[recording] = (label, subject_of(recording), frames)
    return recordings


def sessions_of(recordings, size):
    """[(person, label, frames)]: a session starting at every `size`-th frame of each recording, with all the frames
    after it. As in the service, a session takes frames until `size` of them are counted (a frame with no face, or
    several, or one off the oval or too small, only gets a hint), and more while its face has not moved (up to
    STILL_EXTRA times `size` counted frames: see decide_all); the recording may end first."""
    out = []
    for label, person, frames in recordings.values():
        for start in range(0, len(frames) - size + 1, size):
            out.append((person, label, frames[start:]))
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


def counted(frames, rule, limit):
    """The first `limit` frames the service counts under `rule`, as it records them: each with the reason it is not
    judged (too dark, too blurred, a repeat), or None. The frames it would only hint at are left out, as the
    service leaves them out of a session."""
    from liveness.sessions.camera import duplicate_of

    records, earlier = [], []
    for frame in frames:
        if len(records) == limit:
            break
        if rule.hint([{"box": frame["box"]}] * frame["faces"], frame["size"]) is not None:
            continue
        problem = rule.problem(frame["quality"])
        if problem is None and duplicate_of(frame["signature"], earlier):
            problem = "duplicate_frame"
        earlier.append(frame["signature"])
        records.append({**frame, "problem": problem})
    return records


def measure_pairs_once():
    """Keep every face pair's residual for the process: a benchmark decides the same windows under many rules or
    matches, more pairs than the service's bounded cache holds."""
    import functools

    from liveness.sessions import camera

    if camera._pair_residual.cache_info().maxsize is not None:
        camera._pair_residual = functools.lru_cache(maxsize=None)(camera._pair_residual.__wrapped__)


def decide_all(sessions, rule, size, threshold):
    """Each session decided as the service decides it: on its first `size` counted frames, or, while the judged
    faces have not moved beyond one still picture, on one more counted frame at a time, up to STILL_EXTRA times
    `size`. A recording that ends first leaves the session undecided: asked to retry (frames_missing)."""
    from liveness.sessions.flow import STILL_EXTRA
    from liveness.sessions.rule import decide

    measure_pairs_once()
    out = []
    for _, label, frames in sessions:
        records = counted(frames, rule, STILL_EXTRA * size)
        end = size
        while end < len(records) and rule.still([r["signature"] for r in records[:end] if r["problem"] is None]):
            end += 1
        out.append((label, decide(records[:end], size, threshold, rule)["decision"]))
    return out


def todays_decisions(sessions, size, threshold):
    """The rule shipped before (round 1): the mean logit of the frames with one face or more (the largest),
    no quality, camera or identity check, at least half the frames judged."""
    import numpy as np

    out = []
    for _, label, frames in sessions:
        scores = [f["score"] for f in frames[:size] if f["faces"] == 1]
        if len(scores) < size / 2:
            out.append((label, "retry"))
            continue
        p = np.clip(scores, 1e-6, 1 - 1e-6)
        mean = 1 / (1 + np.exp(-np.log(p / (1 - p)).mean()))
        out.append((label, "real" if mean >= threshold else "fake"))
    return out


def choose(sessions, rules, decided, keep=lambda person: True):
    """The rule of lowest ACER (then simplest) over the sessions whose person `keep` keeps; `decided` holds every
    rule's decision of every session, made once (the rule's choice only picks among them)."""
    kept = [i for i, (person, _, _) in enumerate(sessions) if keep(person)]
    table = {rule: figures([(sessions[i][1], decided[rule][i]) for i in kept]) for rule in rules}
    return min(rules, key=lambda r: (round(table[r]["acer"], 12), simplicity(r))), table



def add_cache_argument(ap, help="the frames benchmarks/sessions.py scored"):
    ap.add_argument("--cache", default=CACHE, help=help)


def read_cache(path):
    """{recording: (label, person, frames)} as benchmarks/sessions.py scored them."""
    if not os.path.isfile(path):
        raise LivenessError(f"{path} not found: run benchmarks/sessions.py first")
    with open(path) as f:
        return {k: tuple(v) for k, v in json.load(f).items()}


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
    add_cache_argument(ap, "the frames' scores, kept to choose again without scoring again")
    args = ap.parse_args()
    started = time.perf_counter()
    if os.path.isfile(args.cache):
        recordings = read_cache(args.cache)
        print(f"[INFO] frames' scores from {args.cache}")
    else:
        recordings = score_frames(args)
        write_bytes(args.cache, json.dumps(recordings).encode())
    scored = time.perf_counter() - started
    sessions = sessions_of(recordings, args.frames)
    rules = candidate_rules()
    persons = sorted({p for p, _, _ in sessions})
    decided = {rule: [d for _, d in decide_all(sessions, rule, args.frames, args.threshold)]
               for rule in tqdm(rules, desc="rules", unit="rule")}
    chosen, table = choose(sessions, rules, decided)
    nested, picks = [], collections.Counter()
    for person in persons:
        inner, _ = choose(sessions, rules, decided, keep=lambda p: p != person)
        picks[inner] += 1
        nested += [(label, decided[inner][i]) for i, (p, label, _) in enumerate(sessions) if p == person]
    outer = figures(nested)
    chose = time.perf_counter() - started - scored
    print(f"[INFO] {len(sessions)} sessions of {args.frames} frames from {len(recordings)} recordings, {len(persons)} "
          f"persons; {len(rules)} rules tried; scoring {scored:.0f} s, choosing {chose:.0f} s")
    print("| rule | sessions | APCER | BPCER (retries in) | ACER | live asked to retry | attacks asked to retry |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    today = figures(todays_decisions(sessions, args.frames, args.threshold))
    for name, f in (("today's rule: the mean logit, no checks", today),
                    (f"chosen on all persons: {describe(chosen)}", table[chosen]),
                    ("**the choice rule, nested LOPO**", outer)):
        print(f"| {name} | {f['sessions']} | {f['apcer']:.4f} | {f['bpcer']:.4f} | {f['acer']:.4f} | "
              f"{f['retry_live']:.4f} | {f['retry_attack']:.4f} |")
    print("[INFO] rules the nested folds chose: " + "; ".join(f"{describe(r)} x{n}" for r, n in picks.most_common()))


def describe(rule):
    return (f"{rule.min_live_share:g} of the judged frames live, face >= {rule.min_face} px, brightness >= "
            f"{rule.min_brightness:g}, sharpness >= {rule.min_sharpness:g}")


if __name__ == "__main__":
    sys.exit(main())
