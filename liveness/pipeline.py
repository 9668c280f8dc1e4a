"""One frame in, its faces scored: the demo's per-frame step (detect every k-th frame, classify, smooth)."""
from collections import deque
from dataclasses import dataclass

import numpy as np

from liveness.common.cores import usable_cores
from liveness.faces.detectors import iou


@dataclass
class ScoredFace:
    box: tuple  # (startX, startY, endX, endY) in frame pixels
    confidence: float  # the face detector's probability
    probabilities: np.ndarray  # the liveness model's class probabilities
    label: str  # the winning class
    score: float  # its probability


def score_faces(frame, detector, classifier):
    """Detect the faces of a BGR frame and classify them all in one batch."""
    return classify_faces(frame, detector.detect(frame), classifier)


def classify_faces(frame, faces, classifier):
    """Classify the given (box, confidence) faces of a frame in one batch."""
    return scored_faces(faces, classifier.predict([classifier.crop(frame, box) for box, _ in faces]), classifier)


def scored_faces(faces, probabilities, classifier):
    """A ScoredFace for each (box, confidence) face and its class probabilities."""
    return [ScoredFace(box, confidence, p, *classifier.label(p)) for (box, confidence), p in zip(faces, probabilities)]


# frames a fusion's answers may lag in a stream: the second network's thread has that many frames' time to finish
# (waiting for it took 0.5 ms a frame at 1 and 0.25 ms at 2 on subjA_real.mov, docs/speed.md)
LATE_FRAMES = 2


class StreamScorer:
    """Faces of consecutive video frames, with the face detector run on every k-th frame only.

    The SSD costs most of a frame's time, and a face moves little in a frame or
    two: between detections the last boxes are kept and the faces in them are
    classified afresh, so every frame still gets its own liveness score. While
    no face is found, or one is found only just (detector confidence under
    `sure`), the detector runs on every frame: that is where a face comes and
    goes between one frame and the next.
    """

    def __init__(self, detector, classifier, detect_every=1, sure=0.8, smooth=1):
        self.detector, self.classifier, self.detect_every = detector, classifier, max(1, detect_every)
        if hasattr(classifier, "members_side_by_side") and usable_cores() > 1:
            classifier.members_side_by_side()  # a fusion's two networks at once: a stream has the cores to itself
        self.sure = sure
        self.since_detection, self.faces = None, []
        self.smoother = Smoother(classifier, smooth) if smooth > 1 else None

    def _must_detect(self):
        if self.since_detection is None or self.since_detection + 1 >= self.detect_every:
            return True
        return not self.faces or min(confidence for _, confidence in self.faces) < self.sure

    def _boxes_of(self, frame):
        if self._must_detect():
            self.faces = self.detector.detect(frame)
            self.since_detection = 0
        else:
            self.since_detection += 1
        return self.faces

    def _smoothed(self, scored):
        return self.smoother(scored) if self.smoother else scored

    def __call__(self, frame):
        return self._smoothed(classify_faces(frame, self._boxes_of(frame), self.classifier))

    def stream(self, frames, late=LATE_FRAMES):
        """(frame, its scored faces) for each frame, in order, as __call__ scores them.

        A fusion's second network scores a frame on its own thread while this one detects, runs the first
        member and hands over the frames before: its answers come `late` frames late, and its time is
        spent on a core the rest of the stream leaves idle instead of being added to every frame's. With
        late=0 each frame is answered before the next is read (a camera, which films no faster than that).
        """
        if not (late > 0 and hasattr(self.classifier, "predict_later") and usable_cores() > 1):
            for frame in frames:
                yield frame, self(frame)
            return
        waiting = deque()
        for frame in frames:
            faces = list(self._boxes_of(frame))
            waiting.append((frame, faces, self.classifier.predict_later(frame, [box for box, _ in faces])))
            if len(waiting) > late:
                yield self._finished(*waiting.popleft())
        while waiting:
            yield self._finished(*waiting.popleft())

    def _finished(self, frame, faces, probabilities):
        return frame, self._smoothed(scored_faces(faces, probabilities(), self.classifier))


class Smoother:
    """A video-level decision: each face's probabilities averaged over its last N frames.

    Faces are followed from frame to frame by the overlap of their boxes; a
    face that overlaps none of the last frame's starts afresh.
    """

    def __init__(self, classifier, frames, overlap=0.3):
        self.classifier, self.frames, self.overlap = classifier, frames, overlap
        self.tracks = []  # (last box, deque of probabilities)

    def __call__(self, scored):
        tracks, taken = [], set()
        for face in scored:
            best, best_iou = None, self.overlap
            for i, (box, _) in enumerate(self.tracks):
                if i not in taken and iou(face.box, box) >= best_iou:
                    best, best_iou = i, iou(face.box, box)
            history = self.tracks[best][1] if best is not None else deque(maxlen=self.frames)
            if best is not None:
                taken.add(best)
            history.append(face.probabilities)
            tracks.append((face.box, history))
            face.probabilities = np.mean(history, axis=0)
            face.label, face.score = self.classifier.label(face.probabilities)
        self.tracks = tracks
        return scored
