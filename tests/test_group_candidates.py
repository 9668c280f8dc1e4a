"""benchmarks/groups.py's candidates on synthetic frames' features: each chooses its numbers without the group
it scores, counts a frame without a face as not accepted, and the choice rule is applied nested."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import groups  # noqa: E402

SIDES, VIEWS = len(groups.DETECTOR_SIDES), len(groups.CROP_MULTIPLIERS)


def frames(spec, seed=0):
    """Features of synthetic frames: `spec` is [(group, label, count)]. Every view of both members says 'live'
    for live frames and 'attack' for attacks, clearly, with noise; tests then spoil what they need."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("recording", "group", "label", "frame", "faces", "box", "confidence", "pair", "second",
                            "quality", "embeddings")}
    for group, label, count in spec:
        sign = 1.0 if label == "real" else -1.0
        for i in range(count):
            z = sign * 3.0 + rng.normal(0, 0.3, (SIDES, VIEWS, 2))
            rows["recording"].append(f"subj{group}_{label}")
            rows["group"].append(group)
            rows["label"].append(label)
            rows["frame"].append(i)
            rows["faces"].append(np.ones((SIDES, len(groups.DETECTOR_CONFIDENCES)), "int16"))
            rows["box"].append(np.tile([10, 10, 110, 110], (SIDES, 1)))
            rows["confidence"].append(np.full(SIDES, 0.9, "float32"))
            rows["pair"].append(1 / (1 + np.exp(-z)))
            rows["second"].append(sign * 3.0 + rng.normal(0, 0.3, (SIDES, VIEWS, 2)))
            rows["quality"].append(np.array([120, 110, 45, 200], "float32"))
            rows["embeddings"].append(np.r_[np.full(8, 2 * sign), rng.normal(0, 1, 376)].astype("float32"))
    data = {k: np.array(v) for k, v in rows.items()}
    data["live"] = data["label"] == "real"
    data["instrument"] = groups.instruments(data)
    data["session_frames"] = 5
    return data


POOL = [(g, lab, 10) for g in ("P", "Q", "R", "S") for lab in ("real", "fake")]


def test_the_mirror_candidate_averages_each_members_logits_over_the_face_and_its_mirror():
    data = frames(POOL)
    train = data["group"] != "P"
    fitted = groups.CANDIDATES["fusion-mirror"](data, train)
    w = fitted["chosen"]["weight"]
    one = groups.CROP_MULTIPLIERS.index(1.0)
    pair = np.log(data["pair"][:, 0, one] / (1 - data["pair"][:, 0, one])).mean(axis=1)
    second = data["second"][:, 0, one].mean(axis=1)
    expected = 1 / (1 + np.exp(-((1 - w) * pair + w * second)))
    assert np.allclose(fitted["scores"], expected, atol=1e-9)


def test_a_frame_without_a_face_is_not_accepted_whoever_is_in_front():
    data = frames(POOL)
    gone = np.flatnonzero(data["group"] == "Q")[[0, 15]]  # a live frame and an attack frame of Q
    data["faces"][gone] = 0
    data["pair"][gone] = np.nan
    data["second"][gone] = np.nan
    for name in ("pair", "fusion-shipped", "fusion-weight", "fusion-mirror-scales"):
        scored, _ = groups.lopo(data, name, sorted(set(data["group"])))
        assert (scored["scores"][gone] == 0).all(), name
    rows = np.ones(len(data["live"]), bool)
    scored, _ = groups.lopo(data, "fusion-shipped", sorted(set(data["group"])))
    result = groups.figures(data, rows, scored, groups.session_decisions(data, scored, 5))
    assert result["bpcer"] == pytest.approx(1 / 40)  # the missed live face counts as rejected
    assert result["apcer"] == 0.0  # the missed attack as refused


