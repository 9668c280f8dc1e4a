"""The recipe search: every recipe through the cross-person protocol, one table.

    python benchmarks/recipes.py                     # all recipes below, ../shared/data
    python benchmarks/recipes.py --only original context2-64 --seeds 42 1 2

Each recipe is a set of train_liveness.py flags. benchmarks/cross_person.py trains it on one
person and evaluates it on the other at the fixed threshold 0.5, both ways, once for each
--seeds (train_liveness.py --seed). With two people a single run says little: the same
recipe at another seed can swing from a good model to a coin toss. This prints, per recipe,
the frame-level APCER, BPCER, ACER and AUC averaged over both held-out people and all seeds,
the worst seed's ACER, and the time, and writes the table to output/recipes/recipes.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import DEFAULT_EXCLUDE  # noqa: E402  (one list of frames for every benchmark)

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
}


def fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def earlier_result(work, train_args, exclude):
    """cross_person.json in `work` if it was made with these training flags and exclusions, else None."""
    path = os.path.join(work, "cross_person.json")
    if not os.path.isfile(path):
        return None
    done = json.load(open(path))
    wanted = None if exclude and exclude.lower() == "none" else os.path.abspath(exclude or DEFAULT_EXCLUDE)
    if done.get("train_args") != train_args or done.get("exclude") != wanted:
        return None
    if "seconds" not in done:  # an older run: from its first gather log's end to its result
        logs = [os.path.join(work, n) for n in os.listdir(work) if n.startswith("gather_")]
        done["seconds"] = os.path.getmtime(path) - min(map(os.path.getmtime, logs)) if logs else None
    return done


def average(values):
    return None if None in values else sum(values) / len(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--only", nargs="+", choices=list(RECIPES), help="run only these recipes")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42], help="train each recipe once per seed (default: 42)")
    ap.add_argument("--exclude", default=None,
                    help="frames left out (CSV, or 'none'), passed to cross_person.py (default: its ../shared/data list)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "recipes"))
    ap.add_argument("--reuse", action="store_true",
                    help="take a seed's results from --work where a run with the same flags, seed and exclusions is there")
    args = ap.parse_args()
    rows = ["| recipe | train_liveness.py flags | seeds | APCER | BPCER | ACER | worst seed's ACER | AUC | "
            "random-split accuracy | seconds a seed (2 trainings + evaluations) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in args.only or RECIPES:
        flags = RECIPES[name]
        print(f"[INFO] recipe {name}: {flags or '(the original)'}", flush=True)
        means, seconds = [], []
        for seed in args.seeds:
            work = os.path.join(args.work, name if args.seeds == [42] else f"{name}_seed{seed}")
            train_args = f"{flags} --seed {seed}"
            done = earlier_result(work, train_args, args.exclude) if args.reuse else None
            if done is None:
                started = time.perf_counter()
                result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "cross_person.py"),
                                         "--data", args.data, "--work", work, "--train-args", train_args,
                                         *(["--exclude", args.exclude] if args.exclude else [])],
                                        cwd=ROOT, capture_output=True, text=True)
                if result.returncode != 0:
                    print(result.stdout[-2000:] + result.stderr[-2000:])
                    break
                done = json.load(open(os.path.join(work, "cross_person.json")))
                done.setdefault("seconds", time.perf_counter() - started)
            means.append(done["mean"])
            seconds.append(done.get("seconds"))
            print(f"[INFO]   seed {seed}: ACER {fmt(means[-1]['acer'])}, AUC {fmt(means[-1]['auc'])}", flush=True)
        seconds = "n/a" if None in seconds or not seconds else f"{sum(seconds) / len(seconds):.0f}"
        if len(means) < len(args.seeds):
            rows.append(f"| {name} | `{flags}` | failed | | | | | | | |")
            continue
        mean = {k: average([m[k] for m in means]) for k in means[0]}
        worst = max((m["acer"] for m in means if m["acer"] is not None), default=None)
        rows.append(f"| {name} | `{flags or '(none)'}` | {len(means)} | {fmt(mean['apcer'])} | {fmt(mean['bpcer'])} | "
                    f"{fmt(mean['acer'])} | {fmt(worst)} | {fmt(mean['auc'])} | {fmt(mean['random_split_accuracy'])} | "
                    f"{seconds} |")
        print("\n".join(rows), flush=True)
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "recipes.md"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
