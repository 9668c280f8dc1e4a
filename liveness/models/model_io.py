"""Loading and saving liveness models, whatever Keras wrote them.

Formats are told apart by content, not by name, so the original tutorial's
`--model liveness.model` keeps working: Keras 3 `.keras` archives (zip), HDF5
from Keras 3, and HDF5 from Keras 2 (read by liveness.models.legacy). A LiteRT export
(liveness.models.lite), given as --model or current beside it, is loaded instead of
the Keras file, without importing Keras or TensorFlow.
"""
import os
import tempfile
import zipfile

from liveness.common.atomic import atomic_path
from liveness.errors import LivenessError, one_line
from liveness.models.labels import read_classes
from liveness.models.lite import LiteModel, current_export
from liveness.models.metadata import read_metadata, resolve_threshold


def prepare_runtime(model_path, verbose=False):
    """What --model `model_path` runs on, said in words: its current LiteRT export (nothing more to import),
    else TensorFlow, imported here, quietly unless `verbose`."""
    from liveness.models.fusion import is_fusion, read_fusion

    if is_fusion(model_path):
        model, second, _ = read_fusion(model_path)
        first = prepare_runtime(model, verbose)
        served = current_export(second)
        return f"{first}; the second network on {f'LiteRT ({served})' if served else 'ONNX Runtime'}"
    export = current_export(model_path)
    if export:
        return f"LiteRT ({export}), no TensorFlow"
    from liveness.quiet import import_tensorflow

    import_tensorflow(verbose)
    return "TensorFlow (no current LiteRT export: python -m liveness.export MODEL makes one)"


def files_deciding(model_path):
    """The files whose bytes decide the scores of --model `model_path`: the model (or fusion file and every
    part it pins), its metadata, and the LiteRT export that serves it with the export's metadata."""
    from liveness.models.fusion import is_fusion, parts_of, read_fusion
    from liveness.models.metadata import metadata_path

    if is_fusion(model_path):
        return [model_path, *parts_of(*read_fusion(model_path)[:2])]
    export = current_export(model_path)
    paths = [model_path, metadata_path(model_path)] + ([export, metadata_path(export)] if export else [])
    return [p for p in dict.fromkeys(paths) if os.path.isfile(p)]


def _load_by_extension(path, extension):
    """keras.models.load_model insists on an extension; give it one through a link."""
    import keras

    from liveness.models import layers as _registered_layers  # noqa: F401  (custom layers a saved model may use)

    if path.lower().endswith(extension):
        return keras.models.load_model(path, compile=False)
    with tempfile.TemporaryDirectory() as folder:
        link = os.path.join(folder, "model" + extension)
        os.symlink(os.path.abspath(path), link)
        return keras.models.load_model(link, compile=False)


def load_model(path):
    """A Keras model from `path` (.keras, Keras 3 HDF5, or Keras 2 HDF5), for inference."""
    import h5py

    from liveness.models.legacy import is_keras2_hdf5, load_keras2_hdf5

    if not os.path.isfile(path):
        raise LivenessError(f"model not found: {path}" if not os.path.isdir(path) else
                            f"{path} is a folder (a TensorFlow SavedModel?); expected a .keras or HDF5 model file")
    if path.lower().endswith(".onnx"):  # the second network: rebuilt in Keras from its own graph, to be exported
        from liveness.models.onnx_graph import keras_from_onnx

        return keras_from_onnx(path)
    try:
        if is_keras2_hdf5(path):
            return load_keras2_hdf5(path)
        if h5py.is_hdf5(path):
            return _load_by_extension(path, ".h5")
        if zipfile.is_zipfile(path):
            return _load_by_extension(path, ".keras")
    except LivenessError:
        raise
    except Exception as error:
        raise LivenessError(f"cannot load model {path}: {one_line(error)}") from None
    raise LivenessError(f"{path} is not a Keras model file (.keras or HDF5)")


def save_model(model, path):
    """Save atomically; `.keras` names get the Keras 3 format, any other name HDF5 (as the original did)."""
    extension = ".keras" if path.lower().endswith(".keras") else ".h5"
    with atomic_path(path) as tmp:
        # keras decides the format from the name, so the temporary file carries the right one
        named = tmp if tmp.lower().endswith(extension) else tmp + extension
        model.save(named)
        if named != tmp:
            os.replace(named, tmp)


def load_model_and_labels(model_path, le_path):
    """The model (its current LiteRT export where there is one) and its label encoder's class names, checked to
    agree on their number."""
    export = current_export(model_path)
    model = LiteModel(export) if export else load_model(model_path)
    classes = read_classes(le_path)
    outputs = model.output_shape[-1]
    if outputs != len(classes):
        raise LivenessError(f"model {model_path} has {outputs} outputs but {le_path} names "
                            f"{len(classes)} classes ({', '.join(map(str, classes))})")
    return model, classes


def load_classifier(model_path, le_path, bona_fide="real", threshold=None):
    """(LivenessClassifier, where its threshold came from), set up the way the model was trained.

    The crop (scales and rule) comes from the model's metadata (the tight face
    box for models without any, such as the original tutorial's); the input size from
    the model itself; the threshold from `threshold`, else calibration, else 0.5.
    """
    from liveness.faces.crops import Crop
    from liveness.models.classifier import LivenessClassifier
    from liveness.models.fusion import is_fusion, load_fusion

    if is_fusion(model_path):
        return load_fusion(model_path, le_path, bona_fide, threshold)
    model, classes = load_model_and_labels(model_path, le_path)
    threshold, source = resolve_threshold(model_path, threshold)
    crop = Crop.from_metadata(read_metadata(model_path))
    return LivenessClassifier(model, classes, bona_fide, threshold, crop), source
