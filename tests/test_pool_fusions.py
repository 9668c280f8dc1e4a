"""benchmarks/pool_heads.py's fusions of more than two members: weights chosen per LOPO fold, on others only."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import pool_heads  # noqa: E402
from liveness.models.fusion import weight_grid  # noqa: E402


def pool(pair_wrong_on):
    """Four faces a side for persons p1-p4; the pair accepts the attacks of `pair_wrong_on`, LivenessNet
    context ranks every face right, the second network is no help (0 for all)."""
    rows = {k: [] for k in ("subject", "recording", "label", "frame", "score", "second", "context")}
    for person in ("p1", "p2", "p3", "p4"):
        for label in ("real", "fake"):
            for frame in range(4):
                live = label == "real"
                rows["subject"].append(person)
                rows["recording"].append(f"{person}_{label}")
                rows["label"].append(label)
                rows["frame"].append(frame)
                rows["score"].append(0.9 if live or person in pair_wrong_on else 0.1)
                rows["second"].append(0.0)
                rows["context"].append(0.99 if live else 0.01)
    return {k: np.array(v) for k, v in rows.items()}


def test_the_weight_grid_covers_the_simplex_in_tenths():
    assert weight_grid(1) == [(w / 10,) for w in range(11)]
    grid = weight_grid(2)
    assert len(grid) == 66 and (0.0, 0.0) in grid and (0.3, 0.7) in grid and (0.6, 0.5) not in grid


def test_a_member_that_fixes_the_pair_gets_weight_and_a_useless_one_none():
    data = pool(pair_wrong_on={"p1", "p2"})
    everyone = np.ones(len(data["label"]), bool)
    second, context = pool_heads.member_weights(data, ("second", "context"), everyone)
    assert second == 0.0 and context > 0.0
    accepted = pool_heads.fused_members(data, ("second", "context"), (second, context)) >= 0.5
    assert accepted[data["label"] == "real"].all() and not accepted[data["label"] == "fake"].any()


def test_lopo_fusion_weights_never_see_the_person_they_decide():
    # only p1's attacks fool the pair: without p1 the others need no context, the tie goes to weight 0,
    # and p1's attacks stay accepted; the pair-context fusion cannot borrow p1's own labels
    data = pool(pair_wrong_on={"p1"})
    persons = sorted(set(data["subject"]))
    scores, _, rows = pool_heads.lopo_decisions(data, "fusion-pair-context", persons)
    p1_fake = (data["subject"][rows] == "p1") & (data["label"][rows] == "fake")
    assert (scores[p1_fake] >= 0.5).all() and (scores[~p1_fake & (data["label"][rows] == "fake")] < 0.5).all()
    # with p2 fooling it too, each one's fold learns the weight from the other and both are rejected
    data = pool(pair_wrong_on={"p1", "p2"})
    scores, _, rows = pool_heads.lopo_decisions(data, "fusion-pair-context", persons)
    assert (scores[data["label"][rows] == "fake"] < 0.5).all() and (scores[data["label"][rows] == "real"] >= 0.5).all()
