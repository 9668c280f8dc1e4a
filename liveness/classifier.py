"""Scoring face ROIs with a liveness model, fast enough for a per-frame loop.

`model.predict` sets up a data pipeline on every call (tens of milliseconds);
a frame's faces instead go through one traced tf.function call, batched.
"""
import cv2
import numpy as np
import tensorflow as tf


def context_box(box, scale, width, height):
    """The face box enlarged `scale` times around its centre, clipped to a width x height frame.

    A larger crop shows the model what is around the face: the edge of a phone
    or screen, the hand holding it. Scale 1 is the original's tight face box.
    """
    if scale == 1.0:
        return box
    (startX, startY, endX, endY) = box
    cx, cy = (startX + endX) / 2, (startY + endY) / 2
    half_w, half_h = (endX - startX) * scale / 2, (endY - startY) * scale / 2
    return (max(0, int(round(cx - half_w))), max(0, int(round(cy - half_h))),
            min(width, int(round(cx + half_w))), min(height, int(round(cy + half_h))))


def crop_face(frame, box, scale=1.0):
    """The region of `frame` the model looks at for a face in `box`."""
    (startX, startY, endX, endY) = context_box(box, scale, frame.shape[1], frame.shape[0])
    return frame[startY:endY, startX:endX]


def roi_to_input(roi, size):
    """A BGR face ROI as the model saw it in training: resized to (width, height), scaled to [0, 1]."""
    return cv2.resize(roi, size).astype("float32") / 255.0


class LivenessClassifier:
    """A model and its LabelEncoder: class probabilities for a batch of ROIs, and decisions.

    A face is the bona fide class when that class's probability is at least
    `threshold` (0.5 for two classes is the original's argmax); otherwise it is
    the most probable attack class.
    """

    def __init__(self, model, encoder, bona_fide="real", threshold=0.5, crop_scale=1.0):
        self.model = model
        self.classes = [str(c) for c in encoder.classes_]
        self.bona_fide, self.threshold, self.crop_scale = bona_fide, threshold, crop_scale
        (height, width, depth) = model.input_shape[1:4]
        self.size = (width, height)
        self._forward = tf.function(lambda x: model(x, training=False),
                                    input_signature=[tf.TensorSpec((None, height, width, depth), tf.float32)])

    def crop(self, frame, box):
        """The crop of a detected face this model was trained on (see --crop-scale)."""
        return crop_face(frame, box, self.crop_scale)

    def predict(self, rois):
        """(N, classes) probabilities for a list of BGR ROIs of any size."""
        if len(rois) == 0:
            return np.zeros((0, len(self.classes)), "float32")
        batch = np.stack([roi_to_input(roi, self.size) for roi in rois])
        return self._forward(batch).numpy()

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
