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
import time
import warnings

import cv2
import numpy as np
from PIL import Image

from liveness.errors import ApiError, LivenessError, one_line
from liveness.sessions.flow import CHALLENGE, CHALLENGE_START, COUNTED

# what decode_image reads: Pillow reads the header, OpenCV the pixels (tried on this build: each decodes)
FORMATS = "JPEG, PNG, BMP, WebP, TIFF, GIF, JPEG 2000 or AVIF"


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
        raise ApiError(415, f"the body is not an image format this service reads ({FORMATS})") from None
    if width * height > max_pixels:
        raise ApiError(413, f"image of {width}x{height} pixels exceeds {max_pixels / 1e6:.0f} megapixels")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ApiError(422, "the image could not be decoded (truncated or corrupt)")
    return image, extension


# threads each scoring process's OpenCV may use: the scorers are as many as the cores (measured in docs/speed.md)
SCORER_THREADS = int(os.environ.get("LIVENESS_SCORER_THREADS", "1"))


class ImageScorer:
    """What a scoring process holds: the model and a detector, warmed up; scores one encoded image."""

    def __init__(self, settings):
        from liveness.models.model_io import prepare_runtime

        cv2.setNumThreads(SCORER_THREADS)  # decoding and the face detector: one core's worth, like each network

        self.runtime = prepare_runtime(settings.model, settings.verbose)  # TensorFlow, quietly, unless an export serves
        from liveness.faces.detectors import create_detector
        from liveness.models.metadata import resolve_detector_type
        from liveness.models.model_io import load_classifier

        self.classifier, self.threshold_source = load_classifier(settings.model, settings.le, settings.bona_fide,
                                                                 settings.threshold)
        kind, _ = resolve_detector_type(settings.detector_type, settings.model)
        self.detector = create_detector(kind, settings.detector, settings.confidence)
        self.max_pixels = settings.max_megapixels * 1e6
        self.model = settings.model
        blank = np.zeros((480, 640, 3), "uint8")  # the first real request should not pay for tracing
        self.detector.detect(blank)
        self.classifier.predict([self.classifier.crop(blank, (240, 140, 400, 340))])

    def describe(self):
        from liveness.common.digests import current_sha256
        from liveness.models.model_io import files_deciding

        folder = os.path.dirname(os.path.abspath(self.model))
        paths = [os.path.abspath(p) for p in [*files_deciding(self.model), *self.detector.files] if os.path.isfile(p)]
        files = {os.path.relpath(p, folder) if p.startswith(folder + os.sep) else p: current_sha256(p) for p in paths}
        return {"classes": self.classifier.classes, "threshold": self.classifier.threshold, "runtime": self.runtime,
                "threshold_source": self.threshold_source, "files": files}

    def score(self, data):
        """(image shape, file extension, [(box, confidence)], (faces, classes) probabilities, [each face's
        quality: size, brightness, contrast, sharpness])."""
        from liveness.faces.quality import face_quality

        image, extension = decode_image(data, self.max_pixels)
        faces = self.detector.detect(image)
        probabilities = self.classifier.predict([self.classifier.crop(image, box) for box, _ in faces])
        return image.shape, extension, faces, probabilities, [face_quality(image, box) for box, _ in faces]

    def score_session_frame(self, data, kind=COUNTED):
        """ImageScorer.score's answer and what a session's checks need, for a frame of `kind`:

        - COUNTED (the session counts frames): every face scored; for a frame it would count (one face, in the
          oval, large enough: liveness.sessions.rule.Rule.hint) the face's camera signature, identity descriptor
          and pose;
        - CHALLENGE (a challenge's step): no anti-spoofing network, only the face's signature and pose (dlib's
          landmarks, a few milliseconds); CHALLENGE_START: those and its identity descriptor.

        The checks always hold the whole frame's brightness (a dark room, face or not)."""
        from liveness.faces.quality import face_quality
        from liveness.sessions.camera import signature
        from liveness.sessions.challenge import pose
        from liveness.sessions.rule import Rule

        image, extension = decode_image(data, self.max_pixels)
        faces = self.detector.detect(image)
        counted = kind == COUNTED
        probabilities = self.classifier.predict([self.classifier.crop(image, box) for box, _ in faces]) \
            if counted else [None] * len(faces)
        qualities = [face_quality(image, box) for box, _ in faces]
        checks = {"brightness": float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())}
        sized = (image.shape[1], image.shape[0])
        if len(faces) == 1 and (not counted or Rule().hint([{"box": faces[0][0]}], sized) is None):
            box = faces[0][0]
            checks.update(signature=signature(image, box), pose=pose(self.identity().landmarks(image, box)))
            if kind in (COUNTED, CHALLENGE_START):
                checks["descriptor"] = self.identity().describe(image, box)
        return image.shape, extension, faces, probabilities, qualities, checks

    def identity(self):
        """dlib's face descriptor, loaded on the first session frame (plain image requests never need it)."""
        if getattr(self, "_identity", None) is None:
            from liveness.sessions.identity import FaceIdentity

            self._identity = FaceIdentity()
        return self._identity


