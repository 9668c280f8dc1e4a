"""The protocol over every group of ../shared/data: the candidates that can ship, chosen and reported by LOPO.

    python benchmarks/groups.py                         # features once (cached in WORK), then every candidate
    python benchmarks/groups.py --shippable             # the candidates that can ship, and the rule among them
    python benchmarks/groups.py --only fusion-shipped fusion-mirror --no-nested       # some rows

Frames: every recording (videos: one frame in --every, as a session sends them; image sets: every frame,
they are subsampled already), the frames of benchmarks/shared_data_exclude.csv left out. Each kept frame
goes once through the recommended model's detector (RetinaFace) at each of DETECTOR_SIDES, and the largest
face of each side through both members of the fusion (the pair and the second network), at every crop scale
of CROP_MULTIPLIERS, as it is and mirrored; its capture quality (liveness.faces.quality) and both members'
128-d embeddings are kept too. Every candidate below is then a few numbers chosen on these features.

Every kept frame counts. A frame where the detector finds no face is not accepted: a live face missed is
rejected, an attack missed is refused; so is a frame a quality gate sends back. Frame level pools every kept
frame; recording level decides a recording by its frames' mean score; session level cuts each recording into
windows of --frames consecutive kept frames and decides each as the service does (liveness.sessions.rule.decide_scores,
the shipped Rule: frames with no face or several are not judged, under half judged asks to retry, which counts
as rejected for a live session and as refused for an attack).

Leave one person (set-up) out, LOPO: every number a candidate chooses (a weight, a threshold, a crop, a gate) is
chosen on the other groups' frames only, and the left-out group is scored with it.

The choice rule, fixed before any candidate was run: the candidate with the lowest pooled frame ACER under
LOPO; on a tie, the earlier in CANDIDATES (the simpler). Its honest figure is nested LOPO: each group is decided
by the candidate the rule picks on the LOPO figures of the other groups alone (every number re-chosen without
both), with that candidate's numbers chosen without it.
"""
import argparse
import collections
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.evaluation.metrics import auc  # noqa: E402
from liveness.models.fusion import logit, weight_grid  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
DETECTOR_SIDES = (192, 320, 480)  # RetinaFace's input, pixels of area a side (192: the original's)
DETECTOR_CONFIDENCES = (0.1, 0.3, 0.5)  # its minimum confidence (0.1: every box the network reports)
CROP_MULTIPLIERS = (0.8, 0.9, 1.0, 1.1, 1.25)  # each member's crop scale times this (1: as trained)
SCALES_TTA = (0.9, 1.0, 1.1)
GATE_SIZES, GATE_BRIGHTNESS, GATE_SHARPNESS = (0, 40, 80), (0.0, 40.0, 60.0), (0.0, 20.0)  # the sessions grid
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
SHIPPED_WEIGHT = 0.3
# The instrument of each attack group (per recording; frames named apart where a recording mixes them).
INSTRUMENTS = {"A": "phone", "D": "phone", "S": "phone", "U": "phone", "W": "phone", "Y": "phone", "AB": "phone",
               "AC": "phone", "AD": "phone", "AE": "phone", "AF": "phone", "AI": "phone",
               "K": "screen", "L": "screen", "AG": "screen", "AH": "screen", "AA": "screen"}
# subjAA: monitors showing TV news and phone photos, 9 frames; counted with the screens, its larger part.
# Frames of another instrument inside a recording are counted with their recording's, and reported apart: too
# few to be an instrument of their own (the first run made AH's 3 newspaper frames one, and the worst
# instrument's APCER, so the ACER, then moved in thirds).
OTHER_FRAMES = {"print": ("subjAH_fake", (0, 1, 2))}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=SHARED, help="folder with videos/ and images/ (default: ../shared/data)")
    ap.add_argument("--work", default=os.path.join(ROOT, "output", "groups"), help="folder for the features cache")
    ap.add_argument("--pretrained", default=os.path.join(ROOT, "pretrained"),
                    help="the folder python -m liveness.pretrained wrote (minifasnet.keras, best_model.onnx)")
    ap.add_argument("--exclude", default=os.path.join(ROOT, "benchmarks", "shared_data_exclude.csv"))
    ap.add_argument("--every", type=int, default=3, help="one video frame in EVERY (image sets: every frame)")
    ap.add_argument("--frames", type=int, default=10, help="a session's frame count")
    ap.add_argument("--only", nargs="+", help="only these candidates (the rule chooses among them)")
    ap.add_argument("--shippable", action="store_true",
                    help="only the candidates that can ship (a few numbers chosen here, no weights trained here)")
    ap.add_argument("--no-nested", action="store_true")
    args = ap.parse_args()
    unknown = sorted(set(args.only or ()) - set(CANDIDATES))
    if unknown:
        raise LivenessError(f"unknown candidate {unknown[0]}; one of {', '.join(CANDIDATES)}")
    return args


