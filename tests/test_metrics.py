"""Metrics against values worked out by hand on small score lists."""
import numpy as np
import pytest

from liveness.evaluation.metrics import auc, bpcer_at_apcer, decide, equal_error_rate, error_rates, summarize

# bona fide: 0.9 0.8 0.4 | attacks: fake 0.1 0.5 0.85 0.3, print 0.2 0.6
SCORES = [0.9, 0.8, 0.4, 0.1, 0.5, 0.85, 0.3, 0.2, 0.6]
LABELS = ["real", "real", "real", "fake", "fake", "fake", "fake", "print", "print"]


def test_error_rates_at_one_half():
    r = error_rates(SCORES, LABELS, "real", 0.5)
    assert r["bpcer"] == pytest.approx(1 / 3)  # 0.4 rejected
    assert r["apcer_per_type"] == {"fake": pytest.approx(2 / 4), "print": pytest.approx(1 / 2)}  # 0.5, 0.85 | 0.6
    assert r["apcer"] == pytest.approx(0.5)
    assert r["acer"] == pytest.approx((0.5 + 1 / 3) / 2)


def test_a_score_equal_to_the_threshold_is_accepted():
    assert list(decide([0.5, 0.4999], 0.5)) == ["real", "fake"]


def test_bpcer_at_apcer_targets():
    # APCER (worst type) <= 5% needs a threshold above 0.85: first such candidate is 0.9, rejecting 0.8 and 0.4
    bpcer, threshold = bpcer_at_apcer(SCORES, LABELS, "real", 0.05)
    assert threshold == pytest.approx(0.9) and bpcer == pytest.approx(2 / 3)
    # APCER <= 50%: at 0.5 fake is 2/4 and print 1/2, BPCER 1/3; 0.4 would give fake 2/4, print 1/2 too
    bpcer, threshold = bpcer_at_apcer(SCORES, LABELS, "real", 0.5)
    assert threshold == pytest.approx(0.4) and bpcer == pytest.approx(0.0)


def test_equal_error_rate():
    # threshold 0.6: BPCER 1/3 (0.4), APCER fake 1/4 (0.85), print 1/2 (0.6) -> worst 1/2, gap 1/6
    # threshold 0.8: BPCER 1/3, APCER fake 1/4, print 0 -> worst 1/4, gap 1/12 (the smallest)
    eer, threshold = equal_error_rate(SCORES, LABELS, "real")
    assert threshold == pytest.approx(0.8)
    assert eer == pytest.approx((1 / 3 + 1 / 4) / 2)


def test_auc_counts_ties_as_half():
    # 3 bona fide x 2 attacks; pairs: (0.5 vs 0.5) tie -> 0.5, (0.5 vs 0.2) win, (0.3 vs 0.5) loss, (0.3 vs 0.2) win
    scores = [0.5, 0.3, 0.9, 0.5, 0.2]
    labels = ["real", "real", "real", "fake", "fake"]
    assert auc(scores, labels, "real") == pytest.approx((0.5 + 1 + 0 + 1 + 1 + 1) / 6)


def test_all_one_class_leaves_the_undefined_figures_empty():
    s = summarize([0.9, 0.2, 0.7], ["real"] * 3, "real", 0.5)
    assert s["bpcer"] == pytest.approx(1 / 3)
    assert s["apcer"] is None and s["acer"] is None
    assert s["auc"] is None and s["eer"] is None and s["bpcer20"] is None
    s = summarize([0.9, 0.2], ["fake", "fake"], "real", 0.5)
    assert s["apcer"] == pytest.approx(0.5) and s["bpcer"] is None


def test_the_band_takes_faces_out_of_the_error_rates():
    s = summarize(SCORES, LABELS, "real", 0.5, band=(0.45, 0.65))
    # 0.5 (fake) and 0.6 (print) are not sure; 0.4 is below the band, a decided rejection
    assert s["not_sure"] == 2
    assert s["apcer_per_type"] == {"fake": pytest.approx(1 / 3), "print": pytest.approx(0.0)}
    assert s["bpcer"] == pytest.approx(1 / 3)
    assert s["confusion"]["fake"] == {"real": 1, "fake": 2, "not_sure": 1}


def test_an_empty_band_changes_nothing():
    band = summarize(SCORES, LABELS, "real", 0.5, band=(0.95, 0.97))
    plain = summarize(SCORES, LABELS, "real", 0.5)
    assert band["not_sure"] == 0
    assert {k: band[k] for k in ("apcer", "bpcer", "acer")} == {k: plain[k] for k in ("apcer", "bpcer", "acer")}


def test_a_class_entirely_in_the_band_has_no_rate():
    r = error_rates([0.5, 0.9, 0.1], ["real", "fake", "fake"], "real", 0.5, band=(0.4, 0.6))
    assert r["bpcer"] is None and r["acer"] is None
    assert r["apcer"] == pytest.approx(0.5)


def test_perfect_separation():
    s = summarize([0.9, 0.8, 0.1, 0.2], ["real", "real", "fake", "fake"], "real", 0.5)
    assert (s["apcer"], s["bpcer"], s["acer"], s["eer"], s["auc"]) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert s["bpcer100"] == 0.0
    assert np.isclose(s["eer_threshold"], 0.8)
