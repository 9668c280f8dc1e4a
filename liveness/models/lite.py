"""Serving a liveness model without TensorFlow: its LiteRT (TensorFlow Lite) export, run by `ai-edge-litert`.

`python -m liveness.export MODEL` (or training, or `python -m liveness.pretrained`) writes
<model stem>.tflite beside the model and <that>.json with the model's metadata (crop, detector,
threshold) and the SHA-256 of the file it was exported from. The demo, evaluation and the service's
scorers then load the export instead of the Keras file, when it is given as --model or when it is
beside the given model and was exported from that very file, and never import TensorFlow.

Why LiteRT and not ONNX Runtime: both gave the Keras model's probabilities (largest difference 1.5e-8
and 1.2e-7 on the pair), but LiteRT loaded the pair in 15 ms against 290 ms and held 75 MB against
184 MB, and its converter is TensorFlow's own, where tf2onnx is one more dependency (docs/runtime.md).
"""
import os
import threading

import numpy as np

from liveness.common.digests import current_sha256
from liveness.errors import LivenessError, one_line
from liveness.models.metadata import read_metadata

EXTENSION = ".tflite"
REEXPORT = "re-export it with: python -m liveness.export MODEL"


def export_path(model_path):
    """Where the export of `model_path` goes: the same name with .tflite (liveness.keras -> liveness.tflite)."""
    return os.path.splitext(model_path)[0] + EXTENSION


def is_export(path):
    return path.lower().endswith(EXTENSION)


def current_export(model_path):
    """The export to serve for --model `model_path`: the path itself if it is one, else an export beside it
    made from this very file (its SHA-256 recorded at export), else None. An export whose own bytes are not
    the ones recorded when it was written is refused in one line, never served."""
    model_path = str(model_path)
    if is_export(model_path):  # given as it is: checked against what its metadata recorded, if anything
        return check_export(model_path, model_path) if read_metadata(model_path).get("sha256") else model_path
    candidate = export_path(model_path)
    if candidate == model_path or not os.path.isfile(candidate) or not os.path.isfile(model_path):
        return None
    recorded = read_metadata(candidate).get("exported_from", {}).get("sha256")
    return check_export(candidate, model_path) if recorded == current_sha256(model_path) else None


def check_export(path, model_path):
    """`path` if its SHA-256 is the one its metadata recorded at export; a one-line refusal otherwise."""
    recorded = read_metadata(path).get("sha256")
    if recorded != current_sha256(path):
        source = model_path if model_path != path else read_metadata(path).get("exported_from", {}).get("file", "MODEL")
        why = "records no SHA-256 of its own (exported before exports did)" if recorded is None else \
            "is not the file that was exported (its SHA-256 is not the one recorded at export)"
        raise LivenessError(f"{path} {why}: remake it with python -m liveness.export {source}")
    return path


def uses_tensorflow(model_path):
    """Whether loading --model `model_path` needs TensorFlow (no current export to serve instead)."""
    return current_export(model_path) is None


class LiteModel:
    """A .tflite liveness model with the little of a Keras model's interface the classifier uses."""

    def __init__(self, path):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise LivenessError(f"{path} needs the LiteRT runtime: pip install ai-edge-litert") from None
        if not os.path.isfile(path):
            raise LivenessError(f"exported model not found: {path}")
        from liveness.quiet import stderr_silenced

        try:
            with stderr_silenced():  # LiteRT's C++ side announces its CPU delegate there: not for users
                self.interpreter = Interpreter(model_path=path, num_threads=1)
                self.interpreter.allocate_tensors()
            (self.input,), (self.output,) = (self.interpreter.get_input_details(),
                                             self.interpreter.get_output_details())
        except (ValueError, RuntimeError) as error:
            raise LivenessError(f"cannot load the exported model {path}: {one_line(error)}; {REEXPORT}") from None
        except Exception as error:  # a wrong number of inputs or outputs: not a liveness model
            raise LivenessError(f"{path} is not a liveness model export ({one_line(error)}); {REEXPORT}") from None
        shape = tuple(int(v) for v in self.input["shape"])
        if len(shape) != 4 or len(self.output["shape"]) != 2:
            raise LivenessError(f"{path} takes {shape} and gives {tuple(self.output['shape'])}: not a liveness model "
                                f"(images in, class probabilities out); {REEXPORT}")
        self.input_shape = (None, *shape[1:])
        self.output_shape = (None, int(self.output["shape"][1]))
        self.batch = shape[0]
        self.lock = threading.Lock()  # an interpreter runs one call at a time

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype="float32")
        with self.lock:
            if batch.shape[0] != self.batch:
                self.interpreter.resize_tensor_input(self.input["index"], batch.shape)
                self.interpreter.allocate_tensors()
                self.batch = batch.shape[0]
            self.interpreter.set_tensor(self.input["index"], batch)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.output["index"]).copy()

    predict = __call__
