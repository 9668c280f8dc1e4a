"""LivenessNet: the small VGG-like network of the original tutorial, in Keras 3.

Run it to print the summary: at 32x32x3 and 2 classes it has 148,562
parameters (148,242 trainable, 320 in the BatchNormalization moving statistics).
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import layers  # noqa: E402


class LivenessNet:
    @staticmethod
    def build(width, height, depth, classes):
        """The original architecture, layer for layer (channels last)."""
        chan_dim = -1
        model = keras.Sequential(name="livenessnet")
        model.add(keras.Input(shape=(height, width, depth)))

        # first CONV => RELU => CONV => RELU => POOL layer set
        model.add(layers.Conv2D(16, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chan_dim))
        model.add(layers.Conv2D(16, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chan_dim))
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(layers.Dropout(0.25))

        # second CONV => RELU => CONV => RELU => POOL layer set
        model.add(layers.Conv2D(32, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chan_dim))
        model.add(layers.Conv2D(32, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chan_dim))
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(layers.Dropout(0.25))

        # first (and only) set of FC => RELU layers
        model.add(layers.Flatten())
        model.add(layers.Dense(64))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.5))

        # softmax classifier
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax"))
        return model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Print the LivenessNet summary.")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    args = ap.parse_args()
    LivenessNet.build(args.width, args.height, args.depth, args.classes).summary()
