"""The second pretrained network: face-antispoof-onnx, trained elsewhere (CelebA-Spoof), served from its LiteRT export.

It sees a face its own way, as its project crops it: a square 1.5 times the box's longer side,
reflected where it leaves the frame, at 128x128, RGB in [0, 1], channels first. It answers two
logits, [real, spoof]; their difference is its liveness logit.
"""
import os

import cv2
import numpy as np

from liveness.errors import LivenessError, one_line

NAME = "best_model.onnx"
HOME = "https://github.com/johnraivenolazo/face-antispoof-onnx"
URL = f"{HOME}/raw/2b9830b/models/best/98.20/"  # the commit the file was published at
SHA256 = "af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6"
LICENSE = "Apache-2.0"
SCALE, SIZE = 1.5, 128


def square(box, scale=SCALE):
    """(x, y, side): the square the network sees of a face box, `scale` times its longer side around its centre
    (it may leave the frame)."""
    (start_x, start_y, end_x, end_y) = box
    side = max(1, int(max(end_x - start_x, end_y - start_y) * scale))
    return int((start_x + end_x) / 2 - side / 2), int((start_y + end_y) / 2 - side / 2), side


def crop(frame, box, scale=SCALE, size=SIZE):
    """The network's (3, size, size) float32 input for the face in `box` of a BGR frame."""
    x, y, side = square(box, scale)
    height, width = frame.shape[:2]
    inside = frame[max(0, y):min(height, y + side), max(0, x):min(width, x + side)]
    if inside.size == 0:
        inside = np.zeros((1, 1, 3), frame.dtype)
    padded = cv2.copyMakeBorder(inside, max(0, -y), max(0, y + side - height), max(0, -x),
                                max(0, x + side - width), cv2.BORDER_REFLECT_101)
    padded = cv2.resize(padded, (size, size), interpolation=cv2.INTER_LANCZOS4 if size > side else cv2.INTER_AREA)
    return cv2.cvtColor(padded, cv2.COLOR_BGR2RGB).transpose(2, 0, 1).astype("float32") / 255.0


class SecondNetwork:
    """The network's liveness logits (real minus spoof) for a batch of crops: from its LiteRT export where one
    beside the ONNX file was exported from it (`python -m liveness.export best_model.onnx`; rebuilt by
    liveness.models.onnx_graph), else on ONNX Runtime. Either runs on one thread: a scoring process is one
    of several, each on a core of its own."""

    def __init__(self, path):
        from liveness.models.lite import LiteModel, current_export

        if not os.path.isfile(path):
            raise LivenessError(f"cannot load the ONNX network {path}: not found")
        export = current_export(str(path))
        if export:
            self.model, self.runtime = LiteModel(export), f"LiteRT ({export})"
        else:
            self.model, self.runtime = OnnxSession(path), "ONNX Runtime"
        shape = self.model.output_shape
        if len(shape) != 2 or shape[1] != 2:
            raise LivenessError(f"{path} answers {shape}, not two logits [real, spoof] a face")

    def __call__(self, crops):
        if len(crops) == 0:
            return np.zeros(0, "float32")
        logits = self.model(np.stack(crops))
        return logits[:, 0] - logits[:, 1]


class OnnxSession:
    """An ONNX Runtime session on one thread, called like a LiteModel."""

    def __init__(self, path):
        try:
            import onnxruntime
        except ImportError:
            raise LivenessError(f"{path} has no LiteRT export beside it and ONNX Runtime is not installed: export "
                                f"it with python -m liveness.export {path} (or pip install onnxruntime)") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are not the user's business
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a missing or broken file
            raise LivenessError(f"cannot load the ONNX network {path}: {one_line(error)}") from None
        self.input = self.session.get_inputs()[0].name
        self.output_shape = tuple(self.session.get_outputs()[0].shape)

    def __call__(self, batch):
        return self.session.run(None, {self.input: np.ascontiguousarray(batch, dtype="float32")})[0]
