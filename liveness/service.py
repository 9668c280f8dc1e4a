"""The scoring behind liveness_api.py: decode, detect, classify in batches, publish.

Kept apart from the HTTP layer so the rules (limits, decisions, publish
folder) read on their own. Blocking work (decoding, the SSD, the model) runs
on a thread pool, never on the event loop; the faces of concurrent requests
are classified together in one batch.
"""
import asyncio
import concurrent.futures
import csv
import datetime
import io
import os
import threading
import uuid
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from liveness.detector import create_detector
from liveness.digests import file_sha256
from liveness.metadata import read_metadata
from liveness.metrics import FAKE, NOT_SURE, REAL, decide
from liveness.quiet import import_tensorflow

NO_FACE = "no_face"


class ApiError(Exception):
    """An answer for the client: an HTTP status and a one-line reason."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Settings:
    model: str
    le: str
    detector: str = None
    detector_type: str = "ssd"
    confidence: float = 0.5
    threshold: float = None
    band: tuple = None
    bona_fide: str = "real"
    publish: str = None
    publish_max_mb: float = 1024.0
    max_upload_mb: float = 10.0
    max_megapixels: float = 40.0
    threads: int = 2
    verbose: bool = False
    api_keys: str = None
    rate_limit: str = None
    max_pending: int = 8
    docs: bool = False
    metrics_private: bool = False


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


def image_decision(decisions):
    """One decision for a whole image: any fake face makes it fake, then any unsure one."""
    if not decisions:
        return NO_FACE
    for d in (FAKE, NOT_SURE):
        if d in decisions:
            return d
    return REAL


class RoiBatcher:
    """Classifies the faces of concurrent requests in one model call."""

    def __init__(self, classifier, executor, max_batch=64):
        self.classifier, self.executor, self.max_batch = classifier, executor, max_batch
        self.queue = None

    async def score(self, rois):
        if not rois:
            return np.zeros((0, len(self.classifier.classes)), "float32")
        if self.queue is None:
            self.queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((rois, future))
        return await future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            count = len(jobs[0][0])
            while not self.queue.empty() and count < self.max_batch:
                jobs.append(self.queue.get_nowait())
                count += len(jobs[-1][0])
            rois = [roi for job_rois, _ in jobs for roi in job_rois]
            try:
                probabilities = await loop.run_in_executor(self.executor, self.classifier.predict, rois)
            except Exception as error:  # every waiting request hears of it; the loop goes on
                for _, future in jobs:
                    future.set_exception(error)
                continue
            start = 0
            for job_rois, future in jobs:
                future.set_result(probabilities[start:start + len(job_rois)])
                start += len(job_rois)


class Publisher:
    """Files each scored image under DIR/<decision>/ with a row in DIR/metadata.csv, up to a size cap."""

    COLUMNS = ["time", "file", "faces", "scores", "decision", "model_sha256", "key"]

    def __init__(self, folder, max_bytes):
        self.folder, self.max_bytes = folder, max_bytes
        os.makedirs(folder, exist_ok=True)
        self.used = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)
        self.lock = threading.Lock()
        self.full_reported = False
        self.metadata = os.path.join(folder, "metadata.csv")

    def save(self, data, extension, faces, decision, model_sha256, key_name="anonymous"):
        """Save one image; returns its path, or None once the cap is reached."""
        with self.lock:
            if self.used + len(data) > self.max_bytes:
                if not self.full_reported:
                    print(f"[WARNING] publish folder {self.folder} reached its cap; no more images are saved")
                    self.full_reported = True
                return None
            self.used += len(data)
        now = datetime.datetime.now(datetime.timezone.utc)
        name = f"{now:%Y%m%dT%H%M%S%f}_{uuid.uuid4().hex[:8]}{extension}"
        folder = os.path.join(self.folder, decision)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        row = io.StringIO()
        csv.writer(row).writerow([now.isoformat(), os.path.join(decision, name), len(faces),
                                  ";".join(f"{f['score']:.6f}" for f in faces), decision, model_sha256, key_name])
        with self.lock:
            new = not os.path.isfile(self.metadata)
            with open(self.metadata, "a", newline="") as f:
                if new:
                    csv.writer(f).writerow(self.COLUMNS)
                f.write(row.getvalue())  # the whole row in one write, after the image is in place
        return path


class LivenessService:
    """The model, loaded once, and everything a request needs."""

    def __init__(self, settings):
        self.settings = settings
        import_tensorflow(settings.verbose)
        from liveness.model_io import load_classifier

        self.classifier, self.threshold_source = load_classifier(settings.model, settings.le, settings.bona_fide,
                                                                 settings.threshold)
        self.threshold = self.classifier.threshold
        if settings.bona_fide not in self.classifier.classes:
            from liveness.errors import LivenessError

            raise LivenessError(f"the model has no '{settings.bona_fide}' class (its classes: "
                                f"{', '.join(self.classifier.classes)})")
        self.bona_column = self.classifier.classes.index(settings.bona_fide)
        self._new_detector()  # fail now, not on the first request
        self._local = threading.local()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.threads)
        self.batcher = RoiBatcher(self.classifier, self.executor)
        metadata = read_metadata(settings.model)
        trained = metadata.get("trained_at") or datetime.datetime.fromtimestamp(
            os.path.getmtime(settings.model), datetime.timezone.utc).isoformat()
        self.identity = {"file": os.path.basename(settings.model), "sha256": file_sha256(settings.model),
                         "trained_at": trained}
        self.publisher = Publisher(settings.publish, settings.publish_max_mb * 1e6) if settings.publish else None
        self.max_bytes = int(settings.max_upload_mb * 1e6)
        self.max_pixels = settings.max_megapixels * 1e6

    def _new_detector(self):
        return create_detector(self.settings.detector_type, self.settings.detector, self.settings.confidence)

    def _detector(self):
        # a cv2.dnn.Net must not run on two threads at once: one per pool thread
        if not hasattr(self._local, "detector"):
            self._local.detector = self._new_detector()
        return self._local.detector

    def _decode_and_detect(self, data):
        image, extension = decode_image(data, self.max_pixels)
        faces = self._detector().detect(image)
        rois = [self.classifier.crop(image, box) for box, _ in faces]
        return image.shape, extension, faces, rois

    async def score(self, data, key_name="anonymous"):
        """The JSON answer for one encoded image; `key_name` (never the key) is what the publish folder records."""
        loop = asyncio.get_running_loop()
        shape, extension, faces, rois = await loop.run_in_executor(self.executor, self._decode_and_detect, data)
        probabilities = await self.batcher.score(rois)
        scores = [float(p[self.bona_column]) for p in probabilities]
        decisions = list(decide(scores, self.threshold, self.settings.band)) if scores else []
        answer_faces = [{"box": list(box), "detector_confidence": round(confidence, 6), "score": score,
                         "decision": str(decision)}
                        for (box, confidence), score, decision in zip(faces, scores, decisions)]
        decision = image_decision(decisions)
        answer = {"faces": answer_faces, "decision": decision,
                  "image": {"width": int(shape[1]), "height": int(shape[0])},
                  "threshold": self.threshold, "band": list(self.settings.band) if self.settings.band else None,
                  "model": self.identity}
        if self.publisher is not None:
            await loop.run_in_executor(self.executor, self.publisher.save, data, extension, answer_faces, decision,
                                       self.identity["sha256"], key_name)
        return answer
