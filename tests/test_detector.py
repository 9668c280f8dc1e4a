import os

import pytest

from liveness.detector import CAFFEMODEL, PROTOTXT, FaceDetector, find_detector_files, install, merge_overlapping
from liveness.errors import LivenessError


def test_one_face_gives_one_box_inside_the_frame(face_frame):
    faces = FaceDetector(min_confidence=0.5).detect(face_frame)
    assert len(faces) == 1
    (startX, startY, endX, endY), confidence = faces[0]
    (h, w) = face_frame.shape[:2]
    assert 0 <= startX < endX <= w and 0 <= startY < endY <= h
    assert confidence > 0.5
    # the sample puts the face near the middle of the frame
    assert startX < w / 2 < endX and startY < h / 2 < endY


def test_overlapping_boxes_of_one_face_merge_into_the_most_confident():
    faces = [((10, 10, 100, 100), 0.7), ((12, 8, 104, 98), 0.9), ((200, 10, 260, 70), 0.6)]
    assert merge_overlapping(faces) == [((12, 8, 104, 98), 0.9), ((200, 10, 260, 70), 0.6)]


def test_a_blank_frame_has_no_face():
    import numpy as np

    assert FaceDetector().detect(np.full((240, 320, 3), 128, "uint8")) == []


def test_install_copies_the_files_from_the_wheel(tmp_path):
    install(tmp_path)
    prototxt, caffemodel = find_detector_files(str(tmp_path))
    assert os.path.basename(prototxt) == PROTOTXT and os.path.basename(caffemodel) == CAFFEMODEL
    assert os.path.getsize(caffemodel) > 10_000_000


def test_confidence_outside_unit_interval_is_refused():
    with pytest.raises(LivenessError, match="confidence"):
        FaceDetector(min_confidence=1.5)
