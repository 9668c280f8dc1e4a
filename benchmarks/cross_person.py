"""Cross-person protocol over the whole pool: every person scored by a model that never saw them.

    python benchmarks/cross_person.py                                   # the original recipe, leave one person out
    python benchmarks/cross_person.py --train-args "--crop-scale 4 --size 64" --folds 4
    python benchmarks/cross_person.py --model pretrained/minifasnet.keras --le pretrained/le.pickle   # zero-shot
    python benchmarks/cross_person.py --data NEW --model M --le L --threshold T --dev none --attack-type subjX=print
                                                              # a frozen choice on persons nobody chose with

DIR/videos holds <person>_real.<ext> and/or <person>_fake.<ext>, DIR/images image sets (folders of
one session's frames) named the same way: a person may have only live recordings (they count in
BPCER) or only attacks (APCER). The persons are split once into dev persons (--dev) and test
persons (everyone else).

- Training (unless --model): the persons go into --folds groups (default: one person a fold,
  leave-one-out); each fold's persons are scored by a model trained with train_liveness.py on
  all the other persons' ROIs, gathered once at --skip.
- Zero-shot (--model): one fixed model scores every person; nothing is trained.
- The threshold is chosen on the dev persons' scores alone (their EER), unless --threshold fixes
  it, and then applied to the test persons. With --dev lopo every person is a test person, and
  each person's threshold is the EER threshold of all the other persons' scores: leave one
  person out for the threshold too. Recipes are compared on the dev figures; the test
  figures are for reporting the chosen one. With --threshold and --dev none, every person is a
  test person: the way to score a model and threshold chosen on this pool on recordings of new
  people.

It prints and writes to WORK/cross_person.json: for dev and test persons pooled, at frame and
video level, APCER per attack type (ATTACK_TYPES below) and the worst type, BPCER, ACER, AUC,
EER, the worst person's error (ACER for a person with both sides, else their APCER or BPCER),
the same at the fixed threshold 0.5, the per-person rows, and what each step cost.

--exclude names frames whose recording's label does not hold (liveness/data/exclusions.py); they are
neither gathered nor scored. Its default, benchmarks/shared_data_exclude.csv, lists those of
../shared/data; --exclude none gives the raw recordings.
"""
import argparse
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.evaluation.metrics import equal_error_rate, summarize  # noqa: E402
from liveness.faces.media import is_image_set, is_video  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
DEFAULT_EXCLUDE = os.path.join(ROOT, "benchmarks", "shared_data_exclude.csv")
# Fixed once, before any recipe was measured on them: one phone-replay person, one screen-replay
# person and two live-only people for choosing; the rest for reporting.
DEV_PERSONS = ("subjA", "subjK", "subjE", "subjG")
# The attack instrument of each attack recording (PAI species), from ../shared/data's README; others are "replay".
ATTACK_TYPES = {"subjA": "phone", "subjD": "phone", "subjS": "phone", "subjU": "phone", "subjW": "phone",
                "subjY": "phone", "subjAB": "phone", "subjAC": "phone", "subjAD": "phone", "subjAE": "phone",
                "subjAF": "phone", "subjAI": "phone", "subjK": "screen", "subjL": "screen", "subjAG": "screen",
                "subjAH": "screen", "subjAA": "screen_and_phone"}
