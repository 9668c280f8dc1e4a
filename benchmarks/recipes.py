"""The recipe search: every recipe through the cross-person protocol, one table.

    python benchmarks/recipes.py                     # all recipes below, ../shared/data
    python benchmarks/recipes.py --only original context2-64

Each recipe is a set of train_liveness.py flags. benchmarks/cross_person.py trains it on one
person and evaluates it on the other at the fixed threshold 0.5, both ways; this prints the
mean frame-level APCER, BPCER, ACER and AUC of each, with its training time and size, and
writes the table to output/recipes/recipes.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

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
    "context3-64-strong-seed1": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --seed 1",
    "context3-64-strong-seed2": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --seed 2",
    "context2.5-64-strong": "--crop-scale 2.5 --size 64 --augment strong --class-weight balanced",
    "context3-96-strong": "--crop-scale 3 --size 96 --augment strong --class-weight balanced",
    "context3-64-strong-gap": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --arch gap",
    "context3-64-strong-deep": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --arch deep",
    "context3-64-strong-wide": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --arch wide",
    "context3-64-strong-mobile": "--crop-scale 3 --size 64 --augment strong --class-weight balanced --arch mobile",
}


def fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--only", nargs="+", choices=list(RECIPES), help="run only these recipes")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "recipes"))
    args = ap.parse_args()
    rows = ["| recipe | train_liveness.py flags | APCER | BPCER | ACER | AUC | random-split accuracy | seconds (2 trainings + evaluations) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in args.only or RECIPES:
        flags = RECIPES[name]
        work = os.path.join(args.work, name)
        print(f"[INFO] recipe {name}: {flags or '(the original)'}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "cross_person.py"), "--data", args.data,
                                 "--work", work, "--train-args", flags], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stdout[-2000:] + result.stderr[-2000:])
            rows.append(f"| {name} | `{flags}` | failed | | | | | |")
            continue
        mean = json.load(open(os.path.join(work, "cross_person.json")))["mean"]
        rows.append(f"| {name} | `{flags or '(none)'}` | {fmt(mean['apcer'])} | {fmt(mean['bpcer'])} | "
                    f"{fmt(mean['acer'])} | {fmt(mean['auc'])} | {fmt(mean['random_split_accuracy'])} | {seconds:.0f} |")
        print("\n".join(rows), flush=True)
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "recipes.md"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
