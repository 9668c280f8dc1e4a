"""Live liveness detection: boxes labelled real/fake with a score, on a webcam or a video.

    python liveness_demo.py --model liveness.keras --le le.pickle --detector face_detector
    python liveness_demo.py -m liveness.keras -l le.pickle --input some.mp4 --output annotated.mp4 --no-display

Press q in the window to quit.
"""
import argparse
import contextlib
import os
import time

import cv2
import imutils
from tqdm import tqdm

from liveness.common.atomic import atomic_path, check_writable
from liveness.errors import LivenessError, exit_on_error
from liveness.faces.detectors import add_detector_arguments
from liveness.faces.media import frame_count, open_video, prefetch
from liveness.models.metadata import detector_for
from liveness.pipeline import LATE_FRAMES, StreamScorer
from liveness.quiet import add_verbose_argument

REAL_COLOR = (0, 255, 0)  # BGR green
FAKE_COLOR = (0, 0, 255)  # BGR red
WINDOW = "Frame"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", type=str, required=True, help="trained liveness model (.keras, HDF5, or a Keras 2 liveness.model)")
    ap.add_argument("-l", "--le", type=str, required=True, help="its label encoder (le.pickle)")
    add_detector_arguments(ap)
    ap.add_argument("-i", "--input", type=str, default=None, help="a video file instead of the webcam")
    ap.add_argument("--source", type=int, default=0, help="webcam index (without --input)")
    ap.add_argument("-o", "--output", type=str, default=None, help="write the annotated video here")
    ap.add_argument("--no-display", action="store_true", help="show no window (machines with no screen)")
    ap.add_argument("--width", type=int, default=600, help="resize frames to this width, as the original (0 keeps them)")
    ap.add_argument("--detect-every", type=int, default=3,
                    help="run the face detector on every N-th frame, re-classifying the last boxes between "
                         "(every frame while no face, or an unsure one, is found); 1 detects on every frame")
    ap.add_argument("--bona-fide", type=str, default="real", help="the live class, drawn in green")
    ap.add_argument("-t", "--threshold", type=float, default=None,
                    help="liveness threshold on the real score (default: calibrated beside the model, else 0.5)")
    ap.add_argument("--smooth", type=int, default=1,
                    help="decide on each face's probabilities averaged over its last N frames (1: every frame alone)")
    add_verbose_argument(ap)
    args = ap.parse_args()
    if args.smooth < 1:
        raise LivenessError(f"--smooth must be 1 or more, got {args.smooth}")
    if args.width < 0:
        raise LivenessError("--width must be 0 or more")
    if args.detect_every < 1:
        raise LivenessError(f"--detect-every must be 1 or more, got {args.detect_every}")
    if args.no_display and args.output is None:
        raise LivenessError("--no-display without --output would show and keep nothing; add --output FILE")
    if args.output is not None:
        check_video_output(args.output)
    return args


# containers OpenCV writes with the mp4v codec (an image extension would make it write a numbered image series)
VIDEO_OUTPUTS = (".mp4", ".mov", ".m4v", ".avi", ".mkv")


def check_video_output(path):
    """Fail now, naming the user's path, if the annotated video could not be written there."""
    if not os.path.isdir(path) and not path.lower().endswith(VIDEO_OUTPUTS):
        raise LivenessError(f"cannot write a video to {path}: give it one of the extensions {', '.join(VIDEO_OUTPUTS)}")
    check_writable(path, "--output")


def check_display():
    """Fail early, in one line, when this OpenCV build or machine cannot open a window."""
    try:
        cv2.namedWindow(WINDOW)
    except cv2.error:
        raise LivenessError("cannot open a window (headless OpenCV or no screen): on a desktop run 'bash setup.sh --gui' "
                            "(OpenCV with windows); on a server use --no-display --output FILE") from None


