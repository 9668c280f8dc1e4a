"""The letterboxed SSD, RetinaFace, and the detector a model names.

Tests that need the RetinaFace weights read them from ../shared/data/pretrained and skip without them.
"""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_script
from liveness.data.sample import FACE_CENTER, FACE_WIDTH, portrait
from liveness.errors import LivenessError
from liveness.faces.detectors import create_detector, retinaface
from liveness.faces.detectors.ssd import INPUT_SIZE, MEAN_BGR, SsdDetector, letterbox
from liveness.models.metadata import resolve_detector_type

SHARED_PRETRAINED = os.path.join(os.path.dirname(ROOT), "shared", "data", "pretrained")
needs_retinaface = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(SHARED_PRETRAINED, n)) for n, _ in retinaface.FILES),
    reason="the RetinaFace files are not in ../shared/data/pretrained")


class RecordingNet:
    """Stands in for cv2.dnn's net: keeps the blob it is given and answers fixed detection rows."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, "float32")

    def setInput(self, blob, name=None):
        self.blob = blob

    def forward(self, name=None):
        return self.rows.reshape(1, 1, -1, 7)


def test_letterboxed_boxes_map_back_to_the_frame_exactly():
    frame = np.zeros((360, 640, 3), "uint8")  # landscape: the square is 640x640, padded below
    detector = SsdDetector()
    detector.net = RecordingNet([[0, 1, 0.9, 0.25, 0.125, 0.5, 0.5]])
    [(box, confidence)] = detector.detect(frame)
    assert box == (160, 80, 320, 320) and confidence == pytest.approx(0.9)
    portrait_frame = np.zeros((640, 360, 3), "uint8")  # portrait: padded on the right
    detector.net = RecordingNet([[0, 1, 0.9, 0.0625, 0.25, 0.5, 0.75]])
    assert detector.detect(portrait_frame)[0][0] == (40, 160, 320, 480)


def test_the_ssd_sees_the_frame_with_its_shape_kept_and_the_padding_as_zero():
    frame = np.zeros((360, 640, 3), "uint8")
    frame[100:200, 300:400] = 255  # a 100x100 square
    square, side = letterbox(frame)
    assert side == 640 and square.shape == (640, 640, 3) and np.array_equal(square[:360], frame)
    detector = SsdDetector()
    detector.net = RecordingNet([[0, 1, 0.0, 0, 0, 0, 0]])
    detector.detect(frame)
    blob = detector.net.blob[0]  # (3, 300, 300), the mean subtracted
    assert blob.shape == (3, INPUT_SIZE, INPUT_SIZE)
    assert np.abs(blob[:, int(INPUT_SIZE * 361 / 640):]).max() == 0  # the padding is the mean: zero to the network
    white = np.argwhere(blob[0] > 255 - MEAN_BGR[0] - 30)
    height, width = white.max(axis=0) - white.min(axis=0) + 1
    assert abs(height - width) <= 1  # the square stays square; squashed it would be 83 tall and 47 wide
    squashed = SsdDetector(squash=True)
    squashed.net = RecordingNet([[0, 1, 0.0, 0, 0, 0, 0]])
    squashed.detect(frame)
    white = np.argwhere(squashed.net.blob[0][0] > 255 - MEAN_BGR[0] - 30)
    height, width = white.max(axis=0) - white.min(axis=0) + 1
    assert height > 1.5 * width


def close_up(fill=0.9, size=(360, 640)):
    """The built-in portrait filling a 9:16 frame, as a phone selfie does, and the face's central region."""
    (w, h) = size
    scale = fill * w / FACE_WIDTH
    matrix = np.array([[scale, 0, w / 2 - scale * FACE_CENTER[0]], [0, scale, 0.42 * h - scale * FACE_CENTER[1]]])
    frame = cv2.warpAffine(portrait(), matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    half = scale * FACE_WIDTH / 2
    return frame, (w / 2 - 0.6 * half, 0.42 * h - 0.6 * half, w / 2 + 0.6 * half, 0.42 * h + 0.8 * half)


def centre_inside(box, region):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def test_a_face_filling_a_portrait_frame_is_found_on_the_face_by_the_letterboxed_ssd(record_property):
    frame, face = close_up()
    [(box, _), *_] = create_detector("ssd").detect(frame)
    assert centre_inside(box, face), (box, face)
    squashed = create_detector("ssd-squashed").detect(frame)
    on_face = bool(squashed) and centre_inside(squashed[0][0], face)
    # the tutorial's input, reported: on this close-up its most confident box has been on the chin and shirt
    record_property("squashed_ssd_box", squashed[0][0] if squashed else None)
    record_property("squashed_ssd_on_the_face", on_face)
    print(f"[INFO] squashed SSD's box {squashed[0][0] if squashed else None}: "
          f"{'on' if on_face else 'off'} the face region {tuple(round(v) for v in face)}")


def test_retinaface_rows_decode_to_the_original_integer_boxes():
    rows = [[0, 1, 0.97, 0.1015, 0.2531, 0.6093, 0.8712], [0, 1, 0.4, -0.02, 0.5, 0.3, 1.04]]
    (w, h) = (352, 640)
    faces = retinaface.decode(rows, w, h)
    for (box, confidence), row in zip(faces, rows):
        # Silent-Face's get_bbox: [int(left), int(top), int(right - left + 1), int(bottom - top + 1)]
        left, top, right, bottom = row[3] * w, row[4] * h, row[5] * w, row[6] * h
        x, y, box_w, box_h = int(left), int(top), int(right - left + 1), int(bottom - top + 1)
        assert box == (x, y, x + box_w - 1, y + box_h - 1) and confidence == pytest.approx(row[2])
    assert faces[0][0] == (35, 161, 213, 556)  # left 35.7, right 214.5: width int(179.7) = 179


def test_retinaface_input_keeps_the_aspect_at_about_192_pixels_squared():
    assert retinaface.input_size(100, 80) == (100, 80)  # smaller frames go in as they are
    w, h = retinaface.input_size(1920, 1080)
    assert abs(w / h - 1920 / 1080) < 0.01 and abs(w * h - 192 * 192) < 400
    w, h = retinaface.input_size(352, 640)
    assert w < h and abs(w * h - 192 * 192) < 400


@needs_retinaface
def test_retinaface_finds_the_face_of_a_close_up_and_of_a_small_frame(face_frame):
    detector = create_detector("retinaface", SHARED_PRETRAINED)
    frame, face = close_up()
    [(box, confidence), *_] = detector.detect(frame)
    assert centre_inside(box, face) and confidence > 0.9
    faces = detector.detect(face_frame)
    assert len(faces) == 1 and faces[0][1] > 0.5
    assert detector.detect(np.full((240, 320, 3), 128, "uint8")) == []


def test_missing_or_corrupt_retinaface_files_give_one_line_naming_the_fetch_command(clips, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "out", "--detector-type", "retinaface",
                        "--detector", empty)
    assert_one_line_error(result, "python -m liveness.pretrained")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name, _ in retinaface.FILES:
        (corrupt / name).write_bytes(b"layer { this is not a network")
    with pytest.raises(LivenessError, match="python -m liveness.pretrained"):
        create_detector("retinaface", str(corrupt))
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", tmp_path / "out", "--detector-type", "retinaface",
                        "--detector", corrupt)
    assert_one_line_error(result, "python -m liveness.pretrained")
    assert not (tmp_path / "out").exists()


