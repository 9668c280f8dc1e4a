"""Extra attack examples made from live recordings: each live frame replayed on a simulated phone.

Two people are too few to learn what a replay looks like apart from who is in
it. Replaying the live frames themselves gives attacks of the same people,
cameras and light, so what tells them apart is the replay: the phone's edge,
the hand, moire, gamut, glare (liveness.data.sample.simulate_replay).
"""
import numpy as np
from tqdm import tqdm

from liveness.data.sample import simulate_replay
from liveness.faces.crops import roi_to_input
from liveness.faces.recrop import source_frames


def synthetic_replays(paths, detector, crop, size, fraction, seed, in_front=False):
    """Model inputs for replays of a `fraction` of the live ROIs in `paths` (where the detector finds the face).

    `in_front`: the phone is filmed over the live frame itself rather than a plain wall.
    """
    rng = np.random.default_rng(seed)
    chosen = [p for p in paths if rng.random() < fraction]
    inputs = []
    for _, frame, box in tqdm(source_frames(chosen), total=len(chosen), desc="synthetic replays", unit="face"):
        replay = simulate_replay(frame, box, rng, in_front=in_front)
        faces = detector.detect(replay)
        if faces:
            inputs.append(roi_to_input(crop(replay, faces[0][0], size), size))
    return np.array(inputs, dtype="float32").reshape(-1, size[1], size[0], crop.channels)
