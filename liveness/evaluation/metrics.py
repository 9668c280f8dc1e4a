"""ISO/IEC 30107-3 presentation attack detection metrics, from scores.

A score is the model's probability of the bona fide (live) class. A face is
accepted as bona fide when score >= threshold; a score inside an undecided
band (low <= score <= high) is "not sure" and left out of the error rates.

- APCER: the fraction of attack presentations accepted as bona fide, per
  attack type (PAI species); the reported APCER is the worst type's.
- BPCER: the fraction of bona fide presentations rejected as attacks.
- ACER: (APCER + BPCER) / 2.
- BPCER20 / BPCER100: BPCER at the lowest threshold whose APCER is at most
  5% / 1%.
- EER: where APCER and BPCER meet: their mean at the threshold where they
  differ least (the lowest such threshold on ties).
- AUC: area under the ROC of bona fide against all attacks (ties count half).
"""
import numpy as np

REAL, FAKE, NOT_SURE = "real", "fake", "not_sure"


def decide(scores, threshold, band=None):
    """Decisions for scores: 'real' at or above the threshold, else 'fake'; 'not_sure' inside the band."""
    scores = np.asarray(scores, dtype="float64")
    decisions = np.where(scores >= threshold, REAL, FAKE).astype(object)
    if band is not None:
        low, high = band
        decisions[(scores >= low) & (scores <= high)] = NOT_SURE
    return decisions


def _rate(flags):
    return float(np.mean(flags)) if len(flags) else None


def error_rates(scores, labels, bona_fide, threshold, band=None):
    """APCER per attack type and worst, BPCER, ACER at one threshold, over the decided faces."""
    scores, labels = np.asarray(scores, dtype="float64"), np.asarray(labels)
    decisions = decide(scores, threshold, band)
    decided = decisions != NOT_SURE
    accepted = decisions == REAL
    bona = labels == bona_fide
    apcer_per_type = {str(t): _rate(accepted[(labels == t) & decided])
                      for t in sorted(set(labels[~bona].tolist()))}
    known = [v for v in apcer_per_type.values() if v is not None]
    apcer = max(known) if known else None
    bpcer = _rate(~accepted[bona & decided])
    acer = (apcer + bpcer) / 2 if apcer is not None and bpcer is not None else None
    return {"apcer": apcer, "apcer_per_type": apcer_per_type, "bpcer": bpcer, "acer": acer}


def _sweep(scores, labels, bona_fide):
    """(thresholds, worst-type APCER, BPCER) at every distinct score and above the highest."""
    scores, labels = np.asarray(scores, dtype="float64"), np.asarray(labels)
    thresholds = np.append(np.unique(scores), np.inf)
    bona = scores[labels == bona_fide]
    types = [scores[labels == t] for t in sorted(set(labels.tolist()) - {bona_fide})]
    apcer = np.array([max(np.mean(s >= t) for s in types) for t in thresholds])
    bpcer = np.array([np.mean(bona < t) for t in thresholds])
    return thresholds, apcer, bpcer


def _both_sides(labels, bona_fide):
    labels = np.asarray(labels)
    return bool(np.any(labels == bona_fide)) and bool(np.any(labels != bona_fide))


def bpcer_at_apcer(scores, labels, bona_fide, target):
    """(BPCER, threshold) at the lowest threshold whose worst-type APCER is at most `target`."""
    if not _both_sides(labels, bona_fide):
        return None, None
    thresholds, apcer, bpcer = _sweep(scores, labels, bona_fide)
    i = int(np.argmax(apcer <= target + 1e-12))  # APCER only falls as the threshold rises
    return float(bpcer[i]), float(thresholds[i])


def equal_error_rate(scores, labels, bona_fide):
    """(EER, threshold) where worst-type APCER and BPCER differ least."""
    if not _both_sides(labels, bona_fide):
        return None, None
    thresholds, apcer, bpcer = _sweep(scores, labels, bona_fide)
    i = int(np.argmin(np.abs(apcer - bpcer)))
    return float((apcer[i] + bpcer[i]) / 2), float(thresholds[i])


def auc(scores, labels, bona_fide):
    """Area under the ROC curve, bona fide positive; None with one side only."""
    if not _both_sides(labels, bona_fide):
        return None
    from sklearn.metrics import roc_auc_score  # scikit-learn takes a second to import: only when needed

    return float(roc_auc_score(np.asarray(labels) == bona_fide, np.asarray(scores, dtype="float64")))


def confusion(labels, decisions):
    """{true class: {decision: count}} for every class and the three decisions."""
    labels, decisions = np.asarray(labels), np.asarray(decisions)
    return {str(c): {d: int(np.sum((labels == c) & (decisions == d))) for d in (REAL, FAKE, NOT_SURE)}
            for c in sorted(set(labels.tolist()))}


def summarize(scores, labels, bona_fide, threshold, band=None):
    """Every figure for one set of scores, as a JSON-ready dict."""
    scores, labels = np.asarray(scores, dtype="float64"), np.asarray(labels)
    decisions = decide(scores, threshold, band)
    bpcer20, _ = bpcer_at_apcer(scores, labels, bona_fide, 0.05)
    bpcer100, _ = bpcer_at_apcer(scores, labels, bona_fide, 0.01)
    eer, eer_threshold = equal_error_rate(scores, labels, bona_fide)
    return {
        "count": int(len(scores)),
        "bona_fide": int(np.sum(labels == bona_fide)),
        "attacks": int(np.sum(labels != bona_fide)),
        "not_sure": int(np.sum(decisions == NOT_SURE)),
        **error_rates(scores, labels, bona_fide, threshold, band),
        "bpcer20": bpcer20,
        "bpcer100": bpcer100,
        "eer": eer,
        "eer_threshold": eer_threshold,
        "auc": auc(scores, labels, bona_fide),
        "confusion": confusion(labels, decisions),
    }