# ---------------------------------------------------------------- features, once


def embedding_model(network, name):
    """A Keras model answering a network's 128-d embedding (its last batch normalization) and its output."""
    import keras

    return keras.Model(network.inputs, [network.get_layer(name).output, network.output])


def mirrored(roi):
    return np.ascontiguousarray(roi[:, ::-1])


def extract(args):
    """{name: array} of every kept frame: its recording, group, label, index, face counts and boxes per detector
    side, both members' scores per side, crop multiplier and mirror, quality, embeddings."""
    from tqdm import tqdm

    from liveness.common.provenance import recording_of, subject_of
    from liveness.data.exclusions import load_exclusions
    from liveness.faces.crops import Crop
    from liveness.faces.detectors.retinaface import RetinaFaceDetector
    from liveness.faces.media import list_media, read_frames
    from liveness.faces.quality import face_quality
    from liveness.models import head, second_network
    from liveness.models.model_io import load_classifier, load_model
    from liveness.models.onnx_graph import keras_from_onnx

    model_path = os.path.join(args.pretrained, "minifasnet.keras")
    second_path = os.path.join(args.pretrained, "best_model.onnx")
    for path in (model_path, second_path):
        if not os.path.isfile(path):
            raise LivenessError(f"{path} not found: python -m liveness.pretrained")
    pair, _ = load_classifier(model_path, os.path.join(args.pretrained, "le.pickle"))
    real = pair.classes.index(pair.bona_fide)
    second = second_network.SecondNetwork(second_path)
    pair_embedder = head.embedder(load_model(model_path))
    second_embedder = embedding_model(keras_from_onnx(second_path), "batchnormalization_118")
    detectors = {side: RetinaFaceDetector(min_confidence=0.0, side=side) for side in DETECTOR_SIDES}
    crops = {m: Crop(tuple(s * m for s in pair.cropper.scales), pair.cropper.rule) for m in CROP_MULTIPLIERS}
    exclusions = load_exclusions(args.exclude if args.exclude.lower() != "none" else None)
    paths = [p for folder in ("videos", "images") for p in list_media(os.path.join(args.data, folder))]
    if not paths:
        raise LivenessError(f"no recordings in {args.data}/videos or {args.data}/images")
    rows, embedded = collections.defaultdict(list), []  # (row, the pair's ROI, the second network's crop)
    sides, views = len(DETECTOR_SIDES), len(CROP_MULTIPLIERS)
    for path in tqdm(paths, desc="recordings", unit="rec"):
        recording = recording_of(path)
        every = 1 if os.path.isdir(path) else args.every
        for index, frame in read_frames(path, select=lambda i: i % every == 0):
            if frame is None or (exclusions is not None and exclusions.excludes(recording, index)):
                continue
            faces = np.zeros((sides, len(DETECTOR_CONFIDENCES)), "int16")
            boxes, confidence = np.zeros((sides, 4), "int32"), np.zeros(sides, "float32")
            pair_scores = np.full((sides, views, 2), np.nan, "float32")  # side, crop multiplier, mirrored
            second_logits = np.full((sides, views, 2), np.nan, "float32")
            quality = np.zeros(4, "float32")
            for s, side in enumerate(DETECTOR_SIDES):
                found = detectors[side].detect(frame)
                faces[s] = [sum(c > t for _, c in found) for t in DETECTOR_CONFIDENCES]
                if not found:
                    continue
                box, confidence[s] = max(found, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))
                boxes[s] = box
                # the shipped side sees every crop and its mirror; the others the trained crop only
                multipliers = range(views) if s == 0 else [CROP_MULTIPLIERS.index(1.0)]
                pair_rois, second_rois = [], []
                for m in multipliers:
                    roi = crops[CROP_MULTIPLIERS[m]](frame, box, pair.size)
                    sq = second_network.crop(frame, box, scale=second_network.SCALE * CROP_MULTIPLIERS[m])
                    pair_rois += [roi, mirrored(roi)]
                    second_rois += [sq, np.ascontiguousarray(sq[:, :, ::-1])]
                p = pair.predict(pair_rois)[:, real].reshape(-1, 2)
                q = second(second_rois).reshape(-1, 2)
                for k, m in enumerate(multipliers):
                    pair_scores[s, m], second_logits[s, m] = p[k], q[k]
                if s == 0:
                    quality[:] = [face_quality(frame, box)[k] for k in ("size", "brightness", "contrast", "sharpness")]
                    embedded.append((len(rows["frame"]), pair.cropper(frame, box, pair.size),
                                     second_network.crop(frame, box)))
            for key, value in (("recording", recording), ("group", subject_of(recording)[4:]),
                               ("label", "real" if recording.endswith("_real") else "fake"), ("frame", index),
                               ("faces", faces), ("box", boxes), ("confidence", confidence), ("pair", pair_scores),
                               ("second", second_logits), ("quality", quality)):
                rows[key].append(value)
    data = {k: np.array(v) for k, v in rows.items()}
    data["embeddings"] = embed(embedded, len(data["frame"]), pair_embedder, second_embedder)
    print(f"[INFO] {len(data['frame'])} kept frames of {len(paths)} recordings, {len(set(data['group']))} groups; "
          f"no face at the shipped detector in {int((data['faces'][:, 0, 0] == 0).sum())}", flush=True)
    return data


