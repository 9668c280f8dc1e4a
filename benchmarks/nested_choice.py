"""The choice rule's nested LOPO over cross_person.py runs: which recipe it picks without each person.

    python benchmarks/nested_choice.py fusion=output/fusion_eval@0.5 pretrained-head=output/ft_head@lopo

Each NAME=WORK@RULE is a cross_person.py work folder (a model scored as it is, or trained per fold), with the
threshold rule of that recipe: 0.5, or lopo (each person at the EER threshold of the others' scores). The
rule is pool_heads.py's: the lowest pooled frame ACER under LOPO, ties to the earlier recipe. For each person,
it is applied to the other persons alone (their LOPO thresholds re-chosen without that person too), and the
person is scored by the recipe it picks. Only frames every run scored are compared.

The models are not retrained: an inner person's score comes from the model that left that person out, which
did see the outer person. The check is of the choice among finished runs.
"""
import argparse
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import at_own_threshold, figures, fmt, lopo_thresholds, read_scores  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402


def parse_run(text):
    name, _, rest = text.partition("=")
    work, _, rule = rest.rpartition("@")
    if not name or not work or rule not in ("0.5", "lopo"):
        raise LivenessError(f"each run is NAME=WORK@0.5 or NAME=WORK@lopo, got {text!r}")
    paths = sorted(glob.glob(os.path.join(work, "fold*", "eval", "scores.csv"))) or \
        sorted(glob.glob(os.path.join(work, "eval", "scores.csv")))
    if not paths:
        raise LivenessError(f"no scores.csv in {work} (a cross_person.py work folder)")
    rows = [r for p in paths for r in read_scores(p)]
    return name, rule, {(r["recording"], r["frame"]): r for r in rows}


def scored(rows, rule):
    """figures() of `rows` under the recipe's threshold rule."""
    return figures(rows, lopo_thresholds(rows) if rule == "lopo" else 0.5)


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=WORK@RULE, RULE 0.5 or lopo, in the rule's order of ties")
    runs = [parse_run(text) for text in ap.parse_args().runs]
    common = set.intersection(*(set(frames) for _, _, frames in runs))
    print(f"[INFO] {len(common)} frames scored by every run")
    rows = {name: [frames[k] for k in sorted(common)] for name, _, frames in runs}
    rules = {name: rule for name, rule, _ in runs}
    for name in rows:
        f = scored(rows[name], rules[name])["frame"]
        print(f"[INFO] {name} ({rules[name]}), all persons: ACER {fmt(f['acer'])}, AUC {fmt(f['auc'])}")
    persons = sorted({r["subject"] for r in next(iter(rows.values()))})
    picks = {}
    for person in persons:
        inner = {name: scored([r for r in rs if r["subject"] != person], rules[name])["frame"]["acer"]
                 for name, rs in rows.items()}
        picks[person] = min(inner, key=lambda n: (inner[n], list(rows).index(n)))
        print(f"[INFO] without {person}: " + ", ".join(f"{n} {fmt(a)}" for n, a in inner.items()) +
              f" -> {picks[person]}")
    # each person scored by the recipe picked without them, at that recipe's own LOPO threshold for them
    decided = {name: at_own_threshold(rows[name], lopo_thresholds(rows[name])) if rules[name] == "lopo" else rows[name]
               for name in set(picks.values())}
    nested = [r for person in persons for r in decided[picks[person]] if r["subject"] == person]
    f = figures(nested, 0.5)["frame"]
    print(f"[INFO] the rule, nested LOPO: ACER {fmt(f['acer'])}, APCER {fmt(f['apcer'])}, BPCER {fmt(f['bpcer'])}; "
          f"picked {', '.join(sorted(set(picks.values())))}")


if __name__ == "__main__":
    main()
