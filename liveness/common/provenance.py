"""Where a face ROI came from: its recording and its person.

gather_examples.py names ROIs <recording>_<frame>.png and lists them in
manifest.csv; the person is the recording name up to its first underscore
(subjA_real -> subjA), as in ../shared/data.
"""
import csv
import os
import re

_FRAME_SUFFIX = re.compile(r"_\d{6}(_\d+)?$")
# a cell a spreadsheet would run as a formula (OWASP's CSV injection): written with a leading apostrophe
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A CSV cell from a file or key name, neutralised if a spreadsheet would take it for a formula;
    the name stays readable ('=HYPERLINK(...) shows as =HYPERLINK(...) in a spreadsheet)."""
    cell = str(cell)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def from_spreadsheet_safe(cell):
    """The name spreadsheet_safe wrote."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def recording_of(filename):
    """The recording a file belongs to: a video's own name, a gathered ROI's name without _<frame>."""
    if os.path.isdir(filename):  # an image set: the folder's whole name, dots included
        return os.path.basename(os.path.normpath(filename))
    stem = os.path.splitext(os.path.basename(filename))[0]
    return _FRAME_SUFFIX.sub("", stem)


def subject_of(recording):
    """The person: the recording name up to its first underscore."""
    return recording.split("_", 1)[0]


NAME_COLUMNS = ("file", "source")  # the manifest's cells that come from file names


def manifest_rows(folder):
    """{ROI file name: its row} from the folder's gather manifest.csv, or {} without one."""
    path = os.path.join(folder, "manifest.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        rows = [{k: from_spreadsheet_safe(v) if k in NAME_COLUMNS and v else v for k, v in row.items()}
                for row in csv.DictReader(f)]
    return {row["file"]: row for row in rows if row.get("file")}


class Manifests:
    """The manifest row of any ROI path, each manifest read once.

    A linked ROI (cross_person.py links them into its folds) is looked up
    beside the file it links to when its own folder has no row for it.
    """

    def __init__(self):
        self._folders = {}

    def row(self, path):
        for candidate in dict.fromkeys((path, os.path.realpath(path))):
            folder = os.path.dirname(candidate)
            if folder not in self._folders:
                self._folders[folder] = manifest_rows(folder)
            row = self._folders[folder].get(os.path.basename(candidate))
            if row is not None:
                return row
        return None


def origins_of(paths):
    """(recording, frame) of each file in `paths`, from manifests where present, else from the names."""
    manifests = Manifests()
    origins = []
    for path in paths:
        row = manifests.row(path)
        if row:
            frame = row.get("frame") or ""
            origins.append((recording_of(row["source"]), int(frame) if frame.isdigit() else 0))
        else:
            match = _FRAME_SUFFIX.search(os.path.splitext(os.path.basename(path))[0])
            origins.append((recording_of(path), int(match.group(0)[1:7]) if match else 0))
    return origins


def recordings_of(paths):
    """The recording of each file in `paths`, from manifests where present, else from the names."""
    return [recording for recording, _ in origins_of(paths)]


def detector_of(paths):
    """The face detector whose boxes the ROIs in `paths` are: one name, or None when the manifests name
    none (ROIs from elsewhere, or gathered before manifests had the column) or several."""
    manifests = Manifests()
    named = {(manifests.row(path) or {}).get("detector") or None for path in paths}
    return next(iter(named)) if len(named) == 1 else None
