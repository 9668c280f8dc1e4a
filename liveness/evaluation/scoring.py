"""Scoring a labelled folder: dataset/<class>/ holding face ROIs, videos, or both.

Each face becomes one row: where it came from (file, recording, person,
frame), its true class, the face box and the liveness score (the bona fide
class's probability). Videos always go through the face detector (the most
confident face of each frame); still images are taken as ROIs, or with
detect=True as full photos that go through the detector too.
"""
import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from liveness.common.provenance import origins_of, recording_of, subject_of
from liveness.data.dataset import class_folders
from liveness.errors import LivenessError
from liveness.faces.media import is_recording, list_media, read_frames, read_image
from liveness.faces.recrop import recrop

BATCH = 64


@dataclass
class FaceRow:
    file: str
    recording: str
    subject: str
    frame: int
    label: str
    score: float = 0.0
    box: tuple = ()
    detector_confidence: float = field(default=float("nan"))
    roi: np.ndarray = field(default=None, repr=False)


def _faces_of_video(path, label, detector, skip, classifier):
    recording = recording_of(path)
    # frames skip, 2*skip, ... counting from one; the others are only grabbed, not converted
    for index, frame in read_frames(path, select=lambda i: (i + 1) % skip == 0):
        if frame is None:
            continue
        faces = detector.detect(frame)
        if not faces:
            yield None
            continue
        (startX, startY, endX, endY), confidence = faces[0]
        yield FaceRow(path, recording, subject_of(recording), index, label, box=(startX, startY, endX, endY),
                      detector_confidence=confidence, roi=classifier.crop(frame, (startX, startY, endX, endY)))


def _face_of_image(path, label, detector, detect, origin, classifier, recropped):
    recording, frame = origin  # a gathered ROI's recording and frame, from its manifest
    image = read_image(path)  # unreadable: one line and a non-zero exit; undecodable: skipped
    if image is None:
        print(f"[WARNING] skipping {path}: not a decodable image", file=sys.stderr)
        return "skipped"
    if not detect:
        (h, w) = image.shape[:2]
        return FaceRow(path, recording, subject_of(recording), frame, label, box=(0, 0, w, h),
                       roi=recropped.get(path, image))
    faces = detector.detect(image)
    if not faces:
        return None
    (startX, startY, endX, endY), confidence = faces[0]
    return FaceRow(path, recording, subject_of(recording), frame, label, box=(startX, startY, endX, endY),
                   detector_confidence=confidence, roi=classifier.crop(image, (startX, startY, endX, endY)))


def score_folder(folder, classifier, bona_fide, detector=None, detect=False, skip=1, keep_rois=False):
    """(rows, counts) for every face in a labelled folder; counts: no_face, skipped images."""
    # one class is enough to evaluate: a person with only live faces gives BPCER, one with only attacks APCER
    classes = class_folders(folder, list_media, minimum=1)
    if bona_fide not in classes and len(classes) > 1:
        raise LivenessError(f"{folder} has no '{bona_fide}' class folder (the bona fide class; see --bona-fide)")
    if bona_fide not in classifier.classes:
        raise LivenessError(f"the model has no '{bona_fide}' class (its classes: {', '.join(classifier.classes)})")
    column = classifier.classes.index(bona_fide)
    rows, pending, counts = [], [], {"no_face": 0, "skipped": 0}

    def flush():
        probabilities = classifier.predict([r.roi for r in pending])
        for row, p in zip(pending, probabilities):
            row.score = float(p[column])
            if not keep_rois:
                row.roi = None
        rows.extend(pending)
        pending.clear()

    items = [(label, path) for label, class_folder in classes.items() for path in list_media(class_folder)]
    rois = [path for _, path in items if not is_recording(path)]
    origins = dict(zip(rois, origins_of(rois)))
    # ROIs taken as they are must be cut again when the model looks at a larger crop
    recropped = recrop(rois, classifier.cropper, classifier.size) if not classifier.cropper.is_tight and not detect and rois else {}
    for label, path in tqdm(items, desc=f"scoring {folder}", unit="file"):
        if is_recording(path):
            if detector is None:
                raise LivenessError("videos need the face detector")
            faces = _faces_of_video(path, label, detector, skip, classifier)
        else:
            faces = [_face_of_image(path, label, detector, detect, origins[path], classifier, recropped)]
        for face in faces:
            if face is None:
                counts["no_face"] += 1
            elif face == "skipped":
                counts["skipped"] += 1
            else:
                pending.append(face)
                if len(pending) >= BATCH:
                    flush()
    flush()
    if not rows:
        raise LivenessError(f"no faces found in {folder}")
    return rows, counts