def embed(embedded, count, pair_embedder, second_embedder, batch=128):
    """(count, 384) embeddings: the pair's two networks' 128 each (liveness.models.head, what --recipe head
    fits on) and the second network's, in batches."""
    out = np.zeros((count, 384), "float32")
    for start in range(0, len(embedded), batch):
        chunk = embedded[start:start + batch]
        rois = np.stack([roi for _, roi, _ in chunk]).astype("float32") / 255.0
        parts = [pair_embedder.predict_on_batch(rois),
                 second_embedder.predict_on_batch(np.stack([sq for _, _, sq in chunk]))[0]]
        out[[row for row, _, _ in chunk]] = np.concatenate(parts, axis=1)
    return out


def instruments(data):
    return np.array(["live" if lab == "real" else INSTRUMENTS.get(g, "phone")
                     for g, lab in zip(data["group"], data["label"])])


def other_frames(data):
    """{instrument: rows} of the frames OTHER_FRAMES names."""
    return {kind: (data["recording"] == recording) & np.isin(data["frame"], frames)
            for kind, (recording, frames) in OTHER_FRAMES.items()}


# ---------------------------------------------------------------- scoring


def decided(scores, threshold):
    return np.asarray(scores) >= threshold


def frame_acer(scores, live, threshold=0.5):
    accepted = decided(scores, threshold)
    apcer = accepted[~live].mean() if (~live).any() else 0.0
    bpcer = (~accepted[live]).mean() if live.any() else 0.0
    return (apcer + bpcer) / 2


def member_logits(data, side=0, multipliers=(1.0,), mirror=False):
    """Each member's logit averaged over the views named: (pair, second), NaN where no face."""
    index = [CROP_MULTIPLIERS.index(m) for m in multipliers]
    flips = [0, 1] if mirror else [0]
    pair = logit(data["pair"][:, side][:, index][:, :, flips]).mean(axis=(1, 2))
    second = data["second"][:, side][:, index][:, :, flips].astype("float64").mean(axis=(1, 2))
    return pair, second


def fuse(pair, second, weight):
    """Real scores fused on logits; 0 (not accepted) where the detector found no face."""
    z = (1 - weight) * pair + weight * second
    out = 1.0 / (1.0 + np.exp(-np.nan_to_num(z, nan=-np.inf)))
    return np.where(np.isnan(z), 0.0, out)


def best(options, train, live):
    """The option of {key: scores} with the lowest ACER on `train`; ties to the earlier key."""
    keys = list(options)
    acers = [round(frame_acer(options[k][train], live[train]), 12) for k in keys]
    return keys[int(np.argmin(acers))]


