"""A small head on the frozen embeddings of the pretrained pair (train_liveness.py --recipe head).

Fine-tuning the pair on a few attack recordings teaches it those recordings (docs/accuracy.md). A
logistic regression on its frozen embeddings (each network's 128 numbers after its last batch
normalization) fits 257 numbers and leaves the networks as they were trained. The regression, its
standardization folded in, becomes one Dense layer on the pair's embeddings: the result is an ordinary
Keras model, loaded, exported and served as any other.
"""
import numpy as np

NETWORKS = ("minifasnet_v2", "minifasnet_v1se")
EMBEDDING_LAYER = "bn"


def embedder(pair_model):
    """A Keras model from the pair's input (80x80x6 in [0, 1]) to both networks' embeddings, side by side."""
    import keras
    from keras import layers

    from liveness.models.layers import ChannelSlice

    inputs = keras.Input(shape=pair_model.input_shape[1:], name="crops")
    pixels = layers.Rescaling(255.0, name="to_pixels")(inputs)
    parts = []
    for i, name in enumerate(NETWORKS):
        network = pair_model.get_layer(name)
        frozen = keras.Model(network.inputs, network.get_layer(EMBEDDING_LAYER).output, name=f"{name}_embedding")
        frozen.trainable = False
        parts.append(frozen(ChannelSlice(3 * i, 3 * i + 3, name=f"crop_{i}")(pixels)))
    return keras.Model(inputs, layers.Concatenate(name="embeddings")(parts), name="pair_embeddings")


def embeddings(model, rois, batch_size=64):
    """(N, 256) embeddings of ROIs already at the model's input (float32 in [0, 1])."""
    if len(rois) == 0:
        return np.zeros((0, model.output_shape[-1]), "float32")
    return np.concatenate([model.predict_on_batch(rois[i:i + batch_size]) for i in range(0, len(rois), batch_size)])


def fit_logistic(features, is_bona_fide, c):
    """(weights, bias) of a balanced logistic regression on standardized features, in the raw features' units:
    logit(real) = features . weights + bias."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000))
    head.fit(features, is_bona_fide)
    scaler, regression = head.named_steps["standardscaler"], head.named_steps["logisticregression"]
    weights = regression.coef_[0] / scaler.scale_
    return weights, float(regression.intercept_[0] - np.dot(weights, scaler.mean_))


def with_head(embedding_model, weights, bias, classes, bona_fide):
    """The embedder with the fitted regression as a softmax over `classes` (two): sigmoid(logit) for the bona fide
    class, its complement for the other."""
    import keras
    from keras import layers

    real = list(classes).index(bona_fide)
    kernel = np.zeros((len(weights), 2), "float32")
    kernel[:, real], kernel[:, 1 - real] = weights / 2, -weights / 2
    offsets = np.zeros(2, "float32")
    offsets[real], offsets[1 - real] = bias / 2, -bias / 2
    head = layers.Dense(2, activation="softmax", name="head")
    outputs = head(embedding_model.output)
    head.set_weights([kernel, offsets])
    return keras.Model(embedding_model.inputs, outputs, name="minifasnet_pair_head")
