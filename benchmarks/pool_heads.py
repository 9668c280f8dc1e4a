"""The pool protocol for the pretrained pair and small heads on its frozen embeddings, with the choice rule.

    python benchmarks/pool_heads.py                      # every person of ../shared/data, every 3rd frame
    python benchmarks/pool_heads.py --data NEW --every 1
    python benchmarks/pool_heads.py --context output/ln_context      # and fusions with LivenessNet context

Every recording (videos and image sets) goes once through the pair's own detector (RetinaFace) and
the pair; each kept frame leaves the pair's score, both networks' 128-d embeddings and their logits
(cached in WORK/features.npz). Then each recipe below is scored leave-one-person-out (LOPO): each
person by a head trained, and a threshold chosen, on the other persons only.

The choice rule, fixed before any recipe was run: the recipe with the lowest pooled frame ACER under
LOPO; ties go to the earlier recipe in RECIPES (the simpler). Its honest figure is nested LOPO: for
each person, the rule is applied to the LOPO figures of the other persons alone (every head trained
without both), and the chosen recipe's LOPO score is that person's. The rule's own choice on all
persons is what to ship; the nested figure is what to quote for it.

--context names a finished cross_person.py run of LivenessNet `context` (trained per fold, --detector-type
retinaface, the same frames): its held-out scores join the pair's faces by recording and frame, and two
more recipes fuse them on logits, the weights chosen per LOPO fold like the second network's. Only the
faces that run scored are then compared.

It prints a table (recipes x frame APCER per instrument, BPCER, ACER, AUC, worst person, recording
errors; a recording is decided by its frames' mean score), the nested-LOPO row, and each step's time,
and writes WORK/pool_heads.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cross_person import ATTACK_TYPES, DEFAULT_DATA, DEFAULT_EXCLUDE, attack_type, fmt, recordings  # noqa: E402
from cross_person import figures as person_figures  # noqa: E402
from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.evaluation.metrics import equal_error_rate  # noqa: E402
from liveness.models.fusion import blend, choose_weights, logit  # noqa: E402

BONA_FIDE = "real"
# name: (features, a tuple of members fused with the pair, or None for the pair's own score;
#        C of the logistic regression; threshold rule)
RECIPES = {
    "pair@0.5": (None, None, "0.5"),
    "pair@lopo-threshold": (None, None, "lopo"),
    "head-logits-C1": ("logits", 1.0, "0.5"),
    "head-logits-C0.01": ("logits", 0.01, "0.5"),
    "head-embeddings-C0.1": ("embeddings", 0.1, "0.5"),
    "head-embeddings-C0.01": ("embeddings", 0.01, "0.5"),
    "head-embeddings-C0.001": ("embeddings", 0.001, "0.5"),
    # added after the rows above were seen (counted in the recipes tried): the second network, alone and fused
    "second@0.5": ("second", None, "0.5"),
    "fusion-pair-second": (("second",), None, "0.5"),  # what train_liveness.py --recipe fused makes
}
# added in a later session, with --context (counted in the recipes tried): fusions with LivenessNet context
CONTEXT_RECIPES = {
    "fusion-pair-context": (("context",), None, "0.5"),
    "fusion-pair-second-context": (("second", "context"), None, "0.5"),
}
SECOND = os.path.join(DEFAULT_DATA, "pretrained", "face-antispoof-onnx", "best_model.onnx")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/ and images/ (default: ../shared/data)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "pool_heads"))
    ap.add_argument("--model", default=os.path.join(ROOT, "pretrained", "minifasnet.keras"))
    ap.add_argument("--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--every", type=int, default=3, help="score every N-th frame (as cross_person.py's --eval-skip)")
    ap.add_argument("--exclude", default=DEFAULT_EXCLUDE, help="frames left out (CSV; 'none')")
    ap.add_argument("--no-nested", action="store_true", help="skip the nested LOPO of the choice rule")
    ap.add_argument("--context", help="a cross_person.py work folder of LivenessNet context's held-out scores")
    ap.add_argument("--second", default=SECOND,
                    help="the second network (face-antispoof-onnx's best_model.onnx; default: ../shared/data's copy)")
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        raise LivenessError(f"model not found: {args.model} (python -m liveness.pretrained)")
    return args


def embedding_networks(model):
    """For each network of the pair: a Keras model giving its 128-d embedding (after BN) and its logits."""
    import keras

    nets = [model.get_layer("minifasnet_v2"), model.get_layer("minifasnet_v1se")]
    return [keras.Model(net.inputs, [net.get_layer("bn").output, net.output]) for net in nets]


def extract(args):
    """{recording: arrays} of subject, label, frame, score, embeddings (256) and logits (6) for kept frames."""
    from tqdm import tqdm

    from liveness.common.provenance import recording_of, subject_of
    from liveness.data.exclusions import load_exclusions
    from liveness.faces.crops import roi_to_input
    from liveness.faces.detectors import create_detector
    from liveness.faces.media import read_frames
    from liveness.models.model_io import load_classifier, load_model

    classifier, _ = load_classifier(args.model, args.le)
    networks = embedding_networks(load_model(args.model))
    detector = create_detector("retinaface", None, None)
    exclusions = load_exclusions(None if args.exclude.lower() == "none" else args.exclude)
    people = recordings(args.data)
    rows = {k: [] for k in ("subject", "recording", "label", "frame", "score", "embeddings", "logits", "box")}
    column = classifier.classes.index(BONA_FIDE)
    missed = 0
    for person, sides in tqdm(sorted(people.items()), desc="persons", unit="person"):
        for side, path in sides.items():
            recording = recording_of(path)
            kept = lambda i: (i + 1) % args.every == 0 and not exclusions.excludes(recording, i)  # noqa: E731
            for index, frame in read_frames(path, select=kept):
                if frame is None:
                    continue
                faces = detector.detect(frame)
                if not faces:
                    missed += 1
                    continue
                box = faces[0][0]
                roi = classifier.crop(frame, box)
                batch = roi_to_input(roi, classifier.size)[None] * 255.0
                outputs = [net(batch[..., 3 * i:3 * i + 3], training=False) for i, net in enumerate(networks)]
                rows["embeddings"].append(np.concatenate([o[0].numpy()[0] for o in outputs]))
                rows["logits"].append(np.concatenate([o[1].numpy()[0] for o in outputs]))
                rows["score"].append(float(classifier.predict([roi])[0][column]))
                for key, value in (("subject", subject_of(recording)), ("recording", recording), ("label", side),
                                   ("frame", index), ("box", list(box))):
                    rows[key].append(value)
    print(f"[INFO] {len(rows['score'])} faces from {sum(len(s) for s in people.values())} recordings of "
          f"{len(people)} persons; {missed} kept frames without a face", flush=True)
    return {k: np.array(v) for k, v in rows.items()}


def add_second(data, args):
    """The second network's logit difference (real - spoof) for every face, on the pair's own boxes."""
    from liveness.common.provenance import recording_of
    from liveness.faces.media import read_frames
    from liveness.models import second_network

    network = second_network.SecondNetwork(args.second)
    paths = {recording_of(path): path for sides in recordings(args.data).values() for path in sides.values()}
    logits = np.zeros(len(data["score"]), "float32")
    for recording in sorted(set(data["recording"])):
        rows = np.flatnonzero(data["recording"] == recording)
        by_frame = {int(data["frame"][i]): i for i in rows}
        for index, frame in read_frames(paths[recording], select=lambda i: i in by_frame):
            if frame is not None:
                logits[by_frame[index]] = network([second_network.crop(frame, data["box"][by_frame[index]])])[0]
    data["second"] = logits


def add_context(data, work):
    """LivenessNet context's held-out real score for every face its run scored; the others are dropped."""
    import glob

    from cross_person import read_scores

    paths = sorted(glob.glob(os.path.join(work, "fold*", "eval", "scores.csv")))
    if not paths:
        raise LivenessError(f"no fold*/eval/scores.csv in {work} (a cross_person.py run that trained per fold)")
    scores = {(r["recording"], r["frame"]): r["score"] for p in paths for r in read_scores(p)}
    keys = list(zip(data["recording"], data["frame"].astype(int)))
    kept = np.array([k in scores for k in keys])
    print(f"[INFO] LivenessNet context scored {int(kept.sum())} of the {len(keys)} faces; the rest are left out",
          flush=True)
    data = {k: v[kept] for k, v in data.items()}
    data["context"] = np.array([scores[k] for k, keep in zip(keys, kept) if keep])
    return data


