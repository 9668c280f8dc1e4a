"""Export a liveness model for serving without TensorFlow: python -m liveness.export MODEL [-o OUT]

    python -m liveness.export liveness.keras                  # writes liveness.tflite and liveness.tflite.json
    python -m liveness.export pretrained/minifasnet.keras     # the pair
    python -m liveness.export liveness.model                  # the tutorial's Keras 2 model

Any model every command loads (.keras, Keras 3 HDF5, the tutorial's Keras 2 HDF5) is converted by
TensorFlow's own TFLite converter, with a free batch size, in float32: the probabilities stay the
Keras model's (benchmarks/runtime_parity.py). The model's metadata (crop, input size, detector,
threshold) goes with it, with the SHA-256 of the file it came from, so that commands given the
Keras file serve the export only while it is that file's, and its own SHA-256, so that an export replaced
afterwards is refused (liveness.common.integrity).
"""
import argparse
import hashlib
import json
import os
import sys

from liveness.common.atomic import check_writable, write_bytes
from liveness.common.digests import file_sha256
from liveness.errors import LivenessError, exit_on_error, one_line
from liveness.models.lite import export_path
from liveness.models.metadata import metadata_path, read_metadata
from liveness.quiet import add_verbose_argument, import_tensorflow

RUNTIME = "litert"


def convert(model):
    """The TFLite flatbuffer of a Keras model, its batch size left free (LiteModel resizes it per call)."""
    import contextlib
    import io

    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # Keras lists the SavedModel it writes on the way: not for users
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def export(model_path, output=None, model=None):
    """Write the export of `model_path` (loaded unless `model` is given) and its metadata; returns its path."""
    from liveness.models.model_io import load_model

    output = output or export_path(model_path)
    if os.path.abspath(output) == os.path.abspath(model_path):
        raise LivenessError(f"the export would overwrite {model_path}; give -o OUT.tflite")
    model = model if model is not None else load_model(model_path)
    try:
        flatbuffer = convert(model)
    except Exception as error:
        raise LivenessError(f"cannot convert {model_path} for LiteRT: {one_line(error)}") from None
    metadata = {**read_metadata(model_path), "runtime": RUNTIME, "sha256": hashlib.sha256(flatbuffer).hexdigest(),
                "exported_from": {"file": os.path.abspath(model_path), "sha256": file_sha256(model_path)}}
    write_bytes(output, flatbuffer)
    write_bytes(metadata_path(output), (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode())
    return output


@exit_on_error
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="the liveness model (.keras, HDF5, or the tutorial's liveness.model)")
    ap.add_argument("-o", "--output", default=None, help="the .tflite file (default: beside the model, same name)")
    add_verbose_argument(ap)
    args = ap.parse_args(argv)
    if not os.path.isfile(args.model):
        raise LivenessError(f"model not found: {args.model}")
    output = check_writable(args.output or export_path(args.model), "--output")
    print(f"[INFO] converting {args.model} for LiteRT...")
    import_tensorflow(args.verbose)
    written = export(args.model, output)
    print(f"[INFO] wrote {written} ({os.path.getsize(written) / 1e6:.1f} MB) and {metadata_path(written)}; the demo, "
          "evaluation and the service now serve it without TensorFlow")


if __name__ == "__main__":
    sys.exit(main())
