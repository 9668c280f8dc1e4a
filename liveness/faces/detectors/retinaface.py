"""The pretrained pair's own face detector: the RetinaFace (MobileNet, WIDER FACE) Caffe network
that Minivision's Silent-Face-Anti-Spoofing ships beside the two MiniFASNets (Apache License 2.0).

The pair was trained on crops of this detector's boxes: its crop scales 2.7
and 4.0 are relative to them. It is fed as the original feeds it: the frame
resized, keeping its aspect, to about 192x192 pixels of area (smaller frames
as they are), mean (104, 117, 123), one forward pass to `detection_out`.
Its rows are (image, class, confidence, x0, y0, x1, y1) with the box in [0, 1]
of the frame; a box becomes the original's integers, left = int(x0 * width)
and width = int((x1 - x0) * width + 1), so the crops are the original's to the pixel.

The two files are fetched and checked by `python -m liveness.pretrained`,
into face_detector/retinaface/ (or --detector FOLDER).
"""
import math
import os

import cv2
import numpy as np

from liveness.common.integrity import check_file
from liveness.errors import LivenessError
from liveness.faces.detectors.base import MIN_SIDE, Detector, load_caffe
from liveness.faces.detectors.ssd import PROJECT_FOLDER

FOLDER = os.path.join(PROJECT_FOLDER, "retinaface")
HOME = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
RAW = "https://raw.githubusercontent.com/minivision-ai/Silent-Face-Anti-Spoofing/master/resources/detection_model/"
# (file name, SHA-256 of the published file)
FILES = (
    ("deploy.prototxt", "9fe2f141b4baee039ed9442da2833e216af40a6ff3e639e7b39258812bcda808"),
    ("Widerface-RetinaFace.caffemodel", "d08338a2c207df16a9c566f767fea67fb43ba6fff76ce11e938fe3fabefb9402"),
)
MEAN_BGR = (104.0, 117.0, 123.0)
SIDE = 192  # the original's: about 192 x 192 pixels of area
FETCH = "python -m liveness.pretrained (or: python -m liveness.pretrained --from DIR)"


def input_size(width, height, side=SIDE):
    """The (w, h) the original resizes a frame to: about side x side pixels, the frame's aspect kept."""
    if width * height < side * side:
        return width, height
    aspect = width / height
    # a strip of a frame (1000x40000) would give the network a side of under one pixel
    return max(MIN_SIDE, int(side * math.sqrt(aspect))), max(MIN_SIDE, int(side / math.sqrt(aspect)))


def decode(detections, width, height):
    """[(box, confidence)] in frame pixels from `detection_out` rows, boxes as the original cuts them (its
    arithmetic, in the rows' float32, done for all rows at once)."""
    rows = np.asarray(detections).reshape(-1, 7)
    rows = rows[np.isfinite(rows[:, 2:7]).all(axis=1)]  # the network answers inf for a picture far smaller than a face
    x0, y0, x1, y1 = rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6]
    left, top = (x0 * width).astype(int), (y0 * height).astype(int)
    box_w, box_h = (x1 * width - x0 * width + 1).astype(int), (y1 * height - y0 * height + 1).astype(int)
    boxes = np.stack([left, top, left + box_w - 1, top + box_h - 1], axis=1).tolist()
    return [(tuple(box), float(confidence)) for box, confidence in zip(boxes, rows[:, 2])]


def files_in(folder):
    """(prototxt, caffemodel) in `folder`, or one line naming the command that fetches them."""
    paths = [os.path.join(folder, name) for name, _ in FILES]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise LivenessError(f"RetinaFace file {missing[0]} not found: fetch it with {FETCH}")
    return tuple(paths)


class RetinaFaceDetector(Detector):
    name = "retinaface"
    # At the original's small input, clear faces can score low (0.17 to 0.35 on one well-lit frontal
    # face of ../shared); the original takes its most confident box whatever the score. 0.1 is the
    # network's own reporting threshold (DetectionOutput's confidence_threshold): every box it reports.
    default_confidence = 0.1

    def __init__(self, folder=None, min_confidence=None, side=SIDE):
        super().__init__(min_confidence)
        self.side = side
        prototxt, caffemodel = files_in(folder or FOLDER)
        for path, (_, digest) in zip((prototxt, caffemodel), FILES):
            check_file(path, digest, "RetinaFace face detector's file", f"fetch it again with {FETCH}")
        self.files = (prototxt, caffemodel)
        self.net = load_caffe(prototxt, caffemodel, "RetinaFace face detector", f"fetch it again with {FETCH}")

    def raw_detections(self, frame):
        """`detection_out` for a BGR frame: an (N, 7) array, boxes in [0, 1] of the frame."""
        (h, w) = frame.shape[:2]
        size = input_size(w, h, self.side)
        picture = frame if size == (w, h) else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        self.net.setInput(cv2.dnn.blobFromImage(picture, 1.0, mean=MEAN_BGR), "data")
        return self.net.forward("detection_out").reshape(-1, 7)

    def candidates(self, frame):
        (h, w) = frame.shape[:2]
        return decode(self.raw_detections(frame), w, h)
