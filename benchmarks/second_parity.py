"""The second network served from its LiteRT export against ONNX Runtime on the ONNX file: the same scores.

    python benchmarks/second_parity.py                  # every 3rd frame of every recording of ../shared/data

The export is the network rebuilt from its ONNX graph (liveness.models.onnx_graph) and converted by
TensorFlow's converter, as python -m liveness.pretrained writes it. On the faces the recommended fusion's
face detector (RetinaFace) finds, every face of every --every-th frame, both runtimes score the second
network's crop; the fusion's real score is then made with each, the pair's probability the same. It prints
the largest absolute difference of the second network's logit, of its real probability (the logit's
sigmoid) and of the fused score (limit 1e-5 for the scores) and how many fused decisions at the fusion's
threshold agree (all must).
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from liveness.errors import LivenessError, exit_on_error  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
LIMIT = 1e-5


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--data", default=SHARED)
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()
    from liveness.faces.detectors import create_detector
    from liveness.faces.media import list_media, read_frames
    from liveness.models import second_network
    from liveness.models.fusion import fused_scores
    from liveness.models.lite import current_export
    from liveness.models.metadata import resolve_detector_type
    from liveness.models.model_io import load_classifier

    fused, _ = load_classifier(args.model, args.le)
    if not fused.second.runtime.startswith("LiteRT"):
        raise LivenessError(f"the fusion's second network has no LiteRT export: {fused.second.runtime}")
    from liveness.models.fusion import read_fusion

    onnx_path = read_fusion(args.model)[1]
    if not current_export(onnx_path):
        raise LivenessError(f"{onnx_path} has no current LiteRT export: python -m liveness.export {onnx_path}")
    reference = second_network.OnnxSession(onnx_path)
    detector = create_detector(resolve_detector_type(None, args.model)[0])
    recordings = [p for folder in ("videos", "images") for p in list_media(os.path.join(args.data, folder))]
    first, lite, ort = [], [], []
    started = time.perf_counter()
    for path in tqdm(recordings, desc="recordings", unit="rec"):
        for _, frame in read_frames(path, select=lambda i: i % args.every == 0):
            if frame is None:
                continue
            faces = detector.detect(frame)
            if not faces:
                continue
            crops = [fused.crop(frame, box) for box, _ in faces]
            bona = fused.first.classes.index(fused.first.bona_fide)
            first.append(fused.first.predict([c[0] for c in crops])[:, bona])
            seconds = np.stack([c[1] for c in crops])
            lite.append(fused.second(list(seconds)))
            logits = reference(seconds)
            ort.append(logits[:, 0] - logits[:, 1])
    first, lite, ort = (np.concatenate(v) for v in (first, lite, ort))
    a, b = fused_scores(first, ort, fused.weight), fused_scores(first, lite, fused.weight)
    same = int(((a >= fused.threshold) == (b >= fused.threshold)).sum())
    worst_score, worst_logit = float(np.abs(a - b).max()), float(np.abs(ort - lite).max())
    worst_probability = float(np.abs(1 / (1 + np.exp(-ort.astype("float64"))) - 1 / (1 + np.exp(-lite.astype("float64")))).max())
    print(f"[INFO] {len(first)} faces of {len(recordings)} recordings (one frame in {args.every}), "
          f"{time.perf_counter() - started:.0f} s")
    print("| faces | the second network's logit | its real probability | the fused score | same decision |\n"
          "| --- | --- | --- | --- | --- |")
    print(f"| {len(first)} | {worst_logit:.2e} | {worst_probability:.2e} | {worst_score:.2e} | {same}/{len(first)} |")
    ok = max(worst_score, worst_probability) <= LIMIT and same == len(first)
    print(f"[{'PASS' if ok else 'FAIL'}] probabilities and fused scores within {LIMIT:g}, every decision the same")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