def weighted(data, train, pair, second, face=None):
    """{weight: fused scores} over the tenths, and the weight chosen on `train` (ties: the smaller weight)."""
    face = np.ones(len(pair), bool) if face is None else face
    options = {w: np.where(face, fuse(pair, second, w), 0.0) for (w,) in weight_grid(1)}
    return options, best(options, train, data["live"])


def result(scores, threshold=0.5, gate=None, chosen=None, faces=None):
    """What a candidate fitted on some rows answers for every row: real scores, the threshold, the quality
    gate (Rule's checks), the numbers it chose, and the face counts its detector saw (default: the shipped)."""
    return {"scores": scores, "threshold": threshold, "gate": gate, "chosen": chosen or {}, "faces": faces}


def plain(member):
    def fit(data, train):
        pair, second = member_logits(data)
        z = pair if member == "pair" else second
        return result(fuse(z, z, 0.0))
    return fit


def shipped(data, train):
    pair, second = member_logits(data)
    return result(fuse(pair, second, SHIPPED_WEIGHT), chosen={"weight": SHIPPED_WEIGHT})


def views(multipliers=(1.0,), mirror=False, threshold=False):
    def fit(data, train):
        options, weight = weighted(data, train, *member_logits(data, 0, multipliers, mirror))
        chosen, t = {"weight": weight}, 0.5
        if threshold:
            live = data["live"][train]
            # the lowest ACER on the training groups; on a tie the threshold nearest 0.5 (the default)
            t = min(THRESHOLDS, key=lambda t: (round(frame_acer(options[weight][train], live, t), 12), abs(t - 0.5)))
            chosen["threshold"] = t
        return result(options[weight], t, chosen=chosen)
    return fit


def crops(data, train):
    """Each member's crop multiplier and the weight, chosen together (ties: multipliers nearest 1, then smaller)."""
    order = sorted(CROP_MULTIPLIERS, key=lambda m: (abs(m - 1.0), m))
    options = {}
    for mp in order:
        for ms in order:
            pair, _ = member_logits(data, 0, (mp,))
            _, second = member_logits(data, 0, (ms,))
            for (w,) in weight_grid(1):
                options[(mp, ms, w)] = fuse(pair, second, w)
    key = best(options, train, data["live"])
    return result(options[key], chosen={"pair_crop": key[0], "second_crop": key[1], "weight": key[2]})


def detector(data, train):
    """RetinaFace's input side and minimum confidence, and the weight, chosen together (ties: the shipped ones)."""
    options = {}
    for s, side in enumerate(DETECTOR_SIDES):
        pair, second = member_logits(data, s)
        for confidence in DETECTOR_CONFIDENCES:
            face = data["confidence"][:, s] > confidence
            for (w,) in weight_grid(1):
                options[(side, confidence, w)] = np.where(face, fuse(pair, second, w), 0.0)
    key = best(options, train, data["live"])
    s, c = DETECTOR_SIDES.index(key[0]), DETECTOR_CONFIDENCES.index(key[1])
    return result(options[key], chosen={"side": key[0], "confidence": key[1], "weight": key[2]},
                  faces=data["faces"][:, s, c])


def gate_rows(data, size, brightness, sharpness):
    q = data["quality"]
    return (q[:, 0] >= size) & (q[:, 1] >= brightness) & (q[:, 3] >= sharpness)


def gate(data, train):
    """The fusion's weight (as fusion-weight), then the sessions' quality checks on the frames, chosen by LOPO:
    a frame the gate sends back is not accepted (the session asks to retry)."""
    pair, second = member_logits(data)
    options, weight = weighted(data, train, pair, second)
    gated = {}
    for size in GATE_SIZES:
        for brightness in GATE_BRIGHTNESS:
            for sharpness in GATE_SHARPNESS:
                gated[(size, brightness, sharpness)] = np.where(gate_rows(data, size, brightness, sharpness),
                                                                options[weight], 0.0)
    key = best(gated, train, data["live"])
    checks = dict(zip(("min_face", "min_brightness", "min_sharpness"), key))
    return result(gated[key], gate=checks, chosen={"weight": weight, **checks})


def quality_features(data):
    pair, second = member_logits(data)
    q = data["quality"].astype("float64")
    return np.column_stack([np.nan_to_num(pair), np.nan_to_num(second), np.log1p(q[:, 0]), q[:, 1], q[:, 2],
                            np.log1p(q[:, 3])])


