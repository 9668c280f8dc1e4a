"""Scoring processes for the service: decoding, the face detector and the model, away from the event loop.

Each scorer is a process of its own, with its own interpreter, model and
detector, scoring one image at a time. Kept out of the process that answers
HTTP for two reasons:
- a flood of refused requests keeps the event loop's thread busy, and in one
  process it would hold the GIL against the scoring of the requests that were
  admitted;
- the event loop's thread can then run at a lower CPU priority than the
  scorers (`yield_to_scorers`), so that refusals take only the CPU that
  scoring leaves.
Nothing here imports TensorFlow in the serving process; each scorer does.
"""
import asyncio
import concurrent.futures
import io
import multiprocessing
import os
import queue
import signal
import threading
import warnings

import cv2
import numpy as np
from PIL import Image

from liveness.errors import ApiError, LivenessError, one_line


def decode_image(data, max_pixels):
    """(BGR image, file extension) from encoded bytes; the size is checked from the header before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))
            (width, height) = header.size
            extension = "." + (header.format or "img").lower().replace("jpeg", "jpg")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(413, "image too large in pixels") from None
    except Exception:
        raise ApiError(415, "the body is not an image format this service reads (JPEG, PNG, BMP, WebP, TIFF)") from None
    if width * height > max_pixels:
        raise ApiError(413, f"image of {width}x{height} pixels exceeds {max_pixels / 1e6:.0f} megapixels")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ApiError(422, "the image could not be decoded (truncated or corrupt)")
    return image, extension


class ImageScorer:
    """What a scoring process holds: the model and a detector, warmed up; scores one encoded image."""

    def __init__(self, settings):
        from liveness.quiet import import_tensorflow

        import_tensorflow(settings.verbose)  # before anything that imports Keras, so that it starts quietly
        from liveness.detectors import create_detector, resolve_detector_type
        from liveness.model_io import load_classifier

        self.classifier, self.threshold_source = load_classifier(settings.model, settings.le, settings.bona_fide,
                                                                 settings.threshold)
        kind, _ = resolve_detector_type(settings.detector_type, settings.model)
        self.detector = create_detector(kind, settings.detector, settings.confidence)
        self.max_pixels = settings.max_megapixels * 1e6
        blank = np.zeros((480, 640, 3), "uint8")  # the first real request should not pay for tracing
        self.detector.detect(blank)
        self.classifier.predict([self.classifier.crop(blank, (240, 140, 400, 340))])

    def describe(self):
        return {"classes": self.classifier.classes, "threshold": self.classifier.threshold,
                "threshold_source": self.threshold_source}

    def score(self, data):
        """(image shape, file extension, [(box, confidence)], (faces, classes) probabilities)."""
        image, extension = decode_image(data, self.max_pixels)
        faces = self.detector.detect(image)
        probabilities = self.classifier.predict([self.classifier.crop(image, box) for box, _ in faces])
        return image.shape, extension, faces, probabilities


def _scorer_main(connection, settings):
    """A scoring process: set up, say so, then answer one image at a time until the service goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle; it ends us by closing the pipe
    try:
        scorer = ImageScorer(settings)
    except Exception as error:  # reported by the service as its one-line start-up error
        connection.send(("error", one_line(error)))
        return
    connection.send(("ok", scorer.describe()))
    while True:
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the service stopped, however it stopped
        try:
            connection.send(("ok", scorer.score(data)))
        except ApiError as error:
            connection.send(("api_error", (error.status, error.detail)))
        except Exception as error:
            connection.send(("error", one_line(error)))


class ScorerDied(Exception):
    """The scoring process ended while a request was in its hands."""


class Scorer:
    """The service's end of one scoring process."""

    def __init__(self, settings, context):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_scorer_main, args=(child_end, settings), daemon=True,
                                       name="liveness-scorer")
        self.process.start()
        child_end.close()

    def answer(self):
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            raise ScorerDied from None
        if kind == "api_error":
            raise ApiError(*value)
        if kind == "error":
            raise LivenessError(value)
        return value

    def score(self, data):
        """Blocking: send one encoded image, wait for its answer (see ImageScorer.score)."""
        try:
            self.connection.send_bytes(data)
        except (OSError, ValueError):
            raise ScorerDied from None
        try:
            return self.answer()
        except LivenessError as error:  # not the client's mistake: logged here, a plain 500 for the client
            print(f"[ERROR] scoring failed: {error}", flush=True)
            raise ApiError(500, "internal error while scoring the image") from None

    def stop(self):
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class ScorerPool:
    """`count` scoring processes, each served by a thread of its own; requests are taken in arrival order.

    A scorer whose process dies is replaced by its thread, and the request it held gets a 503.
    """

    def __init__(self, settings, count):
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        scorers = [Scorer(settings, self.context) for _ in range(count)]  # they load their models in parallel
        try:
            descriptions = [scorer.answer() for scorer in scorers]
        except (LivenessError, ScorerDied) as error:
            for scorer in scorers:
                scorer.stop()
            raise LivenessError(str(error) or "a scoring process ended while loading the model") from None
        self.description = descriptions[0]
        self.scorers = scorers
        self.local = threading.local()
        unclaimed = queue.SimpleQueue()
        for scorer in scorers:
            unclaimed.put(scorer)
        self.threads = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="scorer", initializer=self._claim,
                                                             initargs=(unclaimed,))
        # every thread started now: a thread keeps the CPU priority of the thread that made it
        gate = threading.Barrier(count + 1)
        started = [self.threads.submit(gate.wait) for _ in range(count)]
        gate.wait()
        concurrent.futures.wait(started)

    def _claim(self, unclaimed):
        self.local.scorer = unclaimed.get_nowait()

    async def score(self, data):
        """A scorer's answer for one encoded image (see ImageScorer.score), on the first free scorer."""
        return await asyncio.get_running_loop().run_in_executor(self.threads, self._score_here, data)

    def _score_here(self, data):
        scorer = self.local.scorer
        try:
            return scorer.score(data)
        except ScorerDied:
            try:
                self.local.scorer = self._replace(scorer)
            except (LivenessError, ScorerDied) as error:  # tried again on this thread's next request
                print(f"[ERROR] a scoring process ended and could not be restarted: {error}", flush=True)
            raise ApiError(503, "the scoring process stopped and was restarted; try again") from None

    def _replace(self, dead):
        dead.stop()
        scorer = Scorer(self.settings, self.context)
        scorer.answer()
        self.scorers = [s for s in self.scorers if s is not dead] + [scorer]
        print(f"[WARNING] a scoring process ended (exit code {dead.process.exitcode}); a new one took its place",
              flush=True)
        return scorer

    def close(self):
        for scorer in self.scorers:
            scorer.stop()
        self.threads.shutdown(wait=False)


def yield_to_scorers(step=10):
    """Lowers the calling thread, the event loop's, `step` nice levels; the scorers keep theirs.

    Linux keeps a nice value per thread. Returns the new value, or None where the system refuses.
    """
    try:
        thread = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, thread) + step
        os.setpriority(os.PRIO_PROCESS, thread, nice)
        return nice
    except (AttributeError, OSError):
        return None
