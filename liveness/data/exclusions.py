"""Frames whose recording's label does not hold: left out of gathering and of evaluation.

An attack recording can show a live face too: the person holding the phone,
before the phone comes up or after it goes down. The detector may find that
face instead of the replayed one, and it would go into the dataset, or into
the metrics, as an attack. An exclusion file names such frames, as CSV with
a header:

    recording,first_frame,last_frame,reason
    subjA_fake,0,23,the live person beside the phone

`recording` is the video's file name without its extension (as manifest.csv
and scores.csv name it), frames count from zero, both ends included.
"""
import csv
import os

from liveness.errors import LivenessError

COLUMNS = ("recording", "first_frame", "last_frame")


class Exclusions:
    """{recording: [(first, last), ...]}; empty excludes nothing."""

    def __init__(self, ranges=None):
        self.ranges = ranges or {}

    def __len__(self):
        return sum(len(r) for r in self.ranges.values())

    def excludes(self, recording, frame):
        return any(first <= frame <= last for first, last in self.ranges.get(recording, ()))


def load_exclusions(path):
    """The exclusions in CSV file `path`; None gives none."""
    if path is None:
        return Exclusions()
    if not os.path.isfile(path):
        raise LivenessError(f"exclusion file not found: {path}")
    ranges = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LivenessError(f"{path} lacks the column(s) {', '.join(missing)} (needs {', '.join(COLUMNS)})")
        for line, row in enumerate(reader, start=2):
            try:
                first, last = int(row["first_frame"]), int(row["last_frame"])
            except (TypeError, ValueError):
                raise LivenessError(f"{path}, line {line}: first_frame and last_frame must be whole numbers") from None
            if not row["recording"] or first < 0 or last < first:
                raise LivenessError(f"{path}, line {line}: needs a recording and 0 <= first_frame <= last_frame")
            ranges.setdefault(row["recording"], []).append((first, last))
    return Exclusions(ranges)


def add_exclude_argument(ap, what):
    ap.add_argument("--exclude", metavar="CSV", default=None,
                    help=f"frames whose recording's label does not hold (recording,first_frame,last_frame[,reason]), {what}")
