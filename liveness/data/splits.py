"""Train/test splits: the original random one, and one that keeps groups whole.

Neighbouring frames of one video are near-duplicates: split at random, the
test set holds copies of training images and measures memory. A group split
keeps every ROI of one recording (or one person) on one side.
"""
import numpy as np
from sklearn.model_selection import train_test_split

from liveness.errors import LivenessError


def random_split(labels, seed, test_size=0.25):
    """(train indices, test indices): the original stratified random split."""
    indices = np.arange(len(labels))
    try:
        return train_test_split(indices, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as error:
        raise LivenessError(f"cannot split the dataset {1 - test_size:.0%}/{test_size:.0%} by class: {error}") from None


def group_split(labels, groups, seed, test_size=0.25, tries=200):
    """(train indices, test indices) with each group wholly on one side.

    Groups are drawn into the test side in a seeded random order until it
    holds at least `test_size` of the images; among `tries` orders the one
    closest to `test_size` that leaves every class on both sides wins.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    names = np.unique(groups)
    classes = set(labels.tolist())
    if len(names) < 2:
        raise LivenessError(f"a group split needs two or more groups, found {len(names)} ({', '.join(names)})")
    sizes = {g: int(np.sum(groups == g)) for g in names}
    rng = np.random.default_rng(seed)
    best, best_gap = None, None
    for _ in range(tries):
        order = rng.permutation(names)
        test, count = [], 0
        for g in order:
            if count >= test_size * len(labels):
                break
            test.append(g)
            count += sizes[g]
        in_test = np.isin(groups, test)
        if set(labels[in_test].tolist()) != classes or set(labels[~in_test].tolist()) != classes:
            continue
        gap = abs(count / len(labels) - test_size)
        if best is None or gap < best_gap:
            best, best_gap = in_test, gap
    if best is None:
        raise LivenessError("no group split leaves every class on both sides: each class needs at least two "
                            "groups (recordings or people)")
    indices = np.arange(len(labels))
    return indices[~best], indices[best]
