"""The scoring behind liveness_api.py: decisions from the scorers' probabilities, the publish folder.

Kept apart from the HTTP layer so the rules (limits, decisions, publish
folder) read on their own. The blocking work (decoding, the SSD, the model)
runs in scoring processes (liveness.service.scorers), never on the event loop.
"""
import asyncio
import concurrent.futures
import contextlib
import csv
import datetime
import io
import json
import os
import shutil
import threading
import uuid
from dataclasses import dataclass

from liveness.common.digests import file_sha256
from liveness.common.provenance import spreadsheet_safe
from liveness.errors import LivenessError
from liveness.evaluation.metrics import FAKE, NOT_SURE, REAL, decide
from liveness.models.metadata import read_metadata
from liveness.service.scorers import ScorerPool
from liveness.service.shared_state import MEMORY, PublishQuota

NO_FACE = "no_face"


@dataclass
class Settings:
    model: str
    le: str
    detector: str = None
    detector_type: str = None  # None: the one the model names, else the SSD
    confidence: float = None  # None: the detector's own default
    threshold: float = None
    band: tuple = None
    bona_fide: str = "real"
    publish: str = None
    publish_max_mb: float = 1024.0
    max_upload_mb: float = 10.0
    max_megapixels: float = 40.0
    scorers: int = 2
    verbose: bool = False
    api_keys: str = None
    rate_limit: str = None
    state: str = MEMORY  # where the rate limit and the publish quota are counted (liveness.service.shared_state)
    max_pending: int = 8
    max_uploads: int = 256  # bodies being received at once; they hold no scoring slot
    body_timeout: float = 10.0  # seconds a request body may take to arrive
    docs: bool = False
    metrics_private: bool = False
    session_ttl: float = 180.0  # seconds a liveness session lives
    max_sessions_per_key: int = 20  # open sessions a key (or, without keys, a client address) may hold
    max_sessions: int = 200  # open sessions of everyone together
    session_owner_mb: float = 40.0  # frame bytes held for one key's (or address's) sessions
    session_total_mb: float = 200.0  # frame bytes held for all sessions
    frame_ancestors: str = "'self'"  # the origins that may frame the capture page (CSP frame-ancestors)
    operating_point: str = "secure"  # a session's: secure or balanced (liveness.sessions.rule)


def image_decision(decisions):
    """One decision for a whole image: any fake face makes it fake, then any unsure one."""
    if not decisions:
        return NO_FACE
    for d in (FAKE, NOT_SURE):
        if d in decisions:
            return d
    return REAL


class Publisher:
    """Files each scored image under DIR/<decision>/ with a row in DIR/metadata.csv, up to a size cap.

    The cap is counted where `state` says, so workers and replicas that share the folder share the cap.
    """

    COLUMNS = ["time", "file", "faces", "scores", "decision", "model_sha256", "key"]

    def __init__(self, folder, max_bytes, state=MEMORY):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.remove_stale(folder)
        self.quota = PublishQuota(state, folder, max_bytes, self.bytes_on_disk)
        self.lock = threading.Lock()
        self.full_reported = False
        self.metadata = os.path.join(folder, "metadata.csv")

    def bytes_on_disk(self):
        """What the folder holds, as the quota counts it: every file but half-written ones and the folder's id."""
        total = 0
        for root, _, files in os.walk(self.folder):
            for name in files:
                if not self.is_temporary(name) and name != PublishQuota.ID_FILE:
                    with contextlib.suppress(FileNotFoundError):
                        total += os.path.getsize(os.path.join(root, name))
        return total

    @staticmethod
    def is_temporary(name):
        """An image being written (".<name>.tmp"): never counted, never kept past a restart."""
        return name.startswith(".") and name.endswith(".tmp")

    @classmethod
    def remove_stale(cls, folder):
        """Half-written images and session folders left by a service that was killed while writing them."""
        removed = 0
        for root, folders, files in os.walk(folder):
            for name in [d for d in folders if cls.is_temporary(d)]:  # a session folder being written
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                folders.remove(name)
                removed += 1
            for name in files:
                if cls.is_temporary(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(root, name))
                        removed += 1
        if removed:
            print(f"[INFO] removed {removed} half-written image(s) from the publish folder {folder}", flush=True)

    def reserve(self, nbytes):
        """Whether `nbytes` more fit under the cap (and are now counted); says so once when the folder is full."""
        if self.quota.reserve(nbytes):
            return True
        if not self.full_reported and not self.quota.outage.lost:
            print(f"[WARNING] publish folder {self.folder} reached its cap; no more images are saved", flush=True)
            self.full_reported = True
        return False

    def append_row(self, when, file, faces, scores, decision, model_sha256, key_name):
        """One row of metadata.csv, written whole, after what it names is in place."""
        row = io.StringIO()
        csv.writer(row).writerow([when.isoformat(), file, faces, ";".join(f"{s:.6f}" for s in scores), decision,
                                  model_sha256, spreadsheet_safe(key_name)])
        with self.lock:
            new = not os.path.isfile(self.metadata)
            with open(self.metadata, "a", newline="") as f:
                if new:
                    csv.writer(f).writerow(self.COLUMNS)
                f.write(row.getvalue())

    def save(self, data, extension, faces, decision, model_sha256, key_name="anonymous"):
        """Save one image; returns its path, or None once the cap is reached."""
        if not self.reserve(len(data)):
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        name = f"{now:%Y%m%dT%H%M%S%f}_{uuid.uuid4().hex[:8]}{extension}"
        folder = os.path.join(self.folder, decision)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        self.append_row(now, os.path.join(decision, name), len(faces), [f["score"] for f in faces], decision,
                        model_sha256, key_name)
        return path

    def save_session(self, session_id, images, result, model_sha256, key_name="anonymous"):
        """A decided session as one folder, sessions/<id>/ (its audit frames as frame_NN.jpg and result.json),
        and one row; written under a temporary name and renamed whole. Returns the folder, or None if full."""
        document = (json.dumps(result, indent=2) + "\n").encode()
        if not self.reserve(len(document) + sum(len(data) for _, data in images)):
            return None
        parent = os.path.join(self.folder, "sessions")
        os.makedirs(parent, exist_ok=True)
        final, tmp = os.path.join(parent, session_id), os.path.join(parent, f".{session_id}.tmp")
        os.makedirs(tmp, exist_ok=True)
        for index, data in images:
            with open(os.path.join(tmp, f"frame_{index:02d}.jpg"), "wb") as f:
                f.write(data)
        with open(os.path.join(tmp, "result.json"), "wb") as f:
            f.write(document)
        os.rename(tmp, final)
        scores = [f["score"] for f in result.get("frames", []) if f.get("score") is not None]
        self.append_row(datetime.datetime.now(datetime.timezone.utc), os.path.join("sessions", session_id),
                        len(result.get("frames", [])), scores, result.get("decision"), model_sha256, key_name)
        return final


