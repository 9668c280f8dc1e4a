"""One person: every judged frame of a session, and every repeated one, shows the same face.

dlib's face recognition ResNet (128-d descriptors, CC0, from the face-recognition-models package) on the face
the detector found, aligned by dlib's 5-point shape predictor (CC0, same package). Frames whose face is farther
than SAME_PERSON from the session's medoid face show someone else.
"""
import numpy as np

from liveness.errors import LivenessError

# dlib's own cut for "same person" (its ResNet's documented threshold). Measured here on ../shared: one person's
# frames sit at a median 0.37 from each other, two persons at least 0.68 apart (docs/service.md).
SAME_PERSON = 0.6
CHIP_SIDE = 150  # dlib's aligned face chip, as its ResNet was trained on


class FaceIdentity:
    """dlib's shape predictor and ResNet, loaded once; `describe` gives a face's 128-d descriptor."""

    def __init__(self):
        try:
            import dlib
            import face_recognition_models as models
        except ImportError:
            raise LivenessError("liveness sessions need dlib-bin and face-recognition-models "
                                "(pip install -r requirements.txt)") from None
        self.dlib = dlib
        self.shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self.network = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def landmarks(self, image_bgr, box):
        """dlib's 5 landmarks of the face in `box` (two corners of each eye, the base of the nose), [(x, y)]."""
        return [(p.x, p.y) for p in self._shape(np.ascontiguousarray(image_bgr[:, :, ::-1]), box).parts()]

    def _shape(self, rgb, box):
        (x0, y0, x1, y1) = (int(v) for v in box)
        return self.shape(rgb, self.dlib.rectangle(x0, y0, x1, y1))

    def describe(self, image_bgr, box):
        """The face in `box` of a BGR frame as a 128-d descriptor (a list of floats)."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        landmarks = self._shape(rgb, box)
        chip = self.dlib.get_face_chip(rgb, landmarks, CHIP_SIDE, 0.25)
        return [round(float(v), 5) for v in self.network.compute_face_descriptor(chip)]


def stranger_cut(distances, same_person=SAME_PERSON, spread=None, floor=None):
    """The distance to the medoid beyond which a face is someone else: dlib's `same_person`, or, where the
    session's own faces sit close together, `spread` times their median distance (never under `floor`). A
    webcam's frames of one person sit tight; a photo of someone who looks alike sits at the cut's edge."""
    if spread is None or not len(distances):
        return same_person
    return min(same_person, max(floor or 0.0, spread * float(np.median(distances))))


def medoid_distances(descriptors, also=()):
    """Each descriptor's distance to the medoid (the descriptor nearest all the others), then each of `also`'s:
    faces that must be the same person too but do not get a say in which face is the medoid."""
    if not descriptors:
        return [0.0] * len(also)
    points = np.asarray(descriptors, np.float64)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    medoid = points[int(distances.sum(1).argmin())]
    everyone = np.asarray([*descriptors, *also], np.float64)
    return [float(d) for d in np.linalg.norm(everyone - medoid, axis=1)]
