"""Make the pretrained MiniFASNet pair into a model every command loads: python -m liveness.pretrained

    python -m liveness.pretrained                        # downloads both networks and their face detector
    python -m liveness.pretrained --from ~/Downloads     # takes local copies instead (no network)

The two PyTorch files come from Minivision's Silent-Face-Anti-Spoofing project
(Apache License 2.0). Each is checked against its SHA-256 before anything is
read from it, converted without PyTorch and without running pickled code
(liveness.models.torch_state), and the pair is saved as one Keras model with its
le.pickle and its crop rule (liveness.faces.crops: scales 2.7 and 4.0, shifted)
beside it. The original's three classes become two: real = its class 1,
fake = its classes 0 and 2. The same project's RetinaFace face detector, whose
boxes the pair was trained on, comes too (checked the same way, into
face_detector/retinaface/), and the model's metadata names it, so every
command finds faces for the pair the way the pair learned them.

The second network, face-antispoof-onnx (Apache License 2.0, trained on CelebA-Spoof),
comes too, checked the same way, and pretrained/minifasnet_fused.fusion fuses the
two on logits (liveness.models.fusion) at the weight that leave-one-person-out chose on
../shared/data (benchmarks/pool_heads.py): the recommended model.
"""

import argparse
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request

from liveness.common.atomic import atomic_path
from liveness.common.digests import file_sha256
from liveness.errors import LivenessError, exit_on_error
from liveness.faces.detectors import retinaface
from liveness.models import second_network
from liveness.quiet import add_verbose_argument, import_tensorflow

HOME = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
RAW = "https://raw.githubusercontent.com/minivision-ai/Silent-Face-Anti-Spoofing/master/resources/anti_spoof_models/"
LICENSE = "Apache-2.0"
# (file name, network, SHA-256 of the published file)
NETWORKS = (
    ("2.7_80x80_MiniFASNetV2.pth", "v2", "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0"),
    ("4_0_0_80x80_MiniFASNetV1SE.pth", "v1se", "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990"),
)
DEFAULT_DIR = "pretrained"
# the second network's weight in the fusion: chosen by LOPO over the 20 persons of ../shared/data
# (benchmarks/pool_heads.py, recipe fusion-pair-second; nested-LOPO ACER 0.0501 against the pair's 0.0742), and
# kept over 28 groups: the weight chosen again (0.1), test-time views, crops and detector settings did not beat it
# under nested LOPO (benchmarks/groups.py; docs/accuracy.md)
FUSION_WEIGHT = 0.3


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", metavar="DIR", default=None,
                    help="folder holding the two .pth files (default: download them)")
    ap.add_argument("-m", "--model", default=os.path.join(DEFAULT_DIR, "minifasnet.keras"),
                    help="where to write the model (default: pretrained/minifasnet.keras)")
    ap.add_argument("-l", "--le", default=os.path.join(DEFAULT_DIR, "le.pickle"),
                    help="where to write its label encoder (default: pretrained/le.pickle)")
    ap.add_argument("--cache", default=DEFAULT_DIR, help="where downloaded .pth files are kept (default: pretrained/)")
    ap.add_argument("--fusion", default=None,
                    help="where to write the fusion with the second network (default: minifasnet_fused.fusion beside "
                         "--model; its ONNX network goes beside it)")
    ap.add_argument("-d", "--detector", default=None,
                    help="where the RetinaFace face detector's two files go (default: face_detector/retinaface/)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the download server")
    ap.add_argument("--no-export", action="store_true",
                    help="skip the LiteRT export beside the model (served without TensorFlow; about a minute on 2 cores)")
    add_verbose_argument(ap)
    return ap.parse_args(argv)


def verified(path, expected):
    """`path` if its SHA-256 is `expected`; a one-line refusal otherwise."""
    actual = file_sha256(path)
    if actual != expected:
        raise LivenessError(f"{path} has SHA-256 {actual}, not the published {expected}: refusing it")
    return path


def offline_hint():
    names = ", ".join([RAW + name for name, _, _ in NETWORKS] + [retinaface.RAW + name for name, _ in retinaface.FILES]
                      + [second_network.URL + second_network.NAME])
    return (f"download {names} by hand (from {HOME}, resources/anti_spoof_models/ and resources/detection_model/, "
            f"and {second_network.HOME}) into one folder, "
            "then run: python -m liveness.pretrained --from FOLDER")