def draw_face(frame, face, bona_fide):
    """The original's overlay: a box and 'label: score' above it."""
    (startX, startY, endX, endY) = face.box
    color = REAL_COLOR if face.label == bona_fide else FAKE_COLOR
    text = f"{face.label}: {face.score:.4f}"
    cv2.putText(frame, text, (startX, max(startY - 10, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 2)
    cv2.rectangle(frame, (startX, startY), (endX, endY), color, 2)


def frames_from(capture, width):
    while True:
        grabbed, frame = capture.read()
        if not grabbed:
            return
        yield imutils.resize(frame, width=width) if width else frame


class LazyVideoWriter:
    """A cv2.VideoWriter opened on the first frame, when the frame size is known."""

    def __init__(self, path, fps, shown=None):
        self.path, self.fps, self.writer = path, fps, None
        self.shown = shown or path  # the name the user gave, not the temporary one written to

    def write(self, frame):
        if self.path is None:
            return
        if self.writer is None:
            (h, w) = frame.shape[:2]
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise LivenessError(f"cannot write a video to {self.shown}")
        self.writer.write(frame)

    def release(self):
        if self.writer is not None:
            self.writer.release()


def run(frames, scorer, output, display, bona_fide, progress, late):
    """The demo loop; returns (frames, faces) processed. A frame is shown and written `late` frames after it
    was read (StreamScorer.stream)."""
    count = faces = 0
    for frame, scored in scorer.stream(frames, late):
        for face in scored:
            draw_face(frame, face, bona_fide)
        output.write(frame)
        count += 1
        faces += len(scored)
        if progress is not None:
            progress.update(1)
        if display:
            cv2.imshow(WINDOW, frame)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                break
    return count, faces


@exit_on_error
def main():
    args = parse_args()
    if not args.no_display:
        check_display()

    print("[INFO] loading face detector...")
    detector = detector_for(args, args.model)
    print("[INFO] loading liveness detector...")
    from liveness.models.model_io import load_classifier, prepare_runtime

    print(f"[INFO] runtime: {prepare_runtime(args.model, args.verbose)}")

    classifier, source = load_classifier(args.model, args.le, args.bona_fide, args.threshold)
    print(f"[INFO] liveness threshold {classifier.threshold:.4f} ({source}); input {classifier.size[0]}x"
          f"{classifier.size[1]}, face crop {classifier.cropper}")

    if args.input is not None:
        if not os.path.isfile(args.input):
            raise LivenessError(f"video not found: {args.input}")
        print(f"[INFO] reading {args.input}...")
        capture = open_video(args.input)
        fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
        progress = tqdm(total=frame_count(args.input) or None, unit="frame") if args.no_display else None
    else:
        print(f"[INFO] starting video stream from camera {args.source}...")
        capture = open_video(args.source)
        fps, progress = 20.0, None

    started = time.perf_counter()
    # the annotated video is written under a temporary name and renamed only when complete
    with atomic_path(args.output) if args.output else contextlib.nullcontext() as tmp:
        output = LazyVideoWriter(tmp, fps, args.output)
        try:
            scorer = StreamScorer(detector, classifier, args.detect_every, smooth=args.smooth)
            # frames decode and resize on their own thread while this one detects and classifies
            # a video file is read as fast as it is scored; a camera films no faster than a frame is answered
            count, faces = run(prefetch(frames_from(capture, args.width)), scorer, output,
                               not args.no_display, args.bona_fide, progress, LATE_FRAMES if args.input else 0)
        finally:
            output.release()
            capture.release()
            if progress is not None:
                progress.close()
            if not args.no_display:
                cv2.destroyAllWindows()
        if count == 0:
            raise LivenessError(f"no frames could be read from {args.input or f'camera {args.source}'}")
    elapsed = time.perf_counter() - started
    print(f"[INFO] {count} frames, {faces} faces, {count / elapsed:.1f} frames per second")
    if args.output:
        print(f"[INFO] wrote {args.output}")


if __name__ == "__main__":
    main()
