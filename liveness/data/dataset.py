"""A dataset folder of face ROIs: dataset/<class>/*.png, labels from folder names."""
import os
import sys

import numpy as np

from liveness.errors import LivenessError
from liveness.faces.crops import Crop, roi_to_input
from liveness.faces.media import list_images, read_image
from liveness.faces.recrop import recrop


def class_folders(folder, lister=list_images, minimum=2):
    """{class name: folder} for the subfolders of `folder` holding files `lister` finds; at least `minimum`."""
    if not os.path.isdir(folder):
        raise LivenessError(f"dataset folder not found: {folder}")
    classes = {name: os.path.join(folder, name) for name in sorted(os.listdir(folder))
               if os.path.isdir(os.path.join(folder, name)) and lister(os.path.join(folder, name))}
    if not classes:
        raise LivenessError(f"{folder} has no class subfolders with files to use (expected {folder}/real, {folder}/fake, ...)")
    if len(classes) < minimum:
        raise LivenessError(f"{folder} has only one class ({next(iter(classes))}); liveness needs two or more")
    return classes


def load_rois(folder, size, crop=Crop()):
    """(data, labels, paths, skipped): ROIs scaled to [0, 1] at `size` (width, height).

    With a `crop` other than the tight box, each face is cut again from its
    source frame (see liveness.faces.recrop, liveness.faces.crops). Files that do not decode are skipped
    with a warning and counted.
    """
    entries = [(label, path) for label, class_folder in class_folders(folder).items()
               for path in list_images(class_folder)]
    crops = recrop([path for _, path in entries], crop, size) if not crop.is_tight else None
    data, labels, paths, skipped = [], [], [], 0
    for label, path in entries:
        image = crops[path] if crops is not None else read_image(path)
        if image is None:
            print(f"[WARNING] skipping {path}: not a decodable image", file=sys.stderr)
            skipped += 1
            continue
        data.append(roi_to_input(image, size))
        labels.append(label)
        paths.append(path)
    if len(set(labels)) < 2:
        raise LivenessError(f"{folder} has decodable images in fewer than two classes")
    return np.array(data, dtype="float32"), np.array(labels), paths, skipped