def logistic(features, c):
    def fit(data, train):
        from liveness.models.head import fit_logistic

        x = features(data)
        face = data["faces"][:, 0, 0] > 0
        weights, bias = fit_logistic(x[train & face], data["live"][train & face], c)
        return result(np.where(face, 1.0 / (1.0 + np.exp(-(x @ weights + bias))), 0.0))
    return fit


# The candidates, in the order of the tie rule (simpler first). Fixed before any was run.
CANDIDATES = {
    "pair": plain("pair"),  # the pair alone, at 0.5
    "second": plain("second"),  # the second network alone, at 0.5
    "fusion-shipped": shipped,  # pretrained/minifasnet_fused.fusion as it is: weight 0.3, at 0.5
    "fusion-weight": views(),  # the weight chosen again
    "fusion-weight-threshold": views(threshold=True),  # and the threshold
    "fusion-mirror": views(mirror=True),  # each member's logit averaged with the mirrored face's
    "fusion-scales": views(SCALES_TTA),  # ... over crops at 0.9, 1 and 1.1 times the scale
    "fusion-mirror-scales": views(SCALES_TTA, mirror=True),  # both: six views a member
    "fusion-crops": crops,  # each member's crop scale chosen (0.8 to 1.25 times its own)
    "fusion-detector": detector,  # RetinaFace's input side and confidence chosen
    "fusion-quality-gate": gate,  # the sessions' quality checks as a gate on every frame
    "fusion-quality-input": logistic(quality_features, 1.0),  # quality as inputs of the fusion
    "head-embeddings": logistic(lambda d: d["embeddings"], 0.1),  # the pair's and the second network's
    # added after the run of the 13 above, to measure train_liveness.py --recipe head as it is built: the pair's
    # embeddings alone (its model is the pair with a new last layer, one crop); not among the rule's candidates
    "head-pair-embeddings": logistic(lambda d: d["embeddings"][:, :256], 0.1),
}
RULE_CANDIDATES = tuple(CANDIDATES)[:13]


# What a user trains on their own faces (train_liveness.py --recipe head) and a head of quality inputs: weights
# fitted here, so they ship as recipes, never as weights (the "what can ship").
TRAINED_HERE = ("fusion-quality-input", "head-embeddings", "head-pair-embeddings")


def lopo(data, name, groups):
    """Scores and thresholds of the rows of `groups`, each group's chosen without it; and each fold's choice."""
    n = len(data["live"])
    scored = {"scores": np.zeros(n), "thresholds": np.full(n, 0.5), "faces": data["faces"][:, 0, 0].copy(),
              "gates": {}}
    choices = {}
    for group in groups:
        test = data["group"] == group
        train = np.isin(data["group"], groups) & ~test
        fitted = CANDIDATES[name](data, train)
        scored["scores"][test], scored["thresholds"][test] = fitted["scores"][test], fitted["threshold"]
        if fitted["faces"] is not None:
            scored["faces"][test] = fitted["faces"][test]
        scored["gates"][group], choices[group] = fitted["gate"], fitted["chosen"]
    return scored, choices


def pooled_acer(data, name, groups):
    """The choice rule's measure: frame ACER with the worst instrument's APCER, as figures() reports it."""
    scored, _ = lopo(data, name, groups)
    rows = np.isin(data["group"], groups)
    accepted = scored["scores"][rows] >= scored["thresholds"][rows]
    return frame_rates(accepted, data["live"][rows], data["instrument"][rows])[2]


def frame_rates(accepted, live, kinds):
    """({instrument: APCER}, BPCER, ACER with the worst instrument's APCER) of frame decisions."""
    apcer = {k: float(accepted[kinds == k].mean()) for k in sorted(set(kinds) - {"live"})}
    bpcer = float((~accepted[live]).mean())
    return apcer, bpcer, (max(apcer.values()) + bpcer) / 2


# ---------------------------------------------------------------- figures