def recipes_of(data):
    return {**RECIPES, **(CONTEXT_RECIPES if "context" in data else {})}


def member_logits(data, member):
    return data["second"] if member == "second" else logit(data[member])


def fused_members(data, members, weights, rows=slice(None)):
    return blend(data["score"][rows], [member_logits(data, m)[rows] for m in members], weights)


def member_weights(data, members, train):
    """The members' weights whose fused scores have the lowest pooled ACER at 0.5 on `train`
    (liveness.models.fusion.choose_weights, the rule of the shipped fusion's one weight)."""
    others = [member_logits(data, m)[train] for m in members]
    return choose_weights(data["score"][train], others, data["label"][train] == BONA_FIDE)[0]


def head_scores(features, labels, train, test, c):
    """Real-class probabilities on `test` of a balanced logistic regression fitted on `train`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000))
    head.fit(features[train], labels[train] == BONA_FIDE)
    return head.predict_proba(features[test])[:, 1]


def lopo_decisions(data, recipe, persons):
    """(scores, thresholds) over the rows of `persons`, each person scored and thresholded without them."""
    kind, c, rule = recipes_of(data)[recipe]
    subjects, labels = data["subject"], data["label"]
    scores, thresholds = np.zeros(len(labels)), np.zeros(len(labels))
    for person in persons:
        test = subjects == person
        train = np.isin(subjects, persons) & ~test
        if kind is None:
            scores[test] = data["score"][test]
        elif kind == "second":
            scores[test] = blend(data["score"][test], [data["second"][test]], [1.0])  # the second alone
        elif isinstance(kind, tuple):
            scores[test] = fused_members(data, kind, member_weights(data, kind, train), test)
        else:
            scores[test] = head_scores(data[kind], labels, train, test, c)
        if rule == "0.5":
            thresholds[test] = 0.5
        else:
            _, t = equal_error_rate(data["score"][train], labels[train], BONA_FIDE)
            thresholds[test] = min(float(t), 1.0)
    rows = np.isin(subjects, persons)
    return scores[rows], thresholds[rows], rows


def figures(data, rows, scores, thresholds):
    """cross_person.py's figures (pooled frame and recording level, per person, the worst) for these scores,
    each person at their own threshold."""
    subjects = data["subject"][rows]
    faces = [{"recording": r, "subject": p, "score": float(v),
              "label": BONA_FIDE if lab == BONA_FIDE else attack_type(p, ATTACK_TYPES)}
             for r, p, lab, v in zip(data["recording"][rows], subjects, data["label"][rows], scores)]
    return person_figures(faces, {p: float(t) for p, t in zip(subjects, thresholds)})


def pooled_acer(data, recipe, persons):
    scores, thresholds, rows = lopo_decisions(data, recipe, persons)
    return figures(data, rows, scores, thresholds)["frame"]["acer"]


def nested(data, persons):
    """Each person decided by the recipe that the choice rule picks on the other persons alone."""
    chosen, scores, thresholds = {}, np.zeros(len(data["label"])), np.zeros(len(data["label"]))
    for person in persons:
        others = [p for p in persons if p != person]
        recipes = recipes_of(data)
        acers = {r: pooled_acer(data, r, others) for r in recipes}
        chosen[person] = min(recipes, key=lambda r: (acers[r], list(recipes).index(r)))
        s, t, rows = lopo_decisions(data, chosen[person], persons)
        mine = data["subject"][rows] == person
        index = np.flatnonzero(rows)[mine]
        scores[index], thresholds[index] = s[mine], t[mine]
        print(f"[INFO] nested: {person} decided by {chosen[person]}", flush=True)
    rows = np.isin(data["subject"], persons)
    return figures(data, rows, scores[rows], thresholds[rows]), chosen


def row(name, result):
    f, v, worst = result["frame"], result["video"], result["worst_person"]
    types = ", ".join(f"{k} {fmt(x)}" for k, x in f["apcer_per_type"].items())
    wrong = f"{len(v['wrong'])}/{v['count']}" + (f" ({', '.join(v['wrong'])})" if v["wrong"] else "")
    return (f"| {name} | {fmt(f['apcer'])} ({types}) | {fmt(f['bpcer'])} | {fmt(f['acer'])} | {fmt(f['auc'])} | "
            f"{worst['person']} {fmt(worst['error'])} | {wrong} |")


@exit_on_error
def main():
    args = parse_args()
    os.makedirs(args.work, exist_ok=True)
    timings, started = {}, time.perf_counter()
    cache = os.path.join(args.work, f"features_every{args.every}.npz")
    if os.path.isfile(cache):
        data = dict(np.load(cache))
        print(f"[INFO] features from {cache}", flush=True)
    else:
        data = extract(args)
        np.savez(cache, **data)
    timings["features"] = round(time.perf_counter() - started, 1)
    if "second" not in data:
        t = time.perf_counter()
        add_second(data, args)
        np.savez(cache, **data)
        timings["second network"] = round(time.perf_counter() - t, 1)
    if args.context:
        data = add_context(data, args.context)
    persons, recipes = sorted(set(data["subject"])), recipes_of(data)
    results = {}
    print("| recipe (LOPO) | APCER (per instrument) | BPCER | ACER | AUC | worst person | recordings wrong |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in recipes:
        t = time.perf_counter()
        scores, thresholds, rows = lopo_decisions(data, name, persons)
        results[name] = figures(data, rows, scores, thresholds)
        timings[name] = round(time.perf_counter() - t, 1)
        print(row(name, results[name]), flush=True)
    choice = min(recipes, key=lambda r: (results[r]["frame"]["acer"], list(recipes).index(r)))
    print(f"[INFO] the choice rule on all {len(persons)} persons picks {choice} "
          f"(LOPO ACER {fmt(results[choice]['frame']['acer'])}); {len(recipes)} recipes here")
    everyone = np.ones(len(data["score"]), bool)
    out = {"recipes": results, "choice": choice, "persons": persons, "every": args.every, "timings": timings}
    for name, (kind, _, _) in recipes.items():
        if isinstance(kind, tuple):
            weights = member_weights(data, kind, everyone)
            out[f"{name}_weights"] = dict(zip(kind, weights))
            print(f"[INFO] {name}'s weights, chosen on all persons: "
                  + ", ".join(f"{m} {w:.1f}" for m, w in zip(kind, weights)))
    if not args.no_nested:
        t = time.perf_counter()
        out["nested"], out["nested_choices"] = nested(data, persons)
        timings["nested LOPO"] = round(time.perf_counter() - t, 1)
        print(row("the choice rule, nested LOPO", out["nested"]))
    for step, seconds in timings.items():
        print(f"[INFO] {step}: {seconds} s")
    with open(os.path.join(args.work, "pool_heads.json"), "w") as f:
        json.dump(out, f, indent=2, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))


if __name__ == "__main__":
    main()
