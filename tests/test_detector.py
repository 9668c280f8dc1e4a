import os

import numpy as np
import pytest

from liveness.errors import LivenessError
from liveness.faces.detectors import merge_overlapping
from liveness.faces.detectors.ssd import CAFFEMODEL, PROTOTXT, SsdDetector, find_detector_files, install


def test_one_face_gives_one_box_inside_the_frame(face_frame):
    faces = SsdDetector(min_confidence=0.5).detect(face_frame)
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


def test_install_copies_the_files_from_the_wheel(tmp_path):
    install(tmp_path)
    prototxt, caffemodel = find_detector_files(str(tmp_path))
    assert os.path.basename(prototxt) == PROTOTXT and os.path.basename(caffemodel) == CAFFEMODEL
    assert os.path.getsize(caffemodel) > 10_000_000


def test_confidence_outside_unit_interval_is_refused():
    with pytest.raises(LivenessError, match="confidence"):
        SsdDetector(min_confidence=1.5)


def dlib_available():
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = ["ssd", "ssd-squashed", "haar"] + [pytest.param(k, marks=pytest.mark.skipif(not dlib_available(), reason="dlib not installed"))
                              for k in ("hog", "mmod")]


@pytest.mark.parametrize("kind", BACKENDS)
def test_each_backend_finds_the_one_face_in_frame_coordinates(kind, face_frame):
    from liveness.faces.detectors import create_detector, iou

    faces = create_detector(kind).detect(face_frame)
    assert len(faces) == 1
    box, confidence = faces[0]
    (h, w) = face_frame.shape[:2]
    assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h
    assert 0.5 < confidence <= 1.0
    ssd_box = SsdDetector().detect(face_frame)[0][0]
    assert iou(box, ssd_box) > 0.4  # the same face the SSD sees


@pytest.mark.parametrize("kind", BACKENDS)
def test_each_backend_finds_nothing_in_a_blank_frame(kind):
    from liveness.faces.detectors import create_detector

    assert create_detector(kind).detect(np.full((240, 320, 3), 128, "uint8")) == []


def test_boxes_are_clipped_to_the_frame():
    from liveness.faces.detectors import Detector

    class Edge(Detector):
        def candidates(self, frame):
            return [((-20.0, -5.0, 50.7, 400.0), 0.9), ((300, 10, 330, 40), 0.8)]

    assert Edge(0.5).detect(np.zeros((240, 320, 3), "uint8")) == [((0, 0, 50, 240), 0.9), ((300, 10, 320, 40), 0.8)]


def test_without_dlib_hog_and_mmod_say_how_to_install_it(monkeypatch):
    import sys

    from liveness.faces.detectors import create_detector

    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` now raises ImportError
    for kind in ("hog", "mmod"):
        with pytest.raises(LivenessError, match="--with-dlib"):
            create_detector(kind)
    assert create_detector("haar") is not None  # everything else works


def test_a_command_without_dlib_fails_in_one_line(clips, tmp_path):
    from conftest import assert_one_line_error, run_script

    fake = tmp_path / "no_dlib" / "dlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('dlib is not installed')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "no_dlib"))
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run([sys.executable, os.path.join(ROOT, "gather_examples.py"), "-i", clips["real"],
                             "-o", tmp_path / "out", "--detector-type", "hog"], capture_output=True, text=True, env=env)
    assert_one_line_error(result, "--with-dlib")
    ok = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "haar", "--detector-type", "haar", "-s", 4)
    assert ok.returncode == 0, ok.stderr
