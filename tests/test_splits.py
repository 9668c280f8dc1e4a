"""The group split never puts one recording (or person) on both sides."""
import numpy as np
import pytest

from liveness.common.provenance import recording_of, recordings_of, subject_of
from liveness.data.splits import group_split
from liveness.errors import LivenessError


@pytest.mark.parametrize("seed", range(25))
def test_no_group_is_ever_on_both_sides(seed):
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for person in range(rng.integers(2, 6)):
        for label in ("real", "fake"):
            for take in range(rng.integers(1, 3)):
                count = int(rng.integers(1, 40))
                labels += [label] * count
                groups += [f"p{person}_{label}{take}"] * count
    order = rng.permutation(len(labels))
    labels, groups = np.array(labels)[order], np.array(groups)[order]
    train, test = group_split(labels, groups, seed=seed)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    assert not set(groups[train]) & set(groups[test])
    assert set(labels[train]) == set(labels[test]) == {"real", "fake"}


def test_people_stay_whole_when_grouping_by_subject():
    files = [f"subj{p}_{c}_{i:06d}.png" for p in "ABCD" for c in ("real", "fake") for i in range(5)]
    labels = np.array([f.split("_")[1] for f in files])
    people = np.array([subject_of(recording_of(f)) for f in files])
    train, test = group_split(labels, people, seed=1)
    assert not set(people[train]) & set(people[test])


def test_a_class_with_one_group_cannot_be_split():
    with pytest.raises(LivenessError, match="two groups"):
        group_split(["real"] * 4 + ["fake"] * 4, ["a"] * 4 + ["b"] * 4, seed=0)


def test_recordings_come_from_the_manifest_when_there_is_one(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,source,frame,startX,startY,endX,endY,confidence\n"
                                           "clip_000003.png,/videos/subjQ_real.mov,3,0,0,9,9,0.9\n")
    assert recordings_of([str(tmp_path / "clip_000003.png"), str(tmp_path / "subjZ_fake_000001_2.png")]) == \
        ["subjQ_real", "subjZ_fake"]
