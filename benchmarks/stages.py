"""Where the time goes: milliseconds of each stage of one service request and one demo frame.

    python benchmarks/stages.py                                   # the recommended fusion, subjA_real.mov
    python benchmarks/stages.py -m pretrained/minifasnet.keras    # the pair alone, for comparison

Runs the stages exactly as the service's scorer and the demo run them, in this process, on the faces of
--frames frames of --video (one request: the frame as a JPEG upload; one demo frame: the frame as read
from the video), and prints the median and mean milliseconds of each: decoding, face detection, crops,
each network, the fusion, the answer (its JSON), publishing (one file and its metadata row), and for
the demo the drawing and the output video's write. The face detector runs on every frame here; the
demo's --detect-every 3 runs it on a third of them. Beside them it prints the service's own latency
of the same requests, one at a time (its access log), so the share spent outside these stages
(HTTP, the pipe to the scoring process) shows.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402

SHARED_VIDEO = os.path.join(os.path.dirname(ROOT), "shared", "data", "videos", "subjA_real.mov")


class Clock:
    """Milliseconds of each named stage, over many frames."""

    def __init__(self):
        self.times = {}

    def __call__(self, stage, work, *args):
        started = time.perf_counter()
        result = work(*args)
        self.times.setdefault(stage, []).append((time.perf_counter() - started) * 1000)
        return result

    def rows(self):
        return [(stage, statistics.median(t), statistics.mean(t)) for stage, t in self.times.items()]


def frames_of(video, count):
    from liveness.faces.media import read_frames

    frames = []
    for _, frame in read_frames(video):
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


def members(classifier):
    """(first member's predict, second network or None, fusion weight) of a classifier."""
    from liveness.models.fusion import FusedClassifier

    if isinstance(classifier, FusedClassifier):
        return classifier.first, classifier.second, classifier.weight
    return classifier, None, None


def one_request(clock, jpeg, scorer, publisher):
    """The scorer's stages for one uploaded image, then the answer and publishing as the service does them."""
    from liveness.models.fusion import fused_scores
    from liveness.service.scorers import decode_image

    image, extension = clock("decode (JPEG)", decode_image, jpeg, 40e6)
    faces = clock("face detection", scorer.detector.detect, image)
    first, second, weight = members(scorer.classifier)
    crops = clock("crops", lambda: [scorer.classifier.crop(image, box) for box, _ in faces])
    if second is None:
        p = clock("network: the pair (LiteRT)", first.predict, crops)
        real = p[:, first.classes.index(first.bona_fide)]
    else:
        p = clock("network: the pair (LiteRT)", first.predict, [c[0] for c in crops])
        logits = clock(f"network: the second ({second.runtime.split(' (')[0]})", second, [c[1] for c in crops])
        real = clock("fusion", fused_scores, p[:, first.classes.index(first.bona_fide)], logits, weight)
    answer = clock("answer (JSON)", lambda: json.dumps(
        {"faces": [{"box": [int(v) for v in box], "score": float(s), "decision": "real" if s >= 0.5 else "fake"}
                   for (box, _), s in zip(faces, real)], "decision": "real"}))
    clock("publish (file + row)", publisher.save, jpeg, extension,
          [{"score": float(s)} for s in real], "real", "0" * 64)
    return answer


class TimedDetector:
    def __init__(self, detector, clock):
        self.detector, self.clock = detector, clock

    def detect(self, frame):
        return self.clock("face detection", self.detector.detect, frame)


def demo_frames(clock, beside, frames, scorer, writer):
    """The demo's loop over `frames` as it runs a video (StreamScorer.stream), each stage timed where it runs: the
    stream's own thread in `clock`, a fusion's second network on its thread in `beside`."""
    from liveness.models import second_network
    from liveness.pipeline import LATE_FRAMES, StreamScorer

    classifier, fused = scorer.classifier, hasattr(scorer.classifier, "predict_later")
    stream = StreamScorer(TimedDetector(scorer.detector, clock), classifier)
    if fused:
        later, second, second_crop = classifier.predict_later, classifier.second, second_network.crop
        classifier.second = lambda crops: beside("network: the second", second, crops)
        second_network.crop = lambda frame, box: beside("crop: the second's", second_crop, frame, box)

        def predict_later(frame, boxes):
            waiting = clock("the first member (crop, network), the second handed its frame", later, frame, boxes)
            return lambda: clock("waiting for the second, fusion", waiting)

        classifier.predict_later = predict_later
    else:
        crop, predict = classifier.crop, classifier.predict
        classifier.crop = lambda frame, box: clock("crops", crop, frame, box)
        classifier.predict = lambda rois: clock("network", predict, rois)
    try:
        for frame, faces in stream.stream(frames, LATE_FRAMES):
            for face in faces:
                clock("draw", lambda: (cv2.rectangle(frame, face.box[:2], face.box[2:], (0, 0, 255), 2),
                                       cv2.putText(frame, f"{face.label}: {face.score:.4f}", face.box[:2],
                                                   cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 2)))
            clock("write the output video", writer.write, frame)
    finally:  # the classifier's own methods back
        if fused:
            second_network.crop, classifier.second = second_crop, second
            del classifier.predict_later
        else:
            del classifier.crop, classifier.predict


def service_latency(model, le, jpegs):
    """The service's own latency (its access log) of the same requests, sent one at a time."""
    import httpx

    from liveness_api import start_local

    process, url = start_local(model, le, "--scorers", 1)
    try:
        for jpeg in jpegs[:5]:  # warm
            httpx.post(f"{url}/v1/liveness", files={"file": ("f.jpg", jpeg)}, timeout=60)
        process.log.seek(0, 2)
        start = process.log.tell()
        round_trips = []
        for jpeg in jpegs:
            began = time.perf_counter()
            httpx.post(f"{url}/v1/liveness", files={"file": ("f.jpg", jpeg)}, timeout=60)
            round_trips.append((time.perf_counter() - began) * 1000)
        time.sleep(0.2)
        process.log.seek(start)
        inside = [json.loads(line)["latency_ms"] for line in process.log.read().splitlines()
                  if line.startswith("{") and '"/v1/liveness"' in line]
    finally:
        process.terminate()
        process.wait(timeout=30)
    return statistics.median(inside), statistics.median(round_trips)


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--video", default=SHARED_VIDEO)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--no-service", action="store_true", help="skip the service's own latency")
    args = ap.parse_args()
    from liveness.service.core import Publisher, Settings
    from liveness.service.scorers import ImageScorer

    scorer = ImageScorer(Settings(model=args.model, le=args.le))
    print(f"[INFO] {args.model} on {scorer.runtime}; face detector {scorer.detector.name}")
    frames = frames_of(args.video, args.frames)
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]
    request, demo, beside = Clock(), Clock(), Clock()
    with tempfile.TemporaryDirectory() as folder:
        publisher = Publisher(os.path.join(folder, "publish"), 1e12)
        for jpeg in jpegs[:5]:
            one_request(Clock(), jpeg, scorer, publisher)  # warm
        for jpeg in jpegs:
            one_request(request, jpeg, scorer, publisher)
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(os.path.join(folder, "out.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 15, (width, height))
        demo_frames(demo, beside, (frame.copy() for frame in frames), scorer, writer)
        writer.release()
    for title, clock in (("one service request (in the scoring process, then the service)", request),
                         ("one demo frame, on the stream's thread (detection on every frame)", demo),
                         ("beside it, on the second network's thread (not part of the frame's time)", beside)):
        if not clock.times:
            continue
        rows = clock.rows()
        print(f"\n{title}, {len(frames)} frames of {os.path.basename(args.video)} ({width}x{height})")
        print("| stage | median ms | mean ms |\n| --- | --- | --- |")
        for stage, median, mean in rows:
            print(f"| {stage} | {median:.2f} | {mean:.2f} |")
        print(f"| **all stages** | {sum(r[1] for r in rows):.2f} | {sum(r[2] for r in rows):.2f} |")
    if not args.no_service:
        inside, round_trip = service_latency(args.model, args.le, jpegs)
        print(f"\nthe service, one request at a time: {inside:.2f} ms median as it measures itself, "
              f"{round_trip:.2f} ms the client's round trip")


if __name__ == "__main__":
    sys.exit(main())
