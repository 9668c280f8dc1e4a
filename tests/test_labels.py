import os
import pickle

import numpy as np
import pytest
from sklearn.preprocessing import LabelEncoder

from liveness.errors import LivenessError
from liveness.models.labels import load_label_encoder, save_label_encoder


class RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_saved_label_encoder_round_trips(tmp_path):
    le = LabelEncoder().fit(["real", "fake", "fake"])
    save_label_encoder(le, tmp_path / "le.pickle")
    loaded = load_label_encoder(tmp_path / "le.pickle")
    assert list(loaded.classes_) == ["fake", "real"]
    assert list(loaded.transform(["real", "fake"])) == [1, 0]


def test_an_encoder_pickled_by_old_numpy_and_sklearn_loads(tmp_path):
    # protocol 2 writes module names as text lines, so they can be renamed to the old ones
    data = pickle.dumps(LabelEncoder().fit(["fake", "real"]), protocol=2)
    data = data.replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in data
    (tmp_path / "le.pickle").write_bytes(data)
    assert list(load_label_encoder(tmp_path / "le.pickle").classes_) == ["fake", "real"]


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "le.pickle").write_bytes(pickle.dumps(RunsAShellCommand(marker)))
    with pytest.raises(LivenessError, match="refused"):
        load_label_encoder(tmp_path / "le.pickle")
    assert not marker.exists()


def test_code_hidden_inside_an_encoder_state_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    le = LabelEncoder().fit(["fake", "real"])
    le.extra = RunsAShellCommand(marker)
    (tmp_path / "le.pickle").write_bytes(pickle.dumps(le))
    with pytest.raises(LivenessError, match="refused"):
        load_label_encoder(tmp_path / "le.pickle")
    assert not marker.exists()


@pytest.mark.parametrize("payload", [pickle.dumps({"classes_": ["a", "b"]}), pickle.dumps(np.arange(3)), b"garbage"])
def test_anything_but_a_fitted_label_encoder_is_refused(tmp_path, payload):
    (tmp_path / "le.pickle").write_bytes(payload)
    with pytest.raises(LivenessError):
        load_label_encoder(tmp_path / "le.pickle")


def test_object_arrays_of_classes_are_refused(tmp_path):
    le = LabelEncoder()
    le.classes_ = np.array(["fake", "real"], dtype=object)
    (tmp_path / "le.pickle").write_bytes(pickle.dumps(le))
    with pytest.raises(LivenessError):
        load_label_encoder(tmp_path / "le.pickle")
