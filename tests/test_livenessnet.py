import numpy as np
import pytest

from livenessnet import ARCHS, LivenessNet


def count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def test_parameter_counts_match_the_original():
    model = LivenessNet.build(width=32, height=32, depth=3, classes=2)
    assert model.count_params() == 148_562
    assert count(model.trainable_weights) == 148_242
    assert count(model.non_trainable_weights) == 320


def test_layer_sequence_matches_the_original():
    model = LivenessNet.build(width=32, height=32, depth=3, classes=2)
    kinds = [type(layer).__name__ for layer in model.layers]
    block = lambda n: ["Conv2D", "Activation", "BatchNormalization"] * 2 + ["MaxPooling2D", "Dropout"]  # noqa: E731
    assert kinds == block(16) + block(32) + ["Flatten", "Dense", "Activation", "BatchNormalization", "Dropout",
                                            "Dense", "Activation"]
    filters = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert filters == [16, 16, 32, 32]


def test_output_is_a_distribution_over_the_classes():
    model = LivenessNet.build(width=32, height=32, depth=3, classes=3)
    out = model(np.random.default_rng(0).random((4, 32, 32, 3), dtype="float32"), training=False).numpy()
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_variant_is_a_distribution_within_the_parameter_budget(arch):
    model = LivenessNet.build(width=64, height=64, depth=3, classes=2, arch=arch)
    assert model.count_params() <= 1_200_000
    out = model(np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32"), training=False).numpy()
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_variants_differ_from_the_original_where_they_say():
    kinds = lambda arch: [type(layer).__name__ for layer in LivenessNet.build(64, 64, 3, 2, arch).layers]  # noqa: E731
    assert "GlobalAveragePooling2D" in kinds("gap") and "Flatten" not in kinds("gap")
    assert kinds("deep").count("Conv2D") == 6
    filters = [layer.filters for layer in LivenessNet.build(64, 64, 3, 2, "wide").layers if hasattr(layer, "filters")]
    assert filters == [32, 32, 64, 64]
    assert "DepthwiseConv2D" in kinds("mobile") and "Add" in kinds("mobile")


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown arch"):
        LivenessNet.build(32, 32, 3, 2, "huge")


@pytest.mark.parametrize("arch", ["livenessnet", "mobile"])
@pytest.mark.parametrize("mode", ["image", "channel"])
def test_a_standardized_network_ignores_a_brightness_offset(arch, mode):
    model = LivenessNet.build(32, 32, 3, 2, arch, standardize=mode)
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype="float32") * 0.6
    offset = np.array([0.2, 0.1, 0.3] if mode == "channel" else [0.2], "float32")
    np.testing.assert_allclose(model(images + offset, training=False).numpy(), model(images, training=False).numpy(),
                               atol=1e-5)
    plain = LivenessNet.build(32, 32, 3, 2, arch)
    assert model.count_params() == plain.count_params()  # no weights: nothing learnt about the camera