def test_each_members_crop_is_chosen_without_the_group_it_scores():
    data = frames(POOL)
    wide = groups.CROP_MULTIPLIERS.index(1.25)
    # at every crop but the widest, the pair calls half of each group's attacks live; the second network
    # knows nothing at any crop
    fakes = np.flatnonzero(data["label"] == "fake")
    spoilt = fakes[fakes % 2 == 0]
    for m in range(VIEWS):
        if m != wide:
            data["pair"][spoilt, :, m] = 0.99
    data["second"][:] = 0.0
    groups_ = sorted(set(data["group"]))
    scored, choices = groups.lopo(data, "fusion-crops", groups_)
    assert all(c["pair_crop"] == 1.25 and c["weight"] < 1.0 for c in choices.values())
    assert ((scored["scores"] >= 0.5) == data["live"]).all()
    # a group whose attacks only the widest crop catches is still caught when the rule is chosen without it
    plain, _ = groups.lopo(data, "fusion-shipped", groups_)
    assert ((plain["scores"] >= 0.5) != data["live"]).sum() == len(spoilt)


def test_the_quality_gate_sends_back_dark_frames_when_the_other_groups_show_it_helps():
    data = frames(POOL)
    dark = (data["label"] == "fake") & (data["frame"] < 4)  # dark attacks that both members take for live
    data["pair"][dark] = 0.99
    data["second"][dark] = 4.0
    data["quality"][dark, 1] = 20.0
    groups_ = sorted(set(data["group"]))
    scored, choices = groups.lopo(data, "fusion-quality-gate", groups_)
    assert all(c["min_brightness"] == 40.0 for c in choices.values())
    assert (scored["scores"][dark] == 0).all()
    # the session rule takes the same checks: a session of dark frames is asked to retry, not accepted
    sessions = groups.session_decisions(data, scored, 5)
    attack_first_windows = [d for g, lab, d in sessions if lab == "fake"][::2]
    assert set(attack_first_windows) == {"retry"}


def test_nested_lopo_picks_for_each_group_without_it():
    data = frames(POOL)
    # the second network alone is wrong on half of every group's attacks: the pair is the one to pick
    fakes = np.flatnonzero(data["label"] == "fake")
    data["second"][fakes[fakes % 2 == 0]] = 3.0
    result, picks = groups.nested(data, ["second", "pair"], sorted(set(data["group"])))
    assert set(picks.values()) == {"pair"} and result["acer"] == 0.0


def test_a_handful_of_frames_of_another_instrument_is_reported_apart_not_as_an_instrument():
    data = frames([("AH", "fake", 6), ("AH", "real", 6), ("P", "real", 6), ("P", "fake", 6)])
    assert set(data["instrument"]) == {"live", "screen", "phone"}
    scored, _ = groups.lopo(data, "pair", ["AH", "P"])
    result = groups.figures(data, np.ones(len(data["live"]), bool), scored, [])
    assert result["other_frames_accepted"] == {"print": "0/3"}


@pytest.mark.parametrize("name", list(groups.CANDIDATES))
def test_every_candidate_decides_clear_synthetic_frames_right_under_lopo(name):
    data = frames(POOL)
    scored, choices = groups.lopo(data, name, sorted(set(data["group"])))
    assert ((scored["scores"] >= scored["thresholds"]) == data["live"]).all(), choices
    assert set(choices) == set(data["group"])


def test_the_detector_setting_is_chosen_where_its_boxes_decide_better():
    data = frames(POOL)
    side = groups.DETECTOR_SIDES.index(480)
    fakes = np.flatnonzero(data["label"] == "fake")
    spoilt = fakes[fakes % 2 == 0]
    for s in range(SIDES):  # at every input side but 480 the boxes of half the attacks are taken for live
        if s != side:
            data["pair"][spoilt, s] = 0.99
            data["second"][spoilt, s] = 4.0
    scored, choices = groups.lopo(data, "fusion-detector", sorted(set(data["group"])))
    assert {c["side"] for c in choices.values()} == {480}
    assert ((scored["scores"] >= 0.5) == data["live"]).all()