BONA_FIDE = "real"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/<person>_{real,fake}.* (default: ../shared/data)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "cross_person"), help="folder for ROIs, models, results")
    ap.add_argument("--persons", nargs="+", default=None, help="only these persons (default: every person in videos/)")
    ap.add_argument("--dev", nargs="+", default=list(DEV_PERSONS),
                    help="the dev persons (default: %(default)s); 'none' with --threshold: everyone is a test person; "
                         "'lopo': everyone is, each at the threshold chosen on all the others")
    ap.add_argument("--detector-type", default=None,
                    help="the face detector for gathering and scoring (default: the model's, else the SSD)")
    ap.add_argument("--attack-type", nargs="+", default=[], metavar="PERSON=TYPE",
                    help="the attack instrument of a person's fake recording, for APCER per type "
                         "(default: the table ATTACK_TYPES, else 'replay')")
    ap.add_argument("--folds", type=int, default=0, help="group the persons into K folds (default: one per person)")
    ap.add_argument("--model", default=None, help="score every person with this model instead of training (zero-shot)")
    ap.add_argument("--le", default=None, help="with --model: its label encoder")
    ap.add_argument("-s", "--skip", type=int, default=1, help="gather every N-th frame for training")
    ap.add_argument("--eval-skip", type=int, default=3, help="score every N-th frame of the held-out persons")
    ap.add_argument("-t", "--threshold", type=float, default=None,
                    help="fix the liveness threshold (default: the dev persons' EER threshold)")
    ap.add_argument("--train-args", default="", help="extra train_liveness.py flags, quoted (the recipe under test)")
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE,
                    help="frames left out of gathering and scoring (CSV; default: the ../shared/data list; 'none')")
    ap.add_argument("--eval-args", default="", help="extra evaluate_liveness.py flags, quoted")
    args = ap.parse_args()
    args.exclude_flags = [] if args.exclude.lower() == "none" else ["--exclude", os.path.abspath(args.exclude)]
    if (args.model is None) != (args.le is None):
        raise LivenessError("--model and --le go together")
    if args.skip < 1 or args.eval_skip < 1 or args.folds < 0:
        raise LivenessError("--skip and --eval-skip must be 1 or more, --folds 0 (one per person) or more")
    args.lopo = args.dev == ["lopo"]
    if args.dev in (["none"], ["lopo"]):
        args.dev = []
    if args.lopo and args.threshold is not None:
        raise LivenessError("--dev lopo chooses each person's threshold on the others: leave --threshold out")
    args.detector_flags = ["--detector-type", args.detector_type] if args.detector_type else []
    args.attack_types = dict(ATTACK_TYPES)
    for item in args.attack_type:
        person, _, kind = item.partition("=")
        if not person or not re.fullmatch(r"[a-z0-9_]+", kind):
            raise LivenessError(f"--attack-type takes PERSON=TYPE (a type in lower case, e.g. print), not '{item}'")
        args.attack_types[person] = kind
    return args


def recordings(data, only=None):
    """{person: {"real": path, "fake": path}} from DIR/videos and DIR/images; a person may lack either side."""
    videos, images = os.path.join(data, "videos"), os.path.join(data, "images")
    if not os.path.isdir(videos) and not os.path.isdir(images):
        raise LivenessError(f"no videos or images folder in {data}")
    people = {}
    found = [(n, os.path.join(videos, n)) for n in sorted(os.listdir(videos)) if is_video(n)] if os.path.isdir(videos) else []
    if os.path.isdir(images):
        found += [(n + ".set", os.path.join(images, n)) for n in sorted(os.listdir(images))
                  if is_image_set(os.path.join(images, n))]
    folder = " and ".join(f for f in (videos, images) if os.path.isdir(f))
    for name, path in found:
        match = re.match(r"([^_]+)_(real|fake)\.[^.]+$", name)
        if match:
            if match.group(2) in people.get(match.group(1), {}):
                raise LivenessError(f"two {match.group(2)} recordings of {match.group(1)} in {folder}")
            people.setdefault(match.group(1), {})[match.group(2)] = path
    people = dict(sorted(people.items()))
    if only:
        missing = sorted(set(only) - set(people))
        if missing:
            raise LivenessError(f"no recordings of {', '.join(missing)} in {folder}")
        people = {p: v for p, v in people.items() if p in only}
    if len(people) < 2:
        raise LivenessError(f"{folder} needs recordings of two or more people (<person>_real.*, <person>_fake.*)")
    return people


def attack_type(person, types):
    return types.get(person, "replay")


def folds_of(persons, k):
    """Persons in k groups, round-robin over the sorted names (k = 0: one person a fold)."""
    persons = sorted(persons)
    k = len(persons) if k == 0 else min(k, len(persons))
    return [persons[i::k] for i in range(k)]


def run(script, *args, log):
    """Run one of the project's commands; its output goes to `log`; a failure stops the protocol."""
    command = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    with open(log, "w") as f:
        result = subprocess.run(command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise LivenessError(f"{script} failed; see {log}")


def link(target_folder, paths):
    os.makedirs(target_folder, exist_ok=True)
    for path in paths:
        names = [os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".png")] \
            if os.path.isdir(path) else [path]
        for name in names:
            target = os.path.join(target_folder, os.path.basename(name))
            if not os.path.lexists(target):
                os.symlink(os.path.abspath(name), target)


