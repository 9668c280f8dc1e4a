"""Cross-person protocol: leave one person out, train on the others, evaluate on the one left out.

    python benchmarks/cross_person.py                       # ../shared/data, the original recipe
    python benchmarks/cross_person.py --data DIR --train-args "--epochs 20"

DIR/videos holds <person>_real.<ext> and <person>_fake.<ext> recordings. For each person the
others' ROIs (gathered at --skip, every frame by default) train a model with train_liveness.py;
evaluate_liveness.py then scores the held-out person's videos at a threshold fixed beforehand
(--threshold, 0.5). The table shows frame-level APCER/BPCER/ACER/AUC per held-out person, their
mean, and beside them the random-split accuracy the same training run reported, the figure the
original tutorial quotes.

--exclude names frames whose recording's label does not hold (see liveness/exclusions.py); they
are neither gathered nor scored. Its default, benchmarks/shared_data_exclude.csv, lists the frames
of ../shared/data where the attack recording shows the live person instead of the replay; give
--exclude none for the raw recordings.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.media import is_video  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
DEFAULT_EXCLUDE = os.path.join(ROOT, "benchmarks", "shared_data_exclude.csv")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/<person>_{real,fake}.* (default: ../shared/data)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "cross_person"), help="folder for ROIs, models, results")
    ap.add_argument("-s", "--skip", type=int, default=1, help="gather every N-th frame")
    ap.add_argument("-t", "--threshold", type=float, default=0.5, help="liveness threshold, fixed before evaluation")
    ap.add_argument("--train-args", default="", help="extra train_liveness.py flags, quoted (the recipe under test)")
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE,
                    help="frames left out of gathering and scoring (CSV; default: the ../shared/data list; 'none')")
    ap.add_argument("--eval-args", default="", help="extra evaluate_liveness.py flags, quoted")
    args = ap.parse_args()
    args.exclude_flags = [] if args.exclude.lower() == "none" else ["--exclude", os.path.abspath(args.exclude)]
    return args


def recordings(data):
    """{person: {"real": path, "fake": path}} from DIR/videos, only people with both."""
    folder = os.path.join(data, "videos")
    if not os.path.isdir(folder):
        raise LivenessError(f"no videos folder in {data}")
    people = {}
    for name in sorted(os.listdir(folder)):
        match = re.match(r"(.+)_(real|fake)\.[^.]+$", name)
        if match and is_video(name):
            people.setdefault(match.group(1), {})[match.group(2)] = os.path.join(folder, name)
    people = {p: v for p, v in people.items() if set(v) == {"real", "fake"}}
    if len(people) < 2:
        raise LivenessError(f"{folder} needs recordings of two or more people (<person>_real.*, <person>_fake.*)")
    return people


def run(script, *args, log):
    """Run one of the project's commands; its output goes to `log`; a failure stops the protocol."""
    command = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    with open(log, "w") as f:
        result = subprocess.run(command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise LivenessError(f"{script} failed; see {log}")


def link_folder(target, sources):
    """target/<class>/ holding symbolic links to the files of each source folder or file."""
    for label, paths in sources.items():
        os.makedirs(os.path.join(target, label), exist_ok=True)
        for path in paths:
            names = [os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".png")] \
                if os.path.isdir(path) else [path]
            for name in names:
                link = os.path.join(target, label, os.path.basename(name))
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(name), link)


def random_split_accuracy(report_path):
    text = open(report_path).read()
    match = re.search(r"^\s*accuracy\s+([0-9.]+)", text, re.M)
    return float(match.group(1)) if match else None


def fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


