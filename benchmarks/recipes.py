"""The recipe search: each recipe through the cross-person protocol, compared on the dev persons only.

    python benchmarks/recipes.py --only original context pretrained-head   # dev figures, one table
    python benchmarks/recipes.py --reuse --report pretrained-zero-shot      # the chosen one on the test persons, once
    python benchmarks/recipes.py --choose-on-all --only original pretrained-zero-shot   # a choice for new persons

Each recipe is a set of train_liveness.py flags (or, for pretrained-zero-shot, a model scored as it is).
benchmarks/cross_person.py runs it over the pool of ../shared/data: the persons in --folds groups,
each group scored by a model trained on all the others (gathered every --skip frame), the
threshold chosen on the dev persons' scores. This prints, per recipe, the dev persons' pooled
frame-level figures at that threshold (APCER per attack type, BPCER, ACER, AUC, the worst dev
person), the protocol's time and the longest training, and writes the table to WORK/recipes.md.
Choose on this table. --report NAME then prints that recipe's test-person figures: the one
figure to quote, taken once.

Once the test persons' figures have been read, no choice made here can be tested on them again.
--choose-on-all then makes the choice on every person's held-out scores (all of them dev persons
now), writes it to WORK/choice.json, and prints the command that scores it on recordings of new
people: the only test left for it.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import DEFAULT_EXCLUDE, fmt, person_error  # noqa: E402  (one list of frames, one format, one error)
from liveness.common.atomic import write_bytes  # noqa: E402

PRETRAINED = "pretrained/minifasnet.keras"  # python -m liveness.pretrained
PRETRAINED_LE = os.path.join(os.path.dirname(PRETRAINED), "le.pickle")
CONTEXT = "--crop-scale 4 --size 64 --augment strong --class-weight balanced --standardize image"
ZERO_SHOT = "pretrained-zero-shot"
RECIPES = {  # name: train_liveness.py flags
    "original": "",
    "balanced": "--class-weight balanced",
    "strong-aug": "--augment strong --class-weight balanced",
    "context2-32": "--crop-scale 2 --class-weight balanced",
    "context2-64": "--crop-scale 2 --size 64 --class-weight balanced",
    "context2-64-strong": "--crop-scale 2 --size 64 --augment strong --class-weight balanced",
    "context3-64-strong": "--crop-scale 3 --size 64 --augment strong --class-weight balanced",
    "synthetic": "--synthetic-replay 1 --class-weight balanced",
    "context2-64-synthetic": "--crop-scale 2 --size 64 --synthetic-replay 1 --class-weight balanced",
    "context2-64-strong-synthetic": "--crop-scale 2 --size 64 --augment strong --synthetic-replay 1 --class-weight balanced",
    "context3-64-strong-synthetic": "--crop-scale 3 --size 64 --augment strong --synthetic-replay 1 --class-weight balanced",
    "context3.5-64-strong": "--crop-scale 3.5 --size 64 --augment strong --class-weight balanced",
    "context3-64-strong-synthetic-live": "--crop-scale 3 --size 64 --augment strong --class-weight balanced "
                                         "--synthetic-replay 0.5 --synthetic-scene live",
    "context3-64-strong-std-image": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image",
    "context3-64-strong-std-channel": "--crop-scale 3 --size 64 --augment strong --class-weight balanced "
                                      "--standardize channel",
    "std-image-gap": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image --arch gap",
    "std-image-mobile": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image --arch mobile",
    "std-image-deep": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image --arch deep",
    "std-image-wide": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image --arch wide",
    "std-image-synthetic-live": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --standardize image --synthetic-replay 0.5 --synthetic-scene live",
    "context4-64-strong": "--crop-scale 4 --size 64 --augment strong --class-weight balanced",
    "std-image-crop4": "--crop-scale 4 --size 64 --augment strong --class-weight balanced --standardize image",
    "std-image-crop4-original-aug": "--crop-scale 4 --size 64 --class-weight balanced --standardize image",
    "std-image-crop4-unbalanced": "--crop-scale 4 --size 64 --augment strong --standardize image",
    "context3-64-strong-ensemble5": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --ensemble 5",
    # on the twelve-person pool
    "std-image-crop4-shift": f"{CONTEXT} --crop-rule shift",
    ZERO_SHOT: None,  # the converted pair as it is: nothing trained
    "pretrained-head": f"--init {PRETRAINED} --trainable head --epochs 2 --lr 1e-4 --batch-size 16",
    "pretrained-all": f"--init {PRETRAINED} --trainable all --epochs 1 --lr 1e-5 --batch-size 16",
    "pretrained-pull": f"--init {PRETRAINED} --trainable all --epochs 2 --lr 1e-4 --batch-size 16 --pull 0.1",
    "pretrained-head-gentle": f"--init {PRETRAINED} --trainable head --epochs 1 --lr 1e-5 --batch-size 16",
    # pretrained-all with simulated replays of half the live training faces: every live person is an attack too
    "pretrained-all-synthetic": f"--init {PRETRAINED} --trainable all --epochs 1 --lr 1e-5 --batch-size 16 "
                                "--synthetic-replay 0.5 --synthetic-scene live",
}


def protocol_flags(name, args):
    """cross_person.py's flags for a recipe: its training flags, or the model it scores as it is."""
    flags = ["--data", args.data, "--folds", str(args.folds), "--skip", str(args.skip)]
    if name == ZERO_SHOT:
        return flags + ["--model", PRETRAINED, "--le", PRETRAINED_LE]
    return flags


