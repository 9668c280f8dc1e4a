"""The second pretrained network: face-antispoof-onnx, trained elsewhere (CelebA-Spoof), run on ONNX Runtime.

It sees a face its own way, as its project crops it: a square 1.5 times the box's longer side,
reflected where it leaves the frame, at 128x128, RGB in [0, 1], channels first. It answers two
logits, [real, spoof]; their difference is its liveness logit.
"""
import cv2
import numpy as np

from liveness.errors import LivenessError, one_line

NAME = "best_model.onnx"
HOME = "https://github.com/johnraivenolazo/face-antispoof-onnx"
URL = f"{HOME}/raw/2b9830b/models/best/98.20/"  # the commit the file was published at
SHA256 = "af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6"
LICENSE = "Apache-2.0"
SCALE, SIZE = 1.5, 128


def crop(frame, box, scale=SCALE, size=SIZE):
    """The network's (3, size, size) float32 input for the face in `box` of a BGR frame."""
    (start_x, start_y, end_x, end_y) = box
    side = max(1, int(max(end_x - start_x, end_y - start_y) * scale))
    x, y = int((start_x + end_x) / 2 - side / 2), int((start_y + end_y) / 2 - side / 2)
    height, width = frame.shape[:2]
    inside = frame[max(0, y):min(height, y + side), max(0, x):min(width, x + side)]
    if inside.size == 0:
        inside = np.zeros((1, 1, 3), frame.dtype)
    square = cv2.copyMakeBorder(inside, max(0, -y), max(0, y + side - height), max(0, -x),
                                max(0, x + side - width), cv2.BORDER_REFLECT_101)
    square = cv2.resize(square, (size, size), interpolation=cv2.INTER_LANCZOS4 if size > side else cv2.INTER_AREA)
    return cv2.cvtColor(square, cv2.COLOR_BGR2RGB).transpose(2, 0, 1).astype("float32") / 255.0


class SecondNetwork:
    """An ONNX Runtime session of the network: liveness logits (real minus spoof) for a batch of crops."""

    def __init__(self, path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a missing or broken file
            raise LivenessError(f"cannot load the ONNX network {path}: {one_line(error)}") from None
        self.input = self.session.get_inputs()[0].name
        shape = self.session.get_outputs()[0].shape
        if len(shape) != 2 or shape[1] != 2:
            raise LivenessError(f"{path} answers {shape}, not two logits [real, spoof] a face")

    def __call__(self, crops):
        if len(crops) == 0:
            return np.zeros(0, "float32")
        logits = self.session.run(None, {self.input: np.stack(crops)})[0]
        return logits[:, 0] - logits[:, 1]
