"""The video-level decision (--smooth N) measured on a recipe's cross-person models.

    python benchmarks/smoothing.py --recipe context3-64-strong-std-image --seeds 42 1 2 --smooth 1 5 15

Takes the models benchmarks/recipes.py trained (--work, output/recipes by default) and scores
each held-out person's videos again with evaluate_liveness.py --smooth N: each frame's score is
the mean over its recording's last N frames, as the demo's --smooth does for a tracked face.
Prints frame-level APCER, BPCER, ACER and AUC at the fixed threshold 0.5, averaged over the
held-out people and the seeds.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import DEFAULT_EXCLUDE  # noqa: E402  (one list of frames for every benchmark)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", required=True, help="a recipe name of benchmarks/recipes.py, already run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--smooth", type=int, nargs="+", default=[1, 5, 15])
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE, help="as the cross-person runs used ('none' for none)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "recipes"))
    args = ap.parse_args()
    exclude = [] if args.exclude.lower() == "none" else ["--exclude", args.exclude]
    folds = []
    for seed in args.seeds:
        work = os.path.join(args.work, args.recipe if args.seeds == [42] else f"{args.recipe}_seed{seed}")
        if not os.path.isdir(work):
            sys.exit(f"[ERROR] no results for recipe {args.recipe}, seed {seed} in {work}: run benchmarks/recipes.py first")
        folds += [os.path.join(work, name) for name in sorted(os.listdir(work)) if "without_" in name]
    print("| `--smooth` | APCER | BPCER | ACER | AUC |")
    print("| --- | --- | --- | --- | --- |")
    for n in args.smooth:
        figures = []
        for fold in folds:
            out = os.path.join(fold, f"eval_smooth{n}")
            subprocess.run([sys.executable, os.path.join(ROOT, "evaluate_liveness.py"), "-m", os.path.join(fold, "liveness.keras"),
                            "-l", os.path.join(fold, "le.pickle"), "--dataset", os.path.join(fold, "test"), "-o", out,
                            "--threshold", str(args.threshold), "--smooth", str(n), *exclude],
                           cwd=ROOT, check=True, capture_output=True)
            figures.append(json.load(open(os.path.join(out, "metrics.json")))["frame_level"])
        mean = {k: sum(f[k] for f in figures) / len(figures) for k in ("apcer", "bpcer", "acer", "auc")}
        print(f"| {n} | {mean['apcer']:.4f} | {mean['bpcer']:.4f} | {mean['acer']:.4f} | {mean['auc']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
