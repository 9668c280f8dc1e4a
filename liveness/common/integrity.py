"""What scores is what was checked: every file that decides a score, pinned by SHA-256 when it was made.

- A LiteRT export records its own SHA-256 (and its model's) in <export>.json when it is written; a
  replaced export is refused, never served in its model's name.
- A fusion records the SHA-256 of each file it is made of: its members, their metadata (crop, input
  size), the first member's export and that export's metadata. The fusion file's own SHA-256, which the
  service reports, then stands for all of them.
- The face detectors' files are checked against their published SHA-256 (liveness.faces.detectors).

The checks run wherever a model is loaded: each command's start, and each scoring process's start in the
service, so a file replaced while the service runs is refused at the next restart of a scorer.
"""
import os

from liveness.common.digests import current_sha256
from liveness.errors import LivenessError


def pin(paths, folder):
    """{path relative to `folder`: SHA-256} of the files in `paths` that exist."""
    return {os.path.relpath(os.path.abspath(p), folder): current_sha256(p) for p in paths if os.path.isfile(p)}


def check_pins(pins, folder, made, remake):
    """Refuse, in one line, the first pinned file that is missing or whose SHA-256 is not the one recorded.

    `made`: what recorded the pins (named in the error); `remake`: the command that makes it again.
    """
    for name, digest in sorted(pins.items()):
        path = os.path.normpath(os.path.join(folder, name))
        if not os.path.isfile(path):
            raise LivenessError(f"{path}, a part of {made}, is missing: {remake}")
        if current_sha256(path) != digest:
            raise LivenessError(f"{path} changed since {made} was made (its SHA-256 is not the one recorded): {remake}")


def check_file(path, digest, what, remake):
    """Refuse `path` unless its SHA-256 is `digest`."""
    if current_sha256(path) != digest:
        raise LivenessError(f"{path} is not the {what} it should be (its SHA-256 is not the published one): {remake}")
    return path
