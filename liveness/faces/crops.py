"""What a model looks at around a detected face: the crop rule, stored with the model.

Two rules enlarge the face box `scale` times around its centre:

- `clip` (LivenessNet's --crop-scale): the enlarged box is clipped to the frame,
  so near an edge the crop loses its shape and the face moves off centre.
- `shift` (the pretrained MiniFASNet networks'): the scale is capped so the box
  fits in the frame, and the box is moved, not clipped, to stay inside it: the
  crop keeps the face box's shape. This is Silent-Face-Anti-Spoofing's rule to
  the pixel, its quirks included (a box is x0..x1 inclusive, the frame ends at
  width - 1).

A model may look at several crops of one face (the MiniFASNet pair at 2.7 and
4.0): each is resized to the model's input size and they are stacked along the
channels, one array per face like any other ROI.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from liveness.errors import LivenessError

RULES = ("clip", "shift")


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


def shifted_box(box, scale, width, height):
    """The face box enlarged `scale` times, scaled down until it fits and shifted inside the frame.

    Returns (x0, y0, x1, y1) with both ends inclusive, as Silent-Face cuts it.
    """
    (startX, startY, endX, endY) = box
    box_w, box_h = endX - startX + 1, endY - startY + 1
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = startX + box_w / 2, startY + box_h / 2
    x0, y0, x1, y1 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > width - 1:
        x0, x1 = x0 - (x1 - width + 1), width - 1
    if y1 > height - 1:
        y0, y1 = y0 - (y1 - height + 1), height - 1
    return int(x0), int(y0), int(x1), int(y1)


def crop_region(frame, box, scale=1.0, rule="clip"):
    """The pixels of `frame` a face in `box` is seen through at `scale` under `rule`."""
    (height, width) = frame.shape[:2]
    if rule == "shift":
        (x0, y0, x1, y1) = shifted_box(box, scale, width, height)
        return frame[max(0, y0):y1 + 1, max(0, x0):x1 + 1]
    (x0, y0, x1, y1) = context_box(box, scale, width, height)
    return frame[y0:y1, x0:x1]


@dataclass(frozen=True)
class Crop:
    """A model's crop: one or more scales and a rule, read from and written to its metadata."""

    scales: tuple = (1.0,)
    rule: str = "clip"

    def __post_init__(self):
        if self.rule not in RULES:
            raise LivenessError(f"unknown crop rule {self.rule!r}; one of {', '.join(RULES)}")
        if not self.scales or any(s < 1.0 for s in self.scales):
            raise LivenessError(f"crop scales must be 1 or more, got {self.scales}")

    @classmethod
    def from_metadata(cls, metadata):
        scale = metadata.get("crop_scale", 1.0)
        scales = tuple(float(s) for s in scale) if isinstance(scale, (list, tuple)) else (float(scale),)
        return cls(scales, metadata.get("crop_rule", "clip"))

    def metadata(self):
        return {"crop_scale": self.scales[0] if len(self.scales) == 1 else list(self.scales), "crop_rule": self.rule}

    @property
    def is_tight(self):
        """The face box itself, as gather_examples.py saves it: nothing to cut again."""
        return self.scales == (1.0,) and self.rule == "clip"

    @property
    def channels(self):
        return 3 * len(self.scales)

    def __str__(self):
        return "+".join(f"x{s:g}" for s in self.scales) + f" ({self.rule})"

    def __call__(self, frame, box, size):
        """The ROI of a face: one crop as it is, or several resized to `size` and stacked."""
        if len(self.scales) == 1:
            return crop_region(frame, box, self.scales[0], self.rule)
        return np.concatenate([cv2.resize(crop_region(frame, box, s, self.rule), size) for s in self.scales], axis=2)


def preview(roi):
    """A stacked ROI as one BGR picture, its crops side by side (a plain ROI as it is; a fusion's, its first)."""
    if isinstance(roi, tuple):
        roi = roi[0]
    if roi.ndim == 3 and roi.shape[2] > 3:
        return np.hstack([roi[:, :, i:i + 3] for i in range(0, roi.shape[2], 3)])
    return roi


def roi_to_input(roi, size):
    """A BGR face ROI as the model saw it in training: resized to (width, height), scaled to [0, 1]."""
    if roi.shape[1::-1] != tuple(size):  # crops of several scales come already at the model's size
        roi = cv2.resize(roi, size)
    return roi.astype("float32") / 255.0
