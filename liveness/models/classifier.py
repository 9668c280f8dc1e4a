"""Scoring face ROIs with a liveness model, fast enough for a per-frame loop.

`model.predict` sets up a data pipeline on every call (tens of milliseconds);
a frame's faces instead go through one traced tf.function call, batched. A
LiteRT export (liveness.models.lite) is called as it is, and TensorFlow never imported.
"""
import numpy as np

from liveness.errors import LivenessError
from liveness.faces.crops import Crop, roi_to_input


class LivenessClassifier:
    """A model and its LabelEncoder: class probabilities for a batch of ROIs, and decisions.

    A face is the bona fide class when that class's probability is at least
    `threshold` (0.5 for two classes is the original's argmax); otherwise it is
    the most probable attack class.
    """

    def __init__(self, model, encoder, bona_fide="real", threshold=0.5, crop=Crop()):
        """`encoder`: a LabelEncoder, or its class names."""
        self.model = model
        self.classes = [str(c) for c in getattr(encoder, "classes_", encoder)]
        self.bona_fide, self.threshold, self.cropper = bona_fide, threshold, crop
        (height, width, depth) = model.input_shape[1:4]
        if depth != crop.channels:
            raise LivenessError(f"the model takes {depth} channels but its crop {crop} gives {crop.channels}")
        self.size = (width, height)
        from liveness.models.lite import LiteModel

        if isinstance(model, LiteModel):
            self._forward = model
        else:
            import tensorflow as tf

            traced = tf.function(lambda x: model(x, training=False),
                                 input_signature=[tf.TensorSpec((None, height, width, depth), tf.float32)])
            self._forward = lambda batch: traced(batch).numpy()

    @property
    def crop_scale(self):
        """The crop scale as stored with the model: a number, or a list for a model of several crops."""
        return self.cropper.metadata()["crop_scale"]

    def crop(self, frame, box):
        """The crop of a detected face this model was trained on (see --crop-scale, liveness.faces.crops)."""
        return self.cropper(frame, box, self.size)

    def predict(self, rois):
        """(N, classes) probabilities for a list of BGR ROIs of any size."""
        if len(rois) == 0:
            return np.zeros((0, len(self.classes)), "float32")
        batch = np.stack([roi_to_input(roi, self.size) for roi in rois])
        return self._forward(batch)

    def label(self, probabilities):
        """The decided class name and its probability, as the original demo shows them."""
        if self.bona_fide in self.classes:
            bona = self.classes.index(self.bona_fide)
            if probabilities[bona] >= self.threshold:
                return self.bona_fide, float(probabilities[bona])
            attacks = np.array(probabilities, dtype="float64")
            attacks[bona] = -1.0
            j = int(np.argmax(attacks))
        else:
            j = int(np.argmax(probabilities))
        return self.classes[j], float(probabilities[j])
