"""LivenessNet: the small VGG-like network of the original tutorial, in Keras 3.

Run it to print the summary: at 32x32x3 and 2 classes it has 148,562
parameters (148,242 trainable, 320 in the BatchNormalization moving statistics).

`arch` picks a variant for the recipe search (`train_liveness.py --arch`); the
default is the original, layer for layer. The budget for a variant: at most 1.2
million parameters at 64x64, where the original has 541,778 (at 64x64: gap
19,538; deep 335,570; wide 1,115,362; mobile 80,434).
"""
import argparse

from liveness.quiet import add_verbose_argument, import_tensorflow

# Keras is imported inside the builders: importing ARCHS for a command's --help stays instant.

ARCHS = ("livenessnet", "gap", "deep", "wide", "mobile")
STANDARDIZE = ("none", "image", "channel")


def standardization(mode):
    """A first layer that standardizes each image on its own: zero mean, unit variance.

    "image" over all its pixels and channels (brightness and contrast go, colour
    stays); "channel" each colour channel apart (white balance goes too). What
    differs between two cameras in the same way for live and replayed faces
    should not decide between them. None for "none".
    """
    if mode == "none":
        return None
    from keras import layers

    axis = (1, 2, 3) if mode == "image" else (1, 2)
    return layers.LayerNormalization(axis=axis, center=False, scale=False, epsilon=1e-3, name=f"standardize_{mode}")


class LivenessNet:
    @staticmethod
    def build(width, height, depth, classes, arch="livenessnet", name=None, standardize="none"):
        """The original architecture (channels last), or one of its variants:

        gap:    the original's convolutions, global average pooling instead of
                flatten: a head that can't learn where in the crop things are.
        deep:   a third CONV => CONV => POOL set of 64 filters.
        wide:   twice the filters in every convolution (32, 64).
        mobile: inverted residual blocks (depthwise convolutions, MobileNetV2's
                block) with global average pooling.
        """
        import keras
        from keras import layers

        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; one of {', '.join(ARCHS)}")
        if arch == "mobile":
            return _mobile(width, height, depth, classes, name or "livenessnet_mobile", standardization(standardize))
        filters = {"livenessnet": (16, 32), "gap": (16, 32), "deep": (16, 32, 64), "wide": (32, 64)}[arch]
        chan_dim = -1
        model = keras.Sequential(name=name or ("livenessnet" if arch == "livenessnet" else f"livenessnet_{arch}"))
        model.add(keras.Input(shape=(height, width, depth)))
        if standardize != "none":
            model.add(standardization(standardize))

        # CONV => RELU => CONV => RELU => POOL layer sets (the original has two)
        for n in filters:
            model.add(layers.Conv2D(n, (3, 3), padding="same"))
            model.add(layers.Activation("relu"))
            model.add(layers.BatchNormalization(axis=chan_dim))
            model.add(layers.Conv2D(n, (3, 3), padding="same"))
            model.add(layers.Activation("relu"))
            model.add(layers.BatchNormalization(axis=chan_dim))
            model.add(layers.MaxPooling2D(pool_size=(2, 2)))
            model.add(layers.Dropout(0.25))

        # first (and only) set of FC => RELU layers
        model.add(layers.GlobalAveragePooling2D() if arch == "gap" else layers.Flatten())
        model.add(layers.Dense(64))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.5))

        # softmax classifier
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax"))
        return model


def _inverted_residual(x, filters, stride, expand=4):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 linear projection; a shortcut where shapes allow."""
    from keras import layers

    inputs = x
    x = layers.Conv2D(x.shape[-1] * expand, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if stride == 1 and inputs.shape[-1] == filters:
        x = layers.Add()([inputs, x])
    return x


def _mobile(width, height, depth, classes, name, first=None):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(height, width, depth))
    x = inputs if first is None else first(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    for filters, stride in ((24, 2), (24, 1), (32, 2), (32, 1), (64, 2), (64, 1)):
        x = _inverted_residual(x, filters, stride)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def average_of(members):
    """One model whose output is the mean of its members' class probabilities (an ensemble).

    It saves, loads and scores as any single model, so every command uses it unchanged.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=members[0].input_shape[1:])
    outputs = layers.Average()([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name=f"livenessnet_ensemble_of_{len(members)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Print the LivenessNet summary.")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--arch", choices=ARCHS, default="livenessnet")
    ap.add_argument("--standardize", choices=STANDARDIZE, default="none")
    add_verbose_argument(ap)
    args = ap.parse_args()
    import_tensorflow(args.verbose)
    LivenessNet.build(args.width, args.height, args.depth, args.classes, args.arch, standardize=args.standardize).summary()
