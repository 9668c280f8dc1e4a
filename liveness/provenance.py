"""Where a face ROI came from: its recording and its person.

gather_examples.py names ROIs <recording>_<frame>.png and lists them in
manifest.csv; the person is the recording name up to its first underscore
(subjA_real -> subjA), as in ../shared/data.
"""
import csv
import os
import re

_FRAME_SUFFIX = re.compile(r"_\d{6}(_\d+)?$")


def recording_of(filename):
    """The recording a file belongs to: a video's own name, a gathered ROI's name without _<frame>."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    return _FRAME_SUFFIX.sub("", stem)


def subject_of(recording):
    """The person: the recording name up to its first underscore."""
    return recording.split("_", 1)[0]


def manifest_sources(folder):
    """{ROI file name: recording} from the folder's gather manifest.csv, or {} without one."""
    path = os.path.join(folder, "manifest.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        return {row["file"]: recording_of(row["source"]) for row in csv.DictReader(f) if row.get("file")}


def recordings_of(paths):
    """The recording of each file in `paths`, from manifests where present, else from the names."""
    manifests = {}
    recordings = []
    for path in paths:
        found = None
        for candidate in dict.fromkeys((path, os.path.realpath(path))):  # a linked ROI: its manifest is by the file
            folder = os.path.dirname(candidate)
            if folder not in manifests:
                manifests[folder] = manifest_sources(folder)
            found = found or manifests[folder].get(os.path.basename(candidate))
        recordings.append(found or recording_of(path))
    return recordings
