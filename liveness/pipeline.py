"""One frame in, its faces scored: the step the demo, evaluation and service share."""
from dataclasses import dataclass

import numpy as np


@dataclass
class ScoredFace:
    box: tuple  # (startX, startY, endX, endY) in frame pixels
    confidence: float  # the face detector's probability
    probabilities: np.ndarray  # the liveness model's class probabilities
    label: str  # the winning class
    score: float  # its probability


def score_faces(frame, detector, classifier):
    """Detect the faces of a BGR frame and classify them all in one batch."""
    faces = detector.detect(frame)
    rois = [frame[startY:endY, startX:endX] for (startX, startY, endX, endY), _ in faces]
    probabilities = classifier.predict(rois)
    scored = []
    for (box, confidence), p in zip(faces, probabilities):
        label, score = classifier.label(p)
        scored.append(ScoredFace(box, confidence, p, label, score))
    return scored
