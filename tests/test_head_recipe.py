"""train_liveness.py --recipe head: a logistic regression on the pair's frozen embeddings, written as its last layer."""
import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from torch_files import randomized


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A MiniFASNet pair with random weights, saved as python -m liveness.pretrained saves the real one."""
    import minifasnet
    from liveness.models.pretrained import save_pretrained

    folder = tmp_path_factory.mktemp("pair")
    model = minifasnet.pair(randomized(minifasnet.MiniFASNet.build("v2"), seed=5),
                            randomized(minifasnet.MiniFASNet.build("v1se"), seed=6))
    paths = {"model": str(folder / "minifasnet.keras"), "le": str(folder / "le.pickle")}
    save_pretrained(model, paths["model"], paths["le"], sources={})
    return paths


def test_the_head_is_the_logistic_regression_of_the_frozen_embeddings(pair, gathered, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from liveness.data.dataset import load_rois
    from liveness.data.splits import random_split
    from liveness.faces.crops import Crop
    from liveness.models import head
    from liveness.models.metadata import read_metadata
    from liveness.models.model_io import load_classifier, load_model

    out = {k: str(tmp_path / n) for k, n in (("model", "head.keras"), ("le", "le.pickle"), ("plot", "plot.png"))}
    result = run_script("train_liveness.py", "--recipe", "head", "--init", pair["model"], "--dataset", gathered,
                        "--model", out["model"], "--le", out["le"], "--plot", out["plot"], "--no-export")
    assert result.returncode == 0, result.stderr
    meta = read_metadata(out["model"])
    assert meta["recipe"] == "head" and meta["head_c"] == 0.1 and meta["crop_rule"] == "shift"

    # the same regression fitted here, on the same training faces, answers the same scores
    data, labels, paths, _ = load_rois(str(gathered), (80, 80), Crop((2.7, 4.0), "shift"))
    features = head.embeddings(head.embedder(load_model(pair["model"])), data)
    train, _ = random_split(labels, 42)  # the command's default split and seed
    regression = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=3000))
    regression.fit(features[train], np.array(labels)[train] == "real")
    expected = regression.predict_proba(features)[:, 1]
    classifier, _ = load_classifier(out["model"], out["le"])
    got = classifier.model.predict(data, verbose=0)[:, classifier.classes.index("real")]
    assert np.abs(got - expected).max() < 1e-4
    # the networks were left as they were: the pair's own layers hold the same weights
    before, after = load_model(pair["model"]), load_model(out["model"])
    for name in head.NETWORKS:
        kept = after.get_layer(f"{name}_embedding").get_weights()
        original = before.get_layer(name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(kept, original[:len(kept)]))


def test_the_head_recipe_needs_the_pair(trained, gathered, tmp_path):
    result = run_script("train_liveness.py", "--recipe", "head", "--init", trained["model"], "--dataset", gathered,
                        "--model", tmp_path / "m.keras", "--le", tmp_path / "le.pickle", "--plot", tmp_path / "p.png")
    assert_one_line_error(result, "pretrained pair")
    assert not (tmp_path / "m.keras").exists()