def download(name, expected, cache, timeout, base=RAW):
    """The published file in `cache`, downloaded from `base` unless a verified copy is there already."""
    target = os.path.join(cache, name)
    if os.path.isfile(target) and file_sha256(target) == expected:
        print(f"[INFO] {name}: verified copy in {cache}")
        return target
    os.makedirs(cache, exist_ok=True)
    print(f"[INFO] downloading {base + name}...")
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(base + name, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        verified(partial, expected)
        os.replace(partial, target)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise LivenessError(f"cannot download {name} ({reason}); {offline_hint()}") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def local_copy(name, expected, folder):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise LivenessError(f"{path} not found; {offline_hint()}")
    return verified(path, expected)


def install_retinaface(args):
    """The RetinaFace files, verified, in --detector (default face_detector/retinaface/); returns that folder."""
    target = args.detector or retinaface.FOLDER
    os.makedirs(target, exist_ok=True)
    for name, digest in retinaface.FILES:
        if args.source is None:
            download(name, digest, target, args.timeout, base=retinaface.RAW)
            continue
        source = local_copy(name, digest, args.source)
        destination = os.path.join(target, name)
        if os.path.abspath(source) != os.path.abspath(destination):
            with atomic_path(destination) as tmp:
                shutil.copyfile(source, tmp)
    return target


def install_second(args, folder):
    """The second network's ONNX file, verified, in `folder` (beside the fusion); returns its path."""
    name, digest = second_network.NAME, second_network.SHA256
    if args.source is None:
        return download(name, digest, folder, args.timeout, base=second_network.URL)
    # ../shared/data/pretrained keeps it in a folder of its own
    inside = os.path.join(args.source, "face-antispoof-onnx")
    source = local_copy(name, digest, inside if os.path.isfile(os.path.join(inside, name)) else args.source)
    destination = os.path.join(folder, name)
    if os.path.abspath(source) != os.path.abspath(destination):
        os.makedirs(folder, exist_ok=True)
        with atomic_path(destination) as tmp:
            shutil.copyfile(source, tmp)
    return destination


def save_fusion(fusion_path, model_path, second_path):
    """The fusion file and its metadata: the pair's detector, and where the weight came from."""
    from liveness.models.fusion import write_fusion
    from liveness.models.metadata import update_metadata

    write_fusion(fusion_path, model_path, second_path, FUSION_WEIGHT)
    update_metadata(fusion_path, replace=True, arch="fusion", classes=["fake", "real"], detector="retinaface",
                    second_weight=FUSION_WEIGHT, license=LICENSE,
                    second_network={"origin": f"{second_network.HOME} (models/best/98.20)", "license": second_network.LICENSE,
                                    "sha256": second_network.SHA256},
                    chosen_by="leave-one-person-out over the 20 persons of ../shared/data (benchmarks/pool_heads.py); "
                              "kept over its 28 groups, as no candidate beat it nested (benchmarks/groups.py)")


def build_pair(paths):
    """The Keras pair from the two verified .pth files, in NETWORKS order."""
    from liveness.models.torch_state import load_state_dict
    from minifasnet import MiniFASNet, pair, set_torch_weights

    networks = [set_torch_weights(MiniFASNet.build(variant), load_state_dict(path))
                for path, (_, variant, _) in zip(paths, NETWORKS)]
    return pair(*networks)


def save_pretrained(model, model_path, le_path, sources):
    """The model, its label encoder and its metadata (crop rule, origin, license), each written atomically."""
    import numpy as np
    from sklearn.preprocessing import LabelEncoder

    from liveness.faces.crops import Crop
    from liveness.models.labels import save_label_encoder
    from liveness.models.metadata import update_metadata
    from liveness.models.model_io import save_model
    from minifasnet import PAIR_SCALES, PAIR_SIZE

    for path in (model_path, le_path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_model(model, model_path)
    update_metadata(model_path, replace=True, arch="minifasnet_pair", classes=["fake", "real"],
                    **Crop(PAIR_SCALES, "shift").metadata(), size=PAIR_SIZE,
                    class_map="real = original class 1 (live); fake = original classes 0 and 2 (attack types)",
                    origin=f"{HOME} (resources/anti_spoof_models)", license=LICENSE,
                    sources={name: digest for name, _, digest in NETWORKS}, converted_from=sources,
                    detector="retinaface", detector_sources=dict(retinaface.FILES))
    encoder = LabelEncoder()
    encoder.classes_ = np.array(["fake", "real"])
    save_label_encoder(encoder, le_path)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    if args.source is not None:
        if not os.path.isdir(args.source):
            raise LivenessError(f"--from folder not found: {args.source}")
        paths = [local_copy(name, digest, args.source) for name, _, digest in NETWORKS]
    else:
        paths = [download(name, digest, args.cache, args.timeout) for name, _, digest in NETWORKS]
    detector_folder = install_retinaface(args)
    fusion = args.fusion or os.path.join(os.path.dirname(args.model), "minifasnet_fused.fusion")
    second = install_second(args, os.path.dirname(os.path.abspath(fusion)))
    print(f"[INFO] SHA-256 verified: {', '.join(os.path.basename(p) for p in paths)}, the RetinaFace "
          f"face detector in {detector_folder}, and the second network {second}")
    print("[INFO] converting the PyTorch weights (no PyTorch, no pickled code run)...")
    import_tensorflow(args.verbose)
    model = build_pair(paths)
    save_pretrained(model, args.model, args.le, [os.path.abspath(p) for p in paths])
    if not args.no_export:
        from liveness.models.export import export

        print("[INFO] exporting for serving without TensorFlow (LiteRT)...")
        print(f"[INFO] wrote {export(args.model, model=model)}")
        print(f"[INFO] wrote {export(second)}: the second network rebuilt from its ONNX graph, served without "
              "ONNX Runtime")
    save_fusion(fusion, args.model, second)
    print(f"[INFO] wrote {args.model} ({model.count_params():,} weights), {args.model}.json and {args.le}")
    print(f"[INFO] wrote {fusion}: the pair fused with the second network at weight {FUSION_WEIGHT} (recommended)")
    print(f"[INFO] MiniFASNetV2 (crop x2.7) + MiniFASNetV1SE (crop x4.0), Minivision, {LICENSE}; "
          f"try: python liveness_demo.py --model {fusion} --le {args.le}")


if __name__ == "__main__":
    sys.exit(main())