def session_decisions(data, scored, size):
    """[(group, label, decision)] of every window of `size` consecutive kept frames, decided by the shipped Rule
    (or the candidate's gate) on the candidate's scores."""
    from liveness.sessions.rule import Rule, decide_scores

    scores, thresholds, gates, faces = scored["scores"], scored["thresholds"], scored["gates"], scored["faces"]
    out = []
    for recording in dict.fromkeys(data["recording"]):
        rows = np.flatnonzero(data["recording"] == recording)
        group, label = data["group"][rows[0]], data["label"][rows[0]]
        rule = Rule(**(gates.get(group) or {}))
        for start in range(0, len(rows) - size + 1, size):
            frames = [{"faces": int(faces[i]), "score": float(np.clip(scores[i], 1e-6, 1 - 1e-6)),
                       "quality": dict(zip(("size", "brightness", "contrast", "sharpness"),
                                           data["quality"][i].tolist()))} for i in rows[start:start + size]]
            out.append((group, label, decide_scores(frames, size, float(thresholds[rows[0]]), rule)["decision"]))
    return out


def figures(data, rows, scored, sessions):
    scores, thresholds = scored["scores"], scored["thresholds"]
    live, kinds = data["live"][rows], data["instrument"][rows]
    accepted = scores[rows] >= thresholds[rows]
    apcer, bpcer, acer = frame_rates(accepted, live, kinds)
    worst = {}
    for group in sorted(set(data["group"][rows])):
        mine = data["group"][rows] == group
        errors = [1 - accepted[mine & live].mean() if (mine & live).any() else None,
                  accepted[mine & ~live].mean() if (mine & ~live).any() else None]
        known = [e for e in errors if e is not None]
        worst[group] = float(np.mean(known))
    wrong = []
    for recording in dict.fromkeys(data["recording"][rows]):
        mine = data["recording"][rows] == recording
        if (scores[rows][mine].mean() >= thresholds[rows][mine][0]) != live[mine][0]:
            wrong.append(recording.replace("subj", ""))
    s_live = [d for _, label, d in sessions if label == "real"]
    s_attack = [d for _, label, d in sessions if label == "fake"]
    s_apcer = sum(d == "real" for d in s_attack) / max(1, len(s_attack))
    s_bpcer = sum(d != "real" for d in s_live) / max(1, len(s_live))
    worst_group = max(worst, key=worst.get)
    rest = data["group"][rows] != worst_group
    without_worst = frame_rates(accepted[rest], live[rest], kinds[rest])[2] if (~live[rest]).any() else None
    others = {kind: f"{int(accepted[mask[rows]].sum())}/{int(mask[rows].sum())}"
              for kind, mask in other_frames(data).items() if mask[rows].any()}
    return {"frames": int(rows.sum()), "apcer": max(apcer.values()), "apcer_per_instrument": apcer, "bpcer": bpcer,
            "acer": acer, "auc": float(auc(scores[rows], np.where(live, "real", "fake"), "real")),
            "worst_group": [worst_group, worst[worst_group]], "recordings": len(set(data["recording"][rows])),
            "recordings_wrong": wrong, "sessions": len(sessions), "session_apcer": s_apcer, "session_bpcer": s_bpcer,
            "session_acer": (s_apcer + s_bpcer) / 2,
            "session_retry_live": sum(d == "retry" for d in s_live) / max(1, len(s_live)),
            "other_frames_accepted": others, "acer_without_worst_group": without_worst}


def row(name, f):
    kinds = ", ".join(f"{k} {v:.4f}" for k, v in f["apcer_per_instrument"].items())
    kinds += "".join(f"; {k} {v}" for k, v in f["other_frames_accepted"].items())
    wrong = f"{len(f['recordings_wrong'])}/{f['recordings']}" + (
        f" ({', '.join(f['recordings_wrong'])})" if f["recordings_wrong"] else "")
    return (f"| {name} | {f['apcer']:.4f} ({kinds}) | {f['bpcer']:.4f} | {f['acer']:.4f} | {f['auc']:.4f} | "
            f"{f['worst_group'][0]} {f['worst_group'][1]:.4f} | {wrong} | {f['session_acer']:.4f} |")


def evaluate(data, name, groups):
    scored, choices = lopo(data, name, groups)
    rows = np.isin(data["group"], groups)
    return figures(data, rows, scored, session_decisions(data, scored, data["session_frames"])), choices


