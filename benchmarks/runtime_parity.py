"""LiteRT exports against their Keras models: the same probabilities, the same decisions.

    python benchmarks/runtime_parity.py --models pretrained/minifasnet.keras ../shared/data/legacy/liveness.model \
        output/cross_person/fold0_without_subjA/liveness.keras ...

For each model (with its label encoder beside it as le.pickle, or the pretrained/legacy one): it is
exported to a temporary folder with liveness.models.export, both are loaded as the commands load them, and
both score the same faces: for the pair, the 34 parity faces of ../shared/data/pretrained/parity.npz;
for every model, --faces faces of the pool's videos (every --every-th frame, the model's own face
detector, the model's own crop). It prints the largest absolute probability difference, which must be
at most 1e-5, and the decisions at the model's threshold, which must all agree.
"""
import argparse
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.faces.media import list_media, read_frames  # noqa: E402
from liveness.quiet import import_tensorflow  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
LIMIT = 1e-5


def label_encoder_of(model):
    for candidate in (os.path.join(os.path.dirname(model), "le.pickle"), os.path.splitext(model)[0] + ".pickle"):
        if os.path.isfile(candidate):
            return candidate
    raise LivenessError(f"no le.pickle beside {model}")


def pool_faces(classifier, detector, videos, count, every):
    """ROIs of up to `count` faces from the pool's videos, cut as `classifier` sees them."""
    rois = []
    paths = [p for p in list_media(videos)]
    per_video = max(1, count // max(1, len(paths)))
    for path in paths:
        taken = 0
        for _, frame in read_frames(path, select=lambda i: i % every == 0):
            if frame is None:
                continue
            faces = detector.detect(frame)
            if faces:
                rois.append(classifier.crop(frame, faces[0][0]))
                taken += 1
            if taken >= per_video:
                break
    return rois[:count]


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="Keras models, each with le.pickle beside it")
    ap.add_argument("--videos", default=os.path.join(SHARED, "videos"))
    ap.add_argument("--parity", default=os.path.join(SHARED, "pretrained", "parity.npz"))
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--every", type=int, default=5)
    args = ap.parse_args()
    import_tensorflow()
    from liveness.faces.crops import Crop
    from liveness.faces.detectors import create_detector
    from liveness.models.classifier import LivenessClassifier
    from liveness.models.export import export
    from liveness.models.labels import load_label_encoder
    from liveness.models.lite import LiteModel
    from liveness.models.metadata import read_metadata, resolve_detector_type, resolve_threshold
    from liveness.models.model_io import load_model

    rows, ok = [], True
    for path in args.models:
        le = load_label_encoder(label_encoder_of(path))
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, os.path.basename(path))
            shutil.copy(path, copy)
            if os.path.isfile(path + ".json"):
                shutil.copy(path + ".json", copy + ".json")
            exported = export(copy, os.path.join(folder, "export.tflite"))
            threshold, _ = resolve_threshold(path)
            crop = Crop.from_metadata(read_metadata(path))
            keras_side = LivenessClassifier(load_model(path), le, threshold=threshold, crop=crop)
            lite_side = LivenessClassifier(LiteModel(exported), le, threshold=threshold, crop=crop)
            detector = create_detector(resolve_detector_type(None, path)[0])
            sets = {"pool": pool_faces(keras_side, detector, args.videos, args.faces, args.every)}
            if crop == Crop((2.7, 4.0), "shift") and os.path.isfile(args.parity):
                parity = np.load(args.parity)
                sets["parity.npz"] = list(np.concatenate([parity["crop27"], parity["crop40"]], axis=3))
            for name, rois in sets.items():
                a, b = keras_side.predict(rois), lite_side.predict(rois)
                worst = float(np.abs(a - b).max())
                same = sum(keras_side.label(p)[0] == lite_side.label(q)[0] for p, q in zip(a, b))
                passed = worst <= LIMIT and same == len(rois)
                ok &= passed
                rows.append(f"| {path} | {name} | {len(rois)} | {worst:.2e} | {same}/{len(rois)} | "
                            f"{'PASS' if passed else 'FAIL'} |")
                print(rows[-1], flush=True)
    print(f"[INFO] LiteRT export against Keras, largest absolute probability difference (limit {LIMIT:g}), "
          "decisions at each model's threshold:")
    print("| model | faces from | faces | largest difference | same decision | |\n| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