def test_the_detector_type_comes_from_the_flag_then_the_model_then_the_ssd(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"")
    assert resolve_detector_type(None, str(model)) == ("ssd", "the default: the model names none")
    (tmp_path / "m.keras.json").write_text(json.dumps({"detector": "retinaface"}))
    kind, source = resolve_detector_type(None, str(model))
    assert kind == "retinaface" and "named by the model" in source
    assert resolve_detector_type("haar", str(model)) == ("haar", "--detector-type")
    (tmp_path / "m.keras.json").write_text(json.dumps({"detector": "yolo"}))
    with pytest.raises(LivenessError, match="yolo"):
        resolve_detector_type(None, str(model))


def test_the_detector_a_model_names_is_the_one_the_demo_and_evaluation_use_and_the_flag_wins(trained, eval_set,
                                                                                           clips, tmp_path):
    model = tmp_path / "liveness.keras"
    shutil.copy(trained["model"], model)
    (tmp_path / "liveness.keras.json").write_text(json.dumps({"detector": "haar"}))
    demo = run_script("liveness_demo.py", "-m", model, "-l", trained["le"], "-i", clips["real"], "--no-display",
                      "-o", tmp_path / "annotated.mp4")
    assert demo.returncode == 0, demo.stderr
    assert "[INFO] face detector: haar (named by the model" in demo.stdout
    evaluation = run_script("evaluate_liveness.py", "-m", model, "-l", trained["le"], "--dataset", eval_set,
                            "-o", tmp_path / "eval", "--detector-type", "ssd")
    assert evaluation.returncode == 0, evaluation.stderr
    assert "[INFO] face detector: ssd (--detector-type)" in evaluation.stdout
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["detector"] == "ssd"


