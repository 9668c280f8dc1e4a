"""benchmarks/pool_heads.py's logistic heads on the pair's frozen features, fitted per LOPO fold."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import pool_heads  # noqa: E402


def pool(flipped):
    """Five persons, six faces a side, 4-d features whose first axis tells live from attack; the persons
    in `flipped` have it the other way round, and tell it on the second axis instead, which is 0 for the
    others: a head fitted with their faces could learn it, a head fitted on the others cannot."""
    rng = np.random.default_rng(0)
    rows = {k: [] for k in ("subject", "recording", "label", "frame", "score", "embeddings")}
    for person in ("p1", "p2", "p3", "p4", "p5"):
        for label in ("real", "fake"):
            for frame in range(6):
                sign = 1 if label == "real" else -1
                first, second = (-2.0 * sign, 3.0 * sign) if person in flipped else (2.0 * sign, 0.0)
                rows["subject"].append(person)
                rows["recording"].append(f"{person}_{label}")
                rows["label"].append(label)
                rows["frame"].append(frame)
                rows["score"].append(0.5)
                rows["embeddings"].append([first, second, *rng.normal(0, 1, 2)])
    return {k: np.array(v) for k, v in rows.items()}


def test_a_head_decides_each_person_without_their_faces():
    data = pool(flipped={"p3"})
    persons = sorted(set(data["subject"]))
    scores, thresholds, rows = pool_heads.lopo_decisions(data, "head-embeddings-C0.1", persons)
    live = data["label"][rows] == "real"
    right = (scores >= thresholds) == live
    p3 = data["subject"][rows] == "p3"
    assert right[~p3].all()  # the others' heads learnt the first axis
    assert not right[p3].any()  # and p3's head, fitted without p3, cannot have learnt p3's flipped faces
    assert (thresholds == 0.5).all()


def test_the_pooled_figures_name_the_person_the_head_failed_and_their_recordings():
    data = pool(flipped={"p3"})
    scores, thresholds, rows = pool_heads.lopo_decisions(data, "head-embeddings-C0.1", sorted(set(data["subject"])))
    result = pool_heads.figures(data, rows, scores, thresholds)
    assert result["worst_person"]["person"] == "p3" and result["worst_person"]["error"] == 1.0
    assert abs(result["frame"]["apcer"] - 0.2) < 1e-9 and abs(result["frame"]["bpcer"] - 0.2) < 1e-9
    assert sorted(result["video"]["wrong"]) == ["p3_fake", "p3_real"]
