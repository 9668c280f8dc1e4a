"""What every face detector shares: one interface, detect(frame) -> [(box, confidence)].

A backend only says what it sees (`candidates`); the base class turns that
into the faces every command gets: integer (startX, startY, endX, endY) boxes
in frame pixels, clipped to the frame, at or above --confidence, overlapping
boxes merged, most confident first.
"""
import numpy as np

from liveness.errors import LivenessError


def iou(a, b):
    """Intersection over union of two (startX, startY, endX, endY) boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def merge_overlapping(faces, overlap=0.3):
    """Keep the most confident of each group of overlapping boxes (greedy NMS).

    The SSD often returns several boxes for one face; without this the
    original demo labelled one face two or three times.
    """
    kept = []
    for box, confidence in sorted(faces, key=lambda f: -f[1]):
        if all(iou(box, k[0]) < overlap for k in kept):
            kept.append((box, confidence))
    return kept


def clip_box(box, width, height):
    """Integer box clipped to the frame, or None if nothing of it is left."""
    (startX, startY, endX, endY) = np.asarray(box).astype("int")
    startX, startY = max(0, startX), max(0, startY)
    endX, endY = min(width, endX), min(height, endY)
    if endX - startX < 2 or endY - startY < 2:
        return None
    return (int(startX), int(startY), int(endX), int(endY))


def check_confidence(min_confidence):
    if min_confidence is None or not 0.0 <= min_confidence <= 1.0:
        raise LivenessError(f"--confidence must be in [0, 1], got {min_confidence}")
    return min_confidence


def logistic(score):
    return float(1.0 / (1.0 + np.exp(-score)))


# no detector here finds a face in fewer pixels a side; a smaller image (2x2, 1x40000) has none to find
MIN_SIDE = 16


class Detector:
    """Raw boxes -> clipped, thresholded, merged faces."""

    name = "detector"
    default_confidence = 0.5  # --confidence when none is given
    files = ()  # the files that decide its boxes, checked against their published SHA-256 (ssd, retinaface)

    def __init__(self, min_confidence=None):
        self.min_confidence = check_confidence(self.default_confidence if min_confidence is None else min_confidence)

    def candidates(self, frame):
        """[(box in frame pixels as floats, confidence in [0, 1])] as the backend sees them."""
        raise NotImplementedError

    def detect(self, frame):
        """Faces in a BGR frame as [(box, confidence)], most confident first."""
        (h, w) = frame.shape[:2]
        if min(h, w) < MIN_SIDE:
            return []
        faces = []
        for box, confidence in self.candidates(frame):
            if confidence <= self.min_confidence:
                continue
            box = clip_box(box, w, h)
            if box is not None:
                faces.append((box, confidence))
        return merge_overlapping(faces)


def load_caffe(prototxt, caffemodel, what, hint):
    """cv2.dnn's Caffe network, or one line that says which files failed and what to do."""
    import cv2

    try:
        net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    except cv2.error as error:
        raise LivenessError(f"cannot load the {what} from {prototxt} and {caffemodel} "
                            f"({str(error).strip().splitlines()[-1]}); {hint}") from None
    if net.empty():
        raise LivenessError(f"cannot load the {what} from {prototxt} and {caffemodel}; {hint}")
    return net