class LivenessService:
    """The scoring processes, the model's identity and threshold, and the publish folder."""

    def __init__(self, settings):
        self.settings = settings
        self.pool = ScorerPool(settings, settings.scorers)  # bad input fails here, in one line
        described = self.pool.description
        self.classes, self.threshold = described["classes"], described["threshold"]
        self.threshold_source = described["threshold_source"]
        if settings.bona_fide not in self.classes:
            self.pool.close()
            raise LivenessError(f"the model has no '{settings.bona_fide}' class (its classes: {', '.join(self.classes)})")
        self.bona_column = self.classes.index(settings.bona_fide)
        self.files = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="publish")
        metadata = read_metadata(settings.model)
        trained = metadata.get("trained_at") or datetime.datetime.fromtimestamp(
            os.path.getmtime(settings.model), datetime.timezone.utc).isoformat()
        # the model file's SHA-256 stands for every file that decides a score (each checked by the scorers
        # against what was recorded when it was made); `files` lists them as the scorers loaded them
        self.identity = {"file": os.path.basename(settings.model), "sha256": file_sha256(settings.model),
                         "trained_at": trained, "files": described["files"]}
        self.publisher = (Publisher(settings.publish, settings.publish_max_mb * 1e6, settings.state)
                          if settings.publish else None)
        self.max_bytes = int(settings.max_upload_mb * 1e6)

    async def score(self, data, key_name="anonymous", publish=True):
        """The JSON answer for one encoded image; `key_name` (never the key) is what the publish folder records.
        `publish`: False for a session's frames, which are published with their session (publish_session)."""
        shape, extension, faces, probabilities, qualities = await self.pool.score(data)
        scores = [float(p[self.bona_column]) for p in probabilities]
        decisions = list(decide(scores, self.threshold, self.settings.band)) if scores else []
        answer_faces = [{"box": [int(v) for v in box], "detector_confidence": round(float(confidence), 6),
                         "score": score, "decision": str(decision), "quality": quality}
                        for (box, confidence), score, decision, quality in zip(faces, scores, decisions, qualities)]
        decision = image_decision(decisions)
        answer = {"faces": answer_faces, "decision": decision,
                  "image": {"width": int(shape[1]), "height": int(shape[0])},
                  "threshold": self.threshold, "band": list(self.settings.band) if self.settings.band else None,
                  "model": self.identity}
        if self.publisher is not None and publish:
            await asyncio.get_running_loop().run_in_executor(
                self.files, self.publisher.save, data, extension, answer_faces, decision, self.identity["sha256"],
                key_name)
        return answer

    async def score_session_frame(self, data, kind):
        """One session frame of `kind` (liveness.sessions.flow's COUNTED, CHALLENGE or CHALLENGE_START): (frame
        size, [{box, score, quality}], checks): `checks` holds the frame's brightness and, for a frame with the
        face a session wants, {signature, pose} and the descriptor where the kind needs it. A challenge frame's
        faces have no score. No decision per face: the session decides."""
        shape, _, faces, probabilities, qualities, checks = await self.pool.score(data, session=kind)
        answer_faces = [{"box": [int(v) for v in box], "score": None if p is None else float(p[self.bona_column]),
                         "quality": quality} for (box, _), p, quality in zip(faces, probabilities, qualities)]
        return (int(shape[1]), int(shape[0])), answer_faces, checks

    async def publish_session(self, session_id, images, result, key_name):
        """With --publish, a decided session's folder and row (Publisher.save_session), off the event loop."""
        if self.publisher is not None:
            await asyncio.get_running_loop().run_in_executor(
                self.files, self.publisher.save_session, session_id, images, result, self.identity["sha256"], key_name)

    def close(self):
        self.pool.close()
        self.files.shutdown(wait=False)