def earlier_result(work, name, train_args, args):
    """cross_person.json in `work` if it was made the same way (flags, exclusions, folds, frames), else None."""
    path = os.path.join(work, "cross_person.json")
    if not os.path.isfile(path):
        return None
    done = json.load(open(path))
    wanted_exclude = None if args.exclude and args.exclude.lower() == "none" else os.path.abspath(args.exclude or DEFAULT_EXCLUDE)
    same = (done.get("train_args") == train_args and done.get("exclude") == wanted_exclude and done.get("dev")
            and (name == ZERO_SHOT) == bool(done.get("model"))
            and (name == ZERO_SHOT or (done.get("skip") == args.skip and len(done.get("folds", [])) == args.folds)))
    return done if same else None


def run_recipe(name, seed, args):
    flags = RECIPES[name]
    work = os.path.join(args.work, name if args.seeds == [42] else f"{name}_seed{seed}")
    # seed 42 is train_liveness.py's default: left out, so the flags read as the recipe's
    train_args = "" if flags is None else (flags if seed == 42 else f"{flags} --seed {seed}".strip())
    done = earlier_result(work, name, train_args, args) if args.reuse else None
    if done is None:
        command = [sys.executable, os.path.join(ROOT, "benchmarks", "cross_person.py"), "--work", work,
                   *protocol_flags(name, args), *(["--train-args", train_args] if flags is not None else []),
                   *(["--exclude", args.exclude] if args.exclude else [])]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stdout[-2000:] + result.stderr[-2000:])
            return None
        done = json.load(open(os.path.join(work, "cross_person.json")))
    return done


def dev_row(name, runs):
    dev = [r["dev"] for r in runs]
    frame = lambda key: sum(d["frame"][key] for d in dev) / len(dev)  # noqa: E731  (mean over seeds)
    types = sorted(dev[0]["frame"]["apcer_per_type"])
    per_type = ", ".join(f"{t} {fmt(sum(d['frame']['apcer_per_type'][t] for d in dev) / len(dev))}" for t in types)
    worst = max((d["worst_person"] for d in dev), key=lambda w: w["error"])
    longest = max((f["train_seconds"] for r in runs for f in r["folds"]), default=None)
    flags = RECIPES[name]
    return (f"| {name} | `{flags if flags is not None else 'no training: ' + PRETRAINED}` | {len(runs)} | "
            f"{fmt(frame('apcer'))} ({per_type}) | {fmt(frame('bpcer'))} | {fmt(frame('acer'))} | {fmt(frame('auc'))} | "
            f"{worst['person']} {fmt(worst['error'])} | {sum(r['threshold'] for r in runs) / len(runs):.4f} | "
            f"{sum(r['seconds'] for r in runs) / len(runs):.0f} | {'n/a' if longest is None else f'{longest:.0f}'} |")


