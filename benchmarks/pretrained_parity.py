"""The Keras port of the MiniFASNet pair against the original PyTorch code's own outputs.

    python benchmarks/pretrained_parity.py          # ../shared/data/pretrained: the .pth files and parity.npz

parity.npz holds, for faces of the shared videos, the SSD box, the 80x80 crops the original
code cut at scales 2.7 and 4.0, and each original network's softmax on them. This checks that
- the converted networks' softmax on those crops matches, within 1e-4 (largest absolute
  difference), for both networks and every sample;
- the project's crop rule (liveness.faces.crops, "shift") cuts the same crops from the video frame
  and box, within one grey level;
- the saved pair, loaded as every command loads it, scores the stacked crops as the mean of
  the two originals (real = class 1).
"""
import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402
from liveness.faces.crops import Crop  # noqa: E402
from liveness.faces.media import read_frames  # noqa: E402
from liveness.quiet import import_tensorflow  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def frames_of(videos_folder, wanted):
    """{(video, frame index): frame} for the (video, index) pairs in `wanted`, each video decoded once."""
    frames = {}
    for video in sorted({v for v, _ in wanted}):
        indices = {i for v, i in wanted if v == video}
        for index, frame in read_frames(os.path.join(videos_folder, video), select=lambda i: i in indices):
            if frame is not None:
                frames[(video, index)] = frame
    return frames


def check(name, value, limit, results):
    ok = value <= limit
    results.append(ok)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {value:.3g} (at most {limit:g})")


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrained", default=os.path.join(SHARED, "pretrained"), help="folder with the .pth files and parity.npz")
    ap.add_argument("--videos", default=os.path.join(SHARED, "videos"))
    args = ap.parse_args()
    import_tensorflow()

    from liveness.models.model_io import load_classifier
    from liveness.models.pretrained import NETWORKS, build_pair, local_copy, save_pretrained
    from liveness.models.torch_state import load_state_dict
    from minifasnet import PAIR_SCALES, MiniFASNet, set_torch_weights

    parity = np.load(os.path.join(args.pretrained, "parity.npz"))
    crops = {2.7: parity["crop27"], 4.0: parity["crop40"]}
    probs = {2.7: parity["prob27"], 4.0: parity["prob40"]}
    print(f"[INFO] {len(parity['video'])} faces from {len(set(parity['video'].tolist()))} videos")
    results = []
    paths = [local_copy(name, digest, args.pretrained) for name, _, digest in NETWORKS]
    for path, (name, variant, _), scale in zip(paths, NETWORKS, PAIR_SCALES):
        network = set_torch_weights(MiniFASNet.build(variant), load_state_dict(path))
        ported = softmax(network.predict(crops[scale].astype("float32"), verbose=0))
        check(f"{name}: softmax, largest absolute difference", float(np.abs(ported - probs[scale]).max()), 1e-4, results)

    frames = frames_of(args.videos, list(zip(parity["video"].tolist(), parity["frame"].tolist())))
    for scale in PAIR_SCALES:
        worst = 0
        for video, index, box, expected in zip(parity["video"], parity["frame"], parity["box"], crops[scale]):
            roi = cv2.resize(Crop((scale,), "shift")(frames[(str(video), int(index))], tuple(int(v) for v in box), (80, 80)),
                             (80, 80))
            worst = max(worst, int(np.abs(roi.astype(int) - expected.astype(int)).max()))
        check(f"crop rule at scale {scale:g}: largest grey-level difference", worst, 1, results)

    with tempfile.TemporaryDirectory() as folder:
        model_path, le_path = os.path.join(folder, "minifasnet.keras"), os.path.join(folder, "le.pickle")
        save_pretrained(build_pair(paths), model_path, le_path, paths)
        classifier, _ = load_classifier(model_path, le_path)
        stacked = np.concatenate([crops[2.7], crops[4.0]], axis=3)
        real = classifier.predict(list(stacked))[:, classifier.classes.index("real")]
        expected = (probs[2.7][:, 1] + probs[4.0][:, 1]) / 2
        check("saved pair: real score against the originals' mean class-1 probability", float(np.abs(real - expected).max()),
              1e-4, results)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