def _scorer_main(connection, settings):
    """A scoring process: set up, say so, then answer one image at a time until the service goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle; it ends us by closing the pipe
    try:
        try:
            scorer = ImageScorer(settings)
        except Exception as error:  # reported by the service as its one-line start-up error
            connection.send(("error", one_line(error)))
            return
        connection.send(("ok", scorer.describe()))
    except OSError:
        return  # the service stopped waiting (another scorer failed first, or it was stopped)
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the service stopped, however it stopped
        try:  # the first byte says which answer is asked for: a plain image's, or a session frame's (of a kind)
            kind = SESSION_KINDS.get(message[:1])
            answer = scorer.score(message[1:]) if kind is None else scorer.score_session_frame(message[1:], kind)
            connection.send(("ok", answer))
        except ApiError as error:
            connection.send(("api_error", (error.status, error.detail)))
        except Exception as error:
            connection.send(("error", one_line(error)))


PLAIN_IMAGE = b"i"
SESSION_KINDS = {b"s": COUNTED, b"c": CHALLENGE, b"d": CHALLENGE_START}


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
        self.ready = False  # true once the process has said it loaded the model
        self.load_error = None  # why it could not, once it has said so
        self.reading = threading.Lock()  # its serving thread and the watchdog may both ask how loading went

    def wait_ready(self, timeout=None):
        """Whether the process has loaded the model, waiting at most `timeout` seconds (None: as long as it takes)."""
        with self.reading:
            if not self.ready and self.load_error is None and (timeout is None or self.connection.poll(timeout)):
                # its description says it loaded; a LivenessError or ScorerDied says why not
                try:
                    self.description = self.answer()
                except LivenessError as error:
                    self.load_error = str(error)
                    raise
                except ScorerDied:
                    self.load_error = f"it ended while loading the model (exit code {self.process.exitcode})"
                    raise
                self.ready = True
            if self.load_error is not None:
                raise LivenessError(self.load_error)
        return self.ready

    def failure(self):
        """For a process that has ended: why it could not load the model, or None if it had loaded it."""
        try:
            self.wait_ready(0)
        except (LivenessError, ScorerDied):
            pass
        return None if self.ready else (self.load_error or f"it ended while loading the model (exit code "
                                                           f"{self.process.exitcode})")

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

    def score(self, data, session=None):
        """Blocking: send one encoded image, wait for its answer (ImageScorer.score, or for a `session` frame's
        kind ImageScorer.score_session_frame)."""
        prefix = PLAIN_IMAGE if session is None else {k: b for b, k in SESSION_KINDS.items()}[session]
        try:
            self.connection.send_bytes(prefix + data)
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


class Slot:
    """One scoring process and the thread that feeds it; the watchdog swaps in a new process when it dies.

    A process that could not load the model is started again after a back-off that doubles up to
    MAX_BACKOFF_S; meanwhile `scorer` is None and `problem` says why.
    """

    def __init__(self, scorer):
        self.scorer, self.problem, self.failures, self.restart_at = scorer, None, 0, 0.0


RESTARTING = "the scoring process stopped and was restarted; try again shortly"
UNLOADABLE = "the service cannot load its model right now (GET /readyz says why); try again later"
MAX_BACKOFF_S = 60.0


class ScorerPool:
    """`count` scoring processes, each served by a thread of its own; requests are taken in arrival order.

    A watchdog thread waits on every process: one that dies, busy or idle, is replaced at once. The request it
    held gets a 503 at once, and so does a request that reaches a replacement still loading its model.
    """

    def __init__(self, settings, count, ready_wait=1.0):
        self.settings, self.ready_wait = settings, ready_wait
        self.context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        scorers = [Scorer(settings, self.context) for _ in range(count)]  # they load their models in parallel
        try:
            for scorer in scorers:
                scorer.wait_ready()
        except (LivenessError, ScorerDied) as error:
            for scorer in scorers:
                scorer.stop()
            raise LivenessError(str(error) or "a scoring process ended while loading the model") from None
        self.description = scorers[0].description
        self.slots = [Slot(scorer) for scorer in scorers]
        self.local = threading.local()
        unclaimed = queue.SimpleQueue()
        for slot in self.slots:
            unclaimed.put(slot)
        self.threads = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="scorer", initializer=self._claim,
                                                             initargs=(unclaimed,))
        # every thread started now: a thread keeps the CPU priority of the thread that made it
        gate = threading.Barrier(count + 1)
        started = [self.threads.submit(gate.wait) for _ in range(count)]
        gate.wait()
        concurrent.futures.wait(started)
        self.closing = threading.Event()
        self.watchdog = threading.Thread(target=self._watch, name="scorer-watchdog", daemon=True)
        self.watchdog.start()

    @property
    def scorers(self):
        return [slot.scorer for slot in self.slots]

    def _claim(self, unclaimed):
        self.local.slot = unclaimed.get_nowait()

    async def score(self, data, session=None):
        """A scorer's answer for one encoded image (see Scorer.score), on the first free scorer."""
        return await asyncio.get_running_loop().run_in_executor(self.threads, self._score_here, data, session)

    def unready_reason(self):
        """Why no request can be scored now (every scoring process failed to load the model), or None."""
        problems = [slot.problem for slot in self.slots]
        return problems[0] if all(problems) else None

    def _score_here(self, data, session):
        scorer = self.local.slot.scorer
        if scorer is None:  # waiting out a back-off after a failed start
            raise ApiError(503, UNLOADABLE)
        try:
            if not scorer.wait_ready(self.ready_wait):
                raise ApiError(503, RESTARTING)
            return scorer.score(data, session)
        except (ScorerDied, LivenessError):  # the watchdog replaces it; this request is not kept waiting
            raise ApiError(503, RESTARTING) from None

    def _watch(self):
        """Replace every scoring process that ends, until the pool closes: at once if it had loaded the model,
        after a doubling back-off if it could not (each failure logged with its reason)."""
        from multiprocessing.connection import wait

        while not self.closing.is_set():
            now = time.monotonic()
            for slot in self.slots:
                if slot.scorer is None and slot.restart_at <= now:
                    slot.scorer = Scorer(self.settings, self.context)  # loads in the background
            by_sentinel = {slot.scorer.process.sentinel: slot for slot in self.slots if slot.scorer is not None}
            waits = [slot.restart_at - now for slot in self.slots if slot.scorer is None]
            for sentinel in wait(list(by_sentinel), timeout=max(0.05, min([0.5, *waits]))):
                if self.closing.is_set():
                    return
                self._replace(by_sentinel[sentinel])
            for slot in self.slots:
                if slot.problem and slot.scorer is not None and self._loaded(slot.scorer):
                    slot.problem, slot.failures = None, 0
                    print("[INFO] a scoring process loaded the model again", flush=True)

    @staticmethod
    def _loaded(scorer):
        try:
            return scorer.wait_ready(0)
        except (LivenessError, ScorerDied):
            return False  # its end is the watchdog's to handle

    def _replace(self, slot):
        dead = slot.scorer
        reason = dead.failure()
        dead.stop()
        if reason is None:  # it had loaded the model: a crash, replaced at once
            slot.scorer = Scorer(self.settings, self.context)
            print(f"[WARNING] a scoring process ended (exit code {dead.process.exitcode}); a new one is taking its "
                  "place", flush=True)
            return
        slot.failures += 1
        delay = min(MAX_BACKOFF_S, 2.0 ** (slot.failures - 1))
        slot.scorer, slot.problem, slot.restart_at = None, reason, time.monotonic() + delay
        print(f"[ERROR] a scoring process could not load the model: {reason}; trying again in {delay:g} s",
              flush=True)

    def close(self):
        self.closing.set()
        for scorer in self.scorers:
            if scorer is not None:
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