def nested(data, names, groups):
    """Each group decided by the candidate the choice rule picks without it."""
    n = len(data["live"])
    scored, picks = {"scores": np.zeros(n), "thresholds": np.zeros(n), "faces": np.zeros(n, int), "gates": {}}, {}
    for group in groups:
        others = [g for g in groups if g != group]
        acers = {c: round(pooled_acer(data, c, others), 12) for c in names}
        picks[group] = min(names, key=lambda c: (acers[c], names.index(c)))
        mine = data["group"] == group
        fitted = CANDIDATES[picks[group]](data, np.isin(data["group"], others))
        scored["scores"][mine], scored["thresholds"][mine] = fitted["scores"][mine], fitted["threshold"]
        scored["faces"][mine] = (data["faces"][:, 0, 0] if fitted["faces"] is None else fitted["faces"])[mine]
        scored["gates"][group] = fitted["gate"]
        print(f"[INFO] nested: {group} decided by {picks[group]} (its LOPO ACER without {group}: "
              f"{acers[picks[group]]:.4f})", flush=True)
    rows = np.isin(data["group"], groups)
    return figures(data, rows, scored, session_decisions(data, scored, data["session_frames"])), picks


def cache_path(work, every):
    return os.path.join(work, f"features_every{every}.npz")


def load_features(args):
    cache = cache_path(args.work, args.every)
    if os.path.isfile(cache):
        print(f"[INFO] features from {cache}", flush=True)
        return dict(np.load(cache))
    data = extract(args)
    os.makedirs(args.work, exist_ok=True)
    np.savez(cache + ".part.npz", **data)
    os.replace(cache + ".part.npz", cache)
    return data


@exit_on_error
def main():
    args = parse_args()
    timings, started = {}, time.perf_counter()
    data = load_features(args)
    timings["features"] = time.perf_counter() - started
    data["live"] = data["label"] == "real"
    data["instrument"] = instruments(data)
    data["session_frames"] = args.frames
    groups = sorted(set(data["group"]))
    names = args.only or [n for n in RULE_CANDIDATES if not args.shippable or n not in TRAINED_HERE]
    print(f"[INFO] {len(data['live'])} frames ({int(data['live'].sum())} live), {len(groups)} groups, "
          f"{len(set(data['recording']))} recordings; {len(names)} candidates", flush=True)
    print("| candidate (LOPO) | frame APCER (per instrument) | BPCER | ACER | AUC | worst group | recordings wrong "
          "| session ACER |\n| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    results = {}
    for name in names:
        t = time.perf_counter()
        results[name], choices = evaluate(data, name, groups)
        timings[name] = time.perf_counter() - t
        results[name]["choices"] = dict(collections.Counter(json.dumps(c, sort_keys=True) for c in choices.values()))
        print(row(name, results[name]), flush=True)
    choice = min(names, key=lambda n: (round(results[n]["acer"], 12), names.index(n)))
    everyone = np.ones(len(data["live"]), bool)
    print(f"[INFO] the choice rule on all {len(groups)} groups picks {choice} (LOPO frame ACER "
          f"{results[choice]['acer']:.4f}); on all groups it chooses {CANDIDATES[choice](data, everyone)['chosen']}")
    out = {"candidates": results, "choice": choice, "groups": groups, "timings": timings}
    if not args.no_nested:
        t = time.perf_counter()
        out["nested"], out["nested_picks"] = nested(data, names, groups)
        timings["nested LOPO"] = time.perf_counter() - t
        print(row("**the choice rule, nested LOPO**", out["nested"]))
        print("[INFO] nested picks: " + ", ".join(f"{n} x{c}" for n, c in
                                                   collections.Counter(out["nested_picks"].values()).most_common()))
    if not (args.only or args.shippable):  # the candidates measured after the rule's run, outside its choice
        for name in [n for n in CANDIDATES if n not in RULE_CANDIDATES]:
            results[name], _ = evaluate(data, name, groups)
            print(row(f"{name} (not among the rule's)", results[name]), flush=True)
    print("[INFO] frame ACER without each row's worst group: " + ", ".join(
        f"{n} ({f['worst_group'][0]}) {f['acer_without_worst_group']:.4f}" for n, f in results.items()))
    for step, seconds in timings.items():
        print(f"[INFO] {step}: {seconds:.1f} s")
    with open(os.path.join(args.work, "groups.json"), "w") as f:
        json.dump(out, f, indent=2, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))


if __name__ == "__main__":
    sys.exit(main())
