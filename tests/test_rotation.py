"""Phone videos stored sideways with a rotation flag give upright frames and ROIs."""
import struct

import numpy as np

from conftest import run_script
from liveness.data.sample import real_frames, write_video
from liveness.faces.detectors import create_detector
from liveness.faces.media import read_frames

CLOCKWISE_90 = (0, 65536, 0, -65536, 0, 0, 0, 0, 0x40000000)  # the tkhd display matrix, 16.16 and 2.30 fixed point


def write_rotated_clip(path, upright):
    """The frames stored sideways, as a phone held upright stores them, with the flag that turns them back."""
    write_video(str(path), (np.ascontiguousarray(np.rot90(f, 1)) for f in upright))
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    (size,) = struct.unpack(">I", data[at - 4:at])
    matrix = at - 4 + size - 8 - 36  # the matrix is the 36 bytes before the box's closing width and height
    data[matrix:matrix + 36] = struct.pack(">9i", *CLOCKWISE_90)
    path.write_bytes(bytes(data))


def test_a_sideways_phone_clip_is_read_upright(tmp_path):
    upright = list(real_frames(4, (240, 320)))
    clip = tmp_path / "subjP_real.mp4"
    write_rotated_clip(clip, upright)
    frames = [f for _, f in read_frames(str(clip))]
    assert len(frames) == 4 and all(f.shape == upright[0].shape for f in frames)
    assert all(np.abs(f.astype(int) - u.astype(int)).mean() < 12 for f, u in zip(frames, upright))


def test_gathering_a_sideways_clip_saves_upright_faces(tmp_path):
    upright = list(real_frames(4, (240, 320)))
    clip = tmp_path / "subjP_real.mp4"
    write_rotated_clip(clip, upright)
    result = run_script("gather_examples.py", "-i", clip, "-o", tmp_path / "rois", "-s", 1)
    assert result.returncode == 0, result.stderr
    detector = create_detector("ssd")
    rois = sorted((tmp_path / "rois").glob("*.png"))
    assert len(rois) == 4
    import cv2

    for roi_path, frame in zip(rois, upright):
        (x0, y0, x1, y1), _ = detector.detect(frame)[0]
        roi = cv2.imread(str(roi_path))
        assert abs(roi.shape[0] - (y1 - y0)) <= 8 and abs(roi.shape[1] - (x1 - x0)) <= 8  # the upright face's box
        assert roi.shape[0] > roi.shape[1] * 0.9  # a face stands taller than it is wide, not lying on its side