def test_gather_names_its_detector_in_the_manifest_and_training_reads_it_back(clips, tmp_path):
    import csv

    from liveness.common.provenance import detector_of

    out = tmp_path / "haar"
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", out, "--detector-type", "haar", "-s", 4)
    assert result.returncode == 0, result.stderr
    assert "with the haar detector (--detector-type)" in result.stdout
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["detector"] for r in rows} == {"haar"}
    rois = sorted(str(p) for p in out.glob("*.png"))
    assert detector_of(rois) == "haar"
    # a manifest from before the column keeps its columns, and names no detector
    old = tmp_path / "old"
    old.mkdir()
    header = "file,source,frame,startX,startY,endX,endY,confidence\n"
    (old / "manifest.csv").write_text(header + f"a.png,{clips['real']},0,1,1,20,20,0.9\n")
    result = run_script("gather_examples.py", "-i", clips["real"], "-o", old, "-s", 4)
    assert result.returncode == 0, result.stderr
    lines = (old / "manifest.csv").read_text().splitlines()
    assert lines[0] + "\n" == header and all(len(line.split(",")) == 8 for line in lines[1:])
    assert detector_of([str(old / "a.png")]) is None
    assert detector_of(rois + [str(old / "a.png")]) is None  # two answers: none recorded


@needs_retinaface
def test_the_pretrained_command_takes_retinaface_from_the_folder_and_the_model_names_it(tmp_path):
    import subprocess
    import sys

    def run_module(module, *args):
        return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)

    partial = tmp_path / "only_the_networks"
    partial.mkdir()
    for name in ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"):
        (partial / name).symlink_to(os.path.join(SHARED_PRETRAINED, name))
    out = tmp_path / "out"
    result = run_module("liveness.pretrained", "--from", partial, "-m", out / "m.keras", "-l", out / "le.pickle",
                        "-d", out / "retinaface")
    assert_one_line_error(result, "Widerface-RetinaFace.caffemodel", "--from")
    assert not (out / "m.keras").exists()
    result = run_module("liveness.pretrained", "--from", SHARED_PRETRAINED, "-m", out / "m.keras", "-l",
                        out / "le.pickle", "-d", out / "retinaface", "--no-export")  # the export is test_export's
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "retinaface").iterdir()) == sorted(n for n, _ in retinaface.FILES)
    metadata = json.loads((out / "m.keras.json").read_text())
    assert metadata["detector"] == "retinaface" and metadata["detector_sources"] == dict(retinaface.FILES)


@pytest.mark.parametrize("height,width", [(2, 2), (1, 100), (100, 1), (1, 40000), (15, 15), (20, 40000)])
def test_tiny_and_strip_frames_have_no_face_and_cost_no_gigabytes(height, width):
    from liveness.faces.detectors import create_detector

    frame = np.full((height, width, 3), 128, "uint8")
    for kind in ("ssd", "ssd-squashed", "haar"):
        assert create_detector(kind).detect(frame) == []


def test_retinaface_skips_the_non_finite_boxes_it_answers_for_a_tiny_picture():
    from liveness.faces.detectors.retinaface import decode, input_size

    rows = np.array([[0, 1, 0.9, np.inf, 0.1, 0.5, 0.5], [0, 1, 0.8, 0.1, 0.1, 0.5, 0.5]], "float32")
    assert [confidence for _, confidence in decode(rows, 100, 100)] == [pytest.approx(0.8)]
    assert min(input_size(40000, 1000)) >= 16  # never a side of under one pixel