def test_folder(folder, people, persons, types):
    """folder/real/ and folder/<attack type>/ holding links to the persons' recordings; `types`: {person: attack type}.

    An image set is linked whole, so that evaluation reads it as one recording.
    """
    for person in persons:
        for side, recording in people[person].items():
            target = os.path.join(folder, BONA_FIDE if side == "real" else attack_type(person, types))
            os.makedirs(target, exist_ok=True)
            os.symlink(os.path.abspath(recording), os.path.join(target, os.path.basename(recording)))


def read_scores(path):
    with open(path, newline="") as f:
        return [{"recording": r["recording"], "subject": r["subject"], "frame": int(r["frame"]), "label": r["label"],
                 "score": float(r["score"])} for r in csv.DictReader(f)]


def person_error(summary):
    """One person's error from their liveness.evaluation.metrics summary: ACER, or APCER/BPCER for a person with
    one side."""
    return next(summary[k] for k in ("acer", "apcer", "bpcer") if summary[k] is not None)


def lopo_thresholds(rows):
    """{person: the EER threshold of every other person's scores}: no person's threshold has seen them."""
    import numpy as np

    thresholds = {}
    for person in sorted({r["subject"] for r in rows}):
        others = [r for r in rows if r["subject"] != person]
        _, t = equal_error_rate(np.array([r["score"] for r in others]), np.array([r["label"] for r in others]), BONA_FIDE)
        if t is None:
            raise LivenessError(f"without {person} the others need live and attack faces to choose a threshold")
        thresholds[person] = min(float(t), 1.0)
    return thresholds


def at_own_threshold(rows, thresholds):
    """Rows whose scores are moved so that 0.5 decides each person as their own threshold does.

    score >= t exactly when score - t + 0.5 >= 0.5, for every face, and for a recording's mean too.
    """
    return [{**r, "score": r["score"] - thresholds[r["subject"]] + 0.5} for r in rows]


def figures(rows, threshold):
    """Pooled frame- and video-level figures, and the worst person's error, at `threshold`.

    `threshold` may be {person: threshold} (--dev lopo): the error rates are then each person's at their own
    threshold, while AUC and EER, which no threshold enters, come from the scores as they are.
    """
    import numpy as np

    if not rows:
        return None
    if isinstance(threshold, dict):
        raw = figures(rows, 0.5)
        result = figures(at_own_threshold(rows, threshold), 0.5)
        for level in ("frame", "video"):
            result[level].update({k: raw[level][k] for k in ("auc", "eer")})
        for person, figures_of in result["persons"].items():
            figures_of.update(auc=raw["persons"][person]["auc"], mean_score=raw["persons"][person]["mean_score"],
                              threshold=threshold[person])
        result["threshold"] = threshold
        return result
    scores, labels = np.array([r["score"] for r in rows]), np.array([r["label"] for r in rows])
    keep = ("count", "bona_fide", "attacks", "apcer", "apcer_per_type", "bpcer", "acer", "auc", "eer")
    frame = {k: v for k, v in summarize(scores, labels, BONA_FIDE, threshold).items() if k in keep}
    by_recording = {}
    for r in rows:
        by_recording.setdefault((r["recording"], r["label"]), []).append(r["score"])
    video = summarize(np.array([np.mean(v) for v in by_recording.values()]), np.array([k[1] for k in by_recording]),
                      BONA_FIDE, threshold)
    video = {k: v for k, v in video.items() if k in keep}
    # one decision a recording, the way a user decides a session: its mean score against the threshold
    video["wrong"] = sorted(k[0] for k, v in by_recording.items() if (np.mean(v) >= threshold) != (k[1] == BONA_FIDE))
    persons = {}
    for person in sorted({r["subject"] for r in rows}):
        mine = [r for r in rows if r["subject"] == person]
        s = summarize(np.array([r["score"] for r in mine]), np.array([r["label"] for r in mine]), BONA_FIDE, threshold)
        error = person_error(s)
        persons[person] = {"faces": s["count"], "apcer": s["apcer"], "bpcer": s["bpcer"], "error": error, "auc": s["auc"],
                           "mean_score": float(np.mean([r["score"] for r in mine]))}
    worst = max(persons, key=lambda p: persons[p]["error"])
    return {"threshold": threshold, "frame": frame, "video": video, "persons": persons,
            "worst_person": {"person": worst, "error": persons[worst]["error"]}}


def fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def table(name, result):
    f, v = result["frame"], result["video"]
    types = ", ".join(f"{k} {fmt(x)}" for k, x in f["apcer_per_type"].items())
    t = result["threshold"]
    t = f"{min(t.values()):.4f}..{max(t.values()):.4f} (each person's)" if isinstance(t, dict) else f"{t:.4f}"
    return (f"| {name} | {t} | {f['count']} | {fmt(f['apcer'])} ({types}) | {fmt(f['bpcer'])} | "
            f"{fmt(f['acer'])} | {fmt(f['auc'])} | {fmt(f['eer'])} | {result['worst_person']['person']} "
            f"{fmt(result['worst_person']['error'])} | {fmt(v['acer'])} | {len(v['wrong'])}/{v['count']}"
            f"{' (' + ', '.join(v['wrong']) + ')' if v['wrong'] else ''} |")


def person_rows(result, types):
    return [f"| {p} | {attack_type(p, types) if r['apcer'] is not None else ''} | {r['faces']} | {fmt(r['apcer'])} | "
            f"{fmt(r['bpcer'])} | {fmt(r['error'])} | {fmt(r['auc'])} | {r['mean_score']:.3f} |"
            for p, r in result["persons"].items()]


def gather_all(people, work, args, timings):
    for person, videos in people.items():
        for side, video in videos.items():
            started = time.perf_counter()
            run("gather_examples.py", "-i", video, "-o", os.path.join(work, "rois", person, side), "-s", args.skip,
                *args.exclude_flags, *args.detector_flags, log=os.path.join(work, f"gather_{person}_{side}.log"))
            timings[f"gather {person} {side}"] = round(time.perf_counter() - started, 1)
            print(f"[INFO] gathered {person} {side} ({timings[f'gather {person} {side}']} s)", flush=True)


def evaluate(model, le, folder, out, args, log):
    run("evaluate_liveness.py", "-m", model, "-l", le, "--dataset", folder, "-o", out, "--threshold", 0.5,
        "--skip", args.eval_skip, *args.exclude_flags, *args.detector_flags, *shlex.split(args.eval_args), log=log)
    return read_scores(os.path.join(out, "scores.csv"))