def report(name, runs):
    """The chosen recipe on the test persons: at the dev persons' threshold, and at 0.5 for reference."""
    print(f"[INFO] {name} on the test persons ({', '.join(runs[0]['test']['persons'])}), frame level, "
          f"threshold chosen on the dev persons ({', '.join(runs[0]['dev']['persons'])}):")
    print("| seed | threshold | faces | APCER (per type) | BPCER | ACER | AUC | EER | worst person | video ACER |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        seed = r.get("seed", "")
        for key in ("test", "test_at_0.5"):
            t, f = r[key], r[key]["frame"]
            types = ", ".join(f"{k} {fmt(v)}" for k, v in f["apcer_per_type"].items())
            print(f"| {seed} | {t['threshold']:.4f} | {f['count']} | {fmt(f['apcer'])} ({types}) | {fmt(f['bpcer'])} | "
                  f"{fmt(f['acer'])} | {fmt(f['auc'])} | {fmt(f['eer'])} | {t['worst_person']['person']} "
                  f"{fmt(t['worst_person']['error'])} | {fmt(t['video']['acer'])} |")
    print("| person | faces | APCER | BPCER | error | AUC |\n| --- | --- | --- | --- | --- | --- |")
    for person, p in runs[0]["test"]["persons"].items():
        print(f"| {person} | {p['faces']} | {fmt(p['apcer'])} | {fmt(p['bpcer'])} | {fmt(p['error'])} | {fmt(p['auc'])} |")


def held_out_scores(work):
    """Every face's (person, label, score) from a cross_person.py run: each scored by a model that never saw the person."""
    import csv
    import glob

    rows = []
    for path in sorted(glob.glob(os.path.join(work, "eval", "scores.csv")) +
                       glob.glob(os.path.join(work, "fold*", "eval", "scores.csv"))):
        with open(path, newline="") as f:
            rows += [(r["subject"], r["label"], float(r["score"])) for r in csv.DictReader(f)]
    return rows


def nested(names, args):
    """Leave one person out of the choice too: for each person, the recipe and threshold chosen on the others.

    The choice for a person uses the other persons' held-out scores; the models behind those scores may have
    been trained with that person, a small leak a full nested protocol (retraining per choice) would not have.
    """
    import numpy as np

    from liveness.evaluation.metrics import equal_error_rate, summarize

    scores = {name: held_out_scores(os.path.join(args.work, name)) for name in names}
    persons = sorted({p for rows in scores.values() for p, _, _ in rows})
    chosen, faces = [], []
    for person in persons:
        best = None
        for name, rows in scores.items():
            others = [(label, s) for p, label, s in rows if p != person]
            labels, values = np.array([x[0] for x in others]), np.array([x[1] for x in others])
            _, threshold = equal_error_rate(values, labels, "real")
            acer = summarize(values, labels, "real", threshold)["acer"]
            if best is None or acer < best[0]:
                best = (acer, name, threshold)
        chosen.append((person, best[1], best[2], best[0]))
        faces += [(label, s >= best[2]) for p, label, s in scores[best[1]] if p == person]
    labels = np.array([f[0] for f in faces])
    accepted = np.array([f[1] for f in faces])
    print("| person | recipe chosen on the others | others' ACER | threshold |\n| --- | --- | --- | --- |")
    for person, name, threshold, acer in chosen:
        print(f"| {person} | {name} | {fmt(acer)} | {threshold:.4f} |")
    apcer = {t: float(np.mean(accepted[labels == t])) for t in sorted(set(labels) - {"real"})}
    bpcer = float(np.mean(~accepted[labels == "real"]))
    worst = max(apcer.values())
    print(f"[INFO] nested choice over {len(persons)} persons, {len(faces)} faces: APCER {fmt(worst)} "
          f"({', '.join(f'{t} {fmt(v)}' for t, v in apcer.items())}), BPCER {fmt(bpcer)}, ACER {fmt((worst + bpcer) / 2)}")


def choose_on_all(names, args):
    """The recipe and threshold chosen on every person of the pool, to be tested on persons outside it."""
    import numpy as np

    from liveness.evaluation.metrics import equal_error_rate, summarize

    print("| recipe | faces | threshold (EER of all) | APCER (per type) | BPCER | ACER | AUC | worst person |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")
    compared = []
    for name in names:
        rows = held_out_scores(os.path.join(args.work, name))
        if not rows:
            sys.exit(f"[ERROR] no held-out scores of {name} in {os.path.join(args.work, name)}: run it first")
        persons, labels, scores = (np.array([r[i] for r in rows]) for i in range(3))
        _, threshold = equal_error_rate(scores, labels, "real")
        pooled = summarize(scores, labels, "real", threshold)
        errors = {}
        for person in sorted(set(persons)):
            errors[person] = person_error(summarize(scores[persons == person], labels[persons == person], "real", threshold))
        worst = max(errors, key=errors.get)
        compared.append({"recipe": name, "threshold": threshold, "acer": pooled["acer"], "auc": pooled["auc"],
                         "persons": sorted(errors), "worst_person": worst, "worst_error": errors[worst]})
        types = ", ".join(f"{t} {fmt(v)}" for t, v in pooled["apcer_per_type"].items())
        print(f"| {name} | {len(rows)} | {threshold:.4f} | {fmt(pooled['apcer'])} ({types}) | {fmt(pooled['bpcer'])} | "
              f"{fmt(pooled['acer'])} | {fmt(pooled['auc'])} | {worst} {fmt(errors[worst])} |")
    choice = min(compared, key=lambda c: c["acer"])
    write_bytes(os.path.join(args.work, "choice.json"), json.dumps(
        {"chosen": choice, "compared": compared, "chosen_on": "every person's held-out scores"}, indent=2).encode())
    flags = RECIPES[choice["recipe"]]
    model = (f"--model {PRETRAINED} --le {PRETRAINED_LE}" if flags is None else
             "--model M --le L (M, L: train_liveness.py " + (flags or "with its defaults") + " on every person's ROIs)")
    print(f"[INFO] chosen on all {len(choice['persons'])} persons among {len(compared)} recipes: {choice['recipe']} at "
          f"threshold {choice['threshold']:.4f} (written to {os.path.join(args.work, 'choice.json')}). Its test is on "
          f"new people only:\n  python benchmarks/cross_person.py --data NEW {model} --threshold "
          f"{choice['threshold']:.4f} --dev none --exclude none")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--only", nargs="+", choices=list(RECIPES), help="run only these recipes")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42], help="train each recipe once per seed (default: 42)")
    ap.add_argument("--folds", type=int, default=5, help="cross_person.py --folds (default: 5)")
    ap.add_argument("--skip", type=int, default=3, help="cross_person.py --skip for training ROIs (default: 3)")
    ap.add_argument("--exclude", default=None,
                    help="frames left out (CSV, or 'none'), passed to cross_person.py (default: its ../shared/data list)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "recipes"))
    ap.add_argument("--reuse", action="store_true",
                    help="take a recipe's results from --work where a run made the same way is there")
    ap.add_argument("--report", metavar="NAME", choices=list(RECIPES),
                    help="print this (chosen) recipe's figures on the test persons, and nothing else")
    ap.add_argument("--nested", action="store_true",
                    help="with --only and --reuse: for every person, the recipe and threshold chosen on all the others")
    ap.add_argument("--choose-on-all", action="store_true",
                    help="with --only: the recipe and threshold chosen on every person's held-out scores (runs in --work), "
                         "to be tested on new persons")
    args = ap.parse_args()
    if args.nested:
        return nested(args.only or list(RECIPES), args)
    if args.choose_on_all:
        return choose_on_all(args.only or list(RECIPES), args)
    names = [args.report] if args.report else (args.only or list(RECIPES))
    rows = ["| recipe | flags | seeds | dev APCER (per type) | dev BPCER | dev ACER | dev AUC | worst dev person | "
            "threshold | protocol seconds | longest training (s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    started = time.perf_counter()
    for name in names:
        print(f"[INFO] recipe {name}: {RECIPES[name] if RECIPES[name] is not None else 'zero-shot ' + PRETRAINED}", flush=True)
        runs = []
        for seed in ([42] if name == ZERO_SHOT else args.seeds):
            done = run_recipe(name, seed, args)
            if done is None:
                break
            done["seed"] = seed
            runs.append(done)
            print(f"[INFO]   seed {seed}: dev ACER {fmt(done['dev']['frame']['acer'])}, "
                  f"AUC {fmt(done['dev']['frame']['auc'])}", flush=True)
        if args.report:
            return report(name, runs) if runs else sys.exit(f"[ERROR] no results for {name}")
        rows.append(dev_row(name, runs) if runs else f"| {name} | `{RECIPES[name]}` | failed | | | | | | | | |")
        print("\n".join(rows), flush=True)
    print(f"[INFO] {len(names)} recipes, {time.perf_counter() - started:.0f} s")
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "recipes.md"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
