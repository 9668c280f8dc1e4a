"""Face crops at another scale, cut again from the frames the ROIs came from.

gather_examples.py saves the tight face box (as the original) and, in
manifest.csv, the source recording (a video or an image set), frame and box of every ROI: enough to cut a
larger context crop later (--crop-scale) without gathering again.
"""
import os

from liveness.common.provenance import Manifests
from liveness.errors import LivenessError
from liveness.faces.media import read_frames


def source_frames(paths):
    """Yield (ROI path, its source frame, its box) for each path, each source recording decoded once."""
    manifests, wanted = Manifests(), {}
    for path in paths:
        row = manifests.row(path)
        if row is None:
            raise LivenessError(f"{path} has no row in {os.path.dirname(path)}/manifest.csv: a crop other than the tight box or a "
                                "synthetic replay needs the gather manifest to find its source frame")
        source, frame = row["source"], int(row["frame"])
        box = tuple(int(row[k]) for k in ("startX", "startY", "endX", "endY"))
        if not os.path.exists(source):  # a video file, or an image set's folder
            raise LivenessError(f"source recording {source} of {path} is missing")
        wanted.setdefault(source, {}).setdefault(frame, []).append((path, box))
    found = set()
    for source, frames in wanted.items():
        for index, frame in read_frames(source, select=lambda i: i in frames):
            for path, box in frames.get(index, []) if frame is not None else []:
                found.add(path)
                yield path, frame, box
    missing = [p for p in paths if p not in found]
    if missing:
        raise LivenessError(f"could not find the source frame of {missing[0]}")


def recrop(paths, crop, size):
    """{ROI path: its crop under `crop` (a liveness.faces.crops.Crop)} cut from each ROI's source frame.

    `size` is the model's input size, which crops of several scales are resized to.
    """
    return {path: crop(frame, box, size) for path, frame, box in source_frames(paths)}
