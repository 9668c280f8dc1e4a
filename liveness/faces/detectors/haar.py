"""OpenCV's own frontal-face Haar cascade (cv2.data): no files to fetch, the least accurate."""
import os

import cv2
import numpy as np

from liveness.errors import LivenessError
from liveness.faces.detectors.base import Detector, logistic


class HaarDetector(Detector):
    """Its score is the cascade's level weight, unbounded; `confidence` is logistic(weight)."""

    name = "haar"
    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, min_confidence=None):
        super().__init__(min_confidence)
        self.cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, self.CASCADE))
        if self.cascade.empty():
            raise LivenessError(f"cannot load OpenCV's {self.CASCADE}")

    def candidates(self, frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes, _, weights = self.cascade.detectMultiScale3(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30),
                                                           outputRejectLevels=True)
        return [((x, y, x + bw, y + bh), logistic(wt)) for (x, y, bw, bh), wt in zip(boxes, np.ravel(weights))]