@exit_on_error
def main():
    args = parse_args()
    started = time.perf_counter()
    people = recordings(args.data)
    work = os.path.abspath(args.work)
    if os.path.exists(work):
        import shutil

        shutil.rmtree(work)
    os.makedirs(work)
    print(f"[INFO] people: {', '.join(people)}; work folder {work}")

    for person, videos in people.items():
        for label, video in videos.items():
            print(f"[INFO] gathering {person} {label} (every {args.skip} frame)...")
            run("gather_examples.py", "-i", video, "-o", os.path.join(work, "rois", person, label), "-s", args.skip,
                *args.exclude_flags, log=os.path.join(work, f"gather_{person}_{label}.log"))

    results = {}
    for held_out in people:
        others = [p for p in people if p != held_out]
        fold = os.path.join(work, f"without_{held_out}")
        link_folder(os.path.join(fold, "dataset"),
                    {label: [os.path.join(work, "rois", p, label) for p in others] for label in ("real", "fake")})
        link_folder(os.path.join(fold, "test"), {label: [people[held_out][label]] for label in ("real", "fake")})
        model, le = os.path.join(fold, "liveness.keras"), os.path.join(fold, "le.pickle")
        print(f"[INFO] training on {', '.join(others)}...")
        run("train_liveness.py", "-d", os.path.join(fold, "dataset"), "-m", model, "-l", le,
            "-p", os.path.join(fold, "plot.png"), "-r", os.path.join(fold, "report.txt"),
            *shlex.split(args.train_args), log=os.path.join(fold, "train.log"))
        print(f"[INFO] evaluating on {held_out}...")
        run("evaluate_liveness.py", "-m", model, "-l", le, "--dataset", os.path.join(fold, "test"),
            "-o", os.path.join(fold, "eval"), "--threshold", args.threshold, *args.exclude_flags, *shlex.split(args.eval_args),
            log=os.path.join(fold, "evaluate.log"))
        metrics = json.load(open(os.path.join(fold, "eval", "metrics.json")))
        results[held_out] = {"trained_on": others, "random_split_accuracy": random_split_accuracy(os.path.join(fold, "report.txt")),
                             "frame": {k: metrics["frame_level"][k] for k in ("count", "apcer", "bpcer", "acer", "auc", "eer")},
                             "video": {k: metrics["video_level"][k] for k in ("apcer", "bpcer", "acer")}}

    keys = ("apcer", "bpcer", "acer", "auc")
    mean = {k: (sum(r["frame"][k] for r in results.values()) / len(results)
                if all(r["frame"][k] is not None for r in results.values()) else None) for k in keys}
    accuracies = [r["random_split_accuracy"] for r in results.values()]
    mean["random_split_accuracy"] = sum(accuracies) / len(accuracies) if None not in accuracies else None
    lines = ["| held-out person | trained on | faces | APCER | BPCER | ACER | AUC | video ACER | random-split accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for person, r in results.items():
        f = r["frame"]
        lines.append(f"| {person} | {', '.join(r['trained_on'])} | {f['count']} | {fmt(f['apcer'])} | {fmt(f['bpcer'])} | "
                     f"{fmt(f['acer'])} | {fmt(f['auc'])} | {fmt(r['video']['acer'])} | {fmt(r['random_split_accuracy'])} |")
    lines.append(f"| **mean** | | | {fmt(mean['apcer'])} | {fmt(mean['bpcer'])} | {fmt(mean['acer'])} | {fmt(mean['auc'])} | | "
                 f"{fmt(mean['random_split_accuracy'])} |")
    table = "\n".join(lines)
    print(f"[INFO] cross-person results (frame level, threshold {args.threshold}, train args: '{args.train_args}', "
          f"frames left out: {args.exclude_flags[-1] if args.exclude_flags else 'none'}):")
    print(table)
    with open(os.path.join(work, "cross_person.json"), "w") as f:
        json.dump({"threshold": args.threshold, "train_args": args.train_args, "skip": args.skip,
                   "exclude": args.exclude_flags[-1] if args.exclude_flags else None,
                   "seconds": round(time.perf_counter() - started, 1),
                   "per_person": results, "mean": mean}, f, indent=2)
    with open(os.path.join(work, "cross_person.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
