#!/usr/bin/env bash
# The whole main job on the built-in sample, no webcam or recordings needed:
# synthesize two clips, gather face ROIs, train LivenessNet, run the demo headless.
# Everything goes under output/sample/. The sample shows the pipeline working, not accuracy.
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
OUT=output/sample
rm -rf "$OUT"
mkdir -p "$OUT"
$PY -m liveness.sample --output "$OUT/videos"
$PY gather_examples.py --input "$OUT/videos/real.mov" --output "$OUT/dataset/real" --detector face_detector --skip 1
$PY gather_examples.py --input "$OUT/videos/fake.mp4" --output "$OUT/dataset/fake" --detector face_detector --skip 1
$PY train_liveness.py --dataset "$OUT/dataset" --model "$OUT/liveness.keras" --le "$OUT/le.pickle" \
    --plot "$OUT/plot.png" --report "$OUT/report.txt"
$PY liveness_demo.py --model "$OUT/liveness.keras" --le "$OUT/le.pickle" --detector face_detector \
    --input "$OUT/videos/fake.mp4" --output "$OUT/annotated.mp4" --no-display
echo "[INFO] done: $OUT/annotated.mp4, $OUT/plot.png, $OUT/report.txt"
