import numpy as np

from livenessnet import LivenessNet


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