@exit_on_error
def main():
    args = parse_args()
    started = time.perf_counter()
    people = recordings(args.data, args.persons)
    dev = [p for p in people if p in args.dev]
    test = [p for p in people if p not in args.dev]
    if not test or (not dev and args.threshold is None and not args.lopo):
        raise LivenessError(f"need test persons, and dev persons unless --threshold fixes it; dev {dev}, test {test}")
    work = os.path.abspath(args.work)
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    print(f"[INFO] dev persons: {', '.join(dev) or 'none'}; test persons: {', '.join(test)}; work folder {work}", flush=True)
    timings, rows, folds = {}, [], []

    if args.model is not None:
        folder = os.path.join(work, "pool")
        test_folder(folder, people, people, args.attack_types)
        t = time.perf_counter()
        rows = evaluate(os.path.abspath(args.model), os.path.abspath(args.le), folder, os.path.join(work, "eval"), args,
                        os.path.join(work, "evaluate.log"))
        timings["evaluate all persons"] = round(time.perf_counter() - t, 1)
        print(f"[INFO] scored every person with {args.model} ({timings['evaluate all persons']} s)", flush=True)
    else:
        gather_all(people, work, args, timings)
        for i, held_out in enumerate(folds_of(people, args.folds)):
            others = [p for p in people if p not in held_out]
            fold = os.path.join(work, f"fold{i}_without_{'_'.join(held_out)}")
            for side in ("real", "fake"):
                link(os.path.join(fold, "dataset", side),
                     [os.path.join(work, "rois", p, side) for p in others if side in people[p]])
            test_folder(os.path.join(fold, "test"), people, held_out, args.attack_types)
            model, le = os.path.join(fold, "liveness.keras"), os.path.join(fold, "le.pickle")
            print(f"[INFO] fold {i}: training on {', '.join(others)}...", flush=True)
            t = time.perf_counter()
            run("train_liveness.py", "-d", os.path.join(fold, "dataset"), "-m", model, "-l", le,
                "-p", os.path.join(fold, "plot.png"), "-r", os.path.join(fold, "report.txt"),
                *shlex.split(args.train_args), log=os.path.join(fold, "train.log"))
            trained = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            rows += evaluate(model, le, os.path.join(fold, "test"), os.path.join(fold, "eval"), args,
                             os.path.join(fold, "evaluate.log"))
            evaluated = round(time.perf_counter() - t, 1)
            folds.append({"held_out": held_out, "trained_on": others, "train_seconds": trained, "evaluate_seconds": evaluated})
            print(f"[INFO] fold {i}: scored {', '.join(held_out)} (training {trained} s, evaluation {evaluated} s)",
                  flush=True)

    dev_rows = [r for r in rows if r["subject"] in dev]
    test_rows = [r for r in rows if r["subject"] in test]
    if args.threshold is not None:
        threshold, chosen = args.threshold, "fixed by --threshold"
    elif args.lopo:
        threshold, chosen = lopo_thresholds(test_rows), "each person's: the EER of all the other persons"
    else:
        import numpy as np

        _, threshold = equal_error_rate(np.array([r["score"] for r in dev_rows]), np.array([r["label"] for r in dev_rows]),
                                        BONA_FIDE)
        if threshold is None:
            raise LivenessError("the dev persons need live and attack faces to choose a threshold")
        threshold, chosen = min(float(threshold), 1.0), "the dev persons' EER"
    results = {"dev": figures(dev_rows, threshold), "test": figures(test_rows, threshold),
               "dev_at_0.5": figures(dev_rows, 0.5), "test_at_0.5": figures(test_rows, 0.5)}
    seconds = round(time.perf_counter() - started, 1)
    header = ["| persons | threshold | faces | APCER (per type) | BPCER | ACER | AUC | EER | worst person | recording ACER "
              "| recordings wrong |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    summary = header + [table(f"{name} ({len(dev if name.startswith('dev') else test)})", results[name])
                        for name in ("dev", "test", "dev_at_0.5", "test_at_0.5") if results[name] is not None]
    per_person = ["| person | attack | faces | APCER | BPCER | error | AUC | mean score |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"] + \
        [row for side in ("dev", "test") if results[side] is not None for row in person_rows(results[side], args.attack_types)]
    what = f"model {args.model}" if args.model else f"train args '{args.train_args}', {len(folds)} folds"
    shown = "each person's own" if isinstance(threshold, dict) else f"{threshold:.4f}"
    print(f"[INFO] cross-person results ({what}; detector {args.detector_type or 'the model default'}; threshold "
          f"{shown}: {chosen}; frames left out: {args.exclude_flags[-1] if args.exclude_flags else 'none'}; "
          f"every {args.eval_skip} frame scored):")
    print("\n".join(summary))
    print(f"[INFO] per person, at threshold {shown}:")
    print("\n".join(per_person))
    print(f"[INFO] the protocol took {seconds:.0f} s" +
          (f" (training {sum(f['train_seconds'] for f in folds):.0f} s over {len(folds)} folds, the longest "
           f"{max(f['train_seconds'] for f in folds):.0f} s)" if folds else ""))
    test_frame = results["test"]["frame"]
    json_out = {"model": os.path.abspath(args.model) if args.model else None, "train_args": args.train_args,
                "skip": args.skip, "eval_skip": args.eval_skip, "dev_persons": dev, "test_persons": test,
                "detector_type": args.detector_type,
                "threshold": threshold, "threshold_chosen_by": chosen,
                "exclude": args.exclude_flags[-1] if args.exclude_flags else None, "seconds": seconds,
                "timings": timings, "folds": folds, **results,
                # the test persons' pooled frame figures, as benchmarks/recipes.py reads them
                "mean": {**{k: test_frame[k] for k in ("apcer", "bpcer", "acer", "auc")}, "random_split_accuracy": None}}
    with open(os.path.join(work, "cross_person.json"), "w") as f:
        json.dump(json_out, f, indent=2)
    with open(os.path.join(work, "cross_person.md"), "w") as f:
        f.write("\n".join(summary) + "\n\n" + "\n".join(per_person) + "\n")


if __name__ == "__main__":
    main()
