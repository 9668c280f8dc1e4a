"""One camera: only what the capture page sends is a frame, frames arrive at a camera's pace, and a session's
frames change the way a camera watching a person changes them.

A photo sent as every frame, or as variants of itself (shifted, scaled, brightened, noised, re-encoded), or
panned and zoomed slowly, changes between frames by one global transform of one picture plus noise. A person in
front of a camera changes in ways no such transform explains: the head turns in depth, the eyes and mouth move,
the face moves against what is behind it. So each counted frame keeps a small grey patch of its face, and the
session measures how much of the change between its patches is left once the best affine transform, gain and
offset have explained what they can, with the noise low-passed away (`movement`).
"""
import base64
import functools
import hashlib
import io
import itertools

import cv2
import numpy as np
from PIL import Image

from liveness.errors import ApiError

MAX_FRAME_SIDES = (1920, 1080)  # a camera frame's longer and shorter side at most
JPEG_MAGIC = b"\xff\xd8\xff"
MIN_SPAN_S = 0.9  # the counted frames of a session span at least this much arrival time ("about a second")
PATCH_SIDE = 64  # the face patch the checks compare, in pixels
PATCH_SCALE = 1.3  # the patch's side as a multiple of the face box's longer side
LOWPASS_SIGMA = 2.5  # pixels of the patch: noise and JPEG blocks averaged away
RESIDUAL_PERCENTILE = 90  # of a pair's low-passed change inside the face (see `residual`)
# A session's movement is this percentile of its pairs' residuals: a twitch or a blink in two frames of ten shows
# in a fifth of the pairs, which the median missed (benchmarks/session_camera.py, round 3)
PAIR_PERCENTILE = 80
NEAR_DUPLICATE = 0.6  # mean absolute grey-level difference under which two face patches are the same picture
# A session whose face patches never change by more than this (grey levels, see `movement`) is a still picture
# moved around: chosen on ../shared so that no person's photo injections would have passed had that person been
# left out of the choice (benchmarks/session_camera.py, docs/accuracy.md), a named number.
STILL_RESIDUAL = 3.95
# A moving person shows more than two pictures in a session: two photos sent in turn move between every two frames
# and show two (benchmarks/session_attacks.py); each more photo an attacker needs is one more shot of the victim
MIN_PICTURES = 3
# Which earlier faces a face is matched against before it counts as a new picture, and how: "kept" (round 4: the
# earlier pictures' first faces, b aligned onto a), "kept_both_ways" (the same, the smaller of the two alignments'
# residuals: one that fails to converge must not make a copy new) or "every_both_ways" (every earlier face, both
# ways). Chosen on ../shared among these three by benchmarks/session_camera.py (round 5, docs/accuracy.md).
# Round 6 adds "votes_both_ways" and "votes": the session's faces grouped by average linkage of their pairs'
# same-picture votes (a group joins another while more than half their pairs are the same picture, both ways or
# the later aligned onto the earlier), so a face drifting slowly away from where it began is no longer one picture
# chained frame by frame, while one copy whose alignment fails is outvoted by the others. Not chosen: a printed
# photo turned slowly drifts as a face does and moved under them (round 6, docs/accuracy.md).
PICTURE_MATCH = "every_both_ways"
PICTURE_MATCHES = ("kept", "kept_both_ways", "every_both_ways", "votes_both_ways", "votes")


def check_jpeg(data):
    """(width, height) of a frame that is a JPEG of at most 1920x1080 either way round; 415 or 413 otherwise."""
    if not data.startswith(JPEG_MAGIC):
        raise ApiError(415, "a session frame is a JPEG, as the capture page sends it (multipart 'file')")
    try:
        header = Image.open(io.BytesIO(data))
        kind, (width, height) = header.format, header.size
    except Exception:
        raise ApiError(422, "the frame is not a readable JPEG") from None
    if kind != "JPEG":
        raise ApiError(415, "a session frame is a JPEG, as the capture page sends it (multipart 'file')")
    if max(width, height) > MAX_FRAME_SIDES[0] or min(width, height) > MAX_FRAME_SIDES[1]:
        raise ApiError(413, f"a frame of {width}x{height} pixels: a camera frame is at most 1920x1080")
    return width, height


def min_interval(frames_needed):
    """Seconds that must pass between two counted frames, so that a session spans at least MIN_SPAN_S."""
    return MIN_SPAN_S / max(1, frames_needed - 1)


def face_patch(image, box):
    """The face in `box` as a PATCH_SIDE x PATCH_SIDE grey patch (a square PATCH_SCALE times its longer side).
    Grey levels run 1-255; 0 marks what lies outside the frame, which the checks leave out."""
    (x0, y0, x1, y1) = (float(v) for v in box)
    side = PATCH_SCALE * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = PATCH_SIDE / max(side, 1.0)
    matrix = np.float32([[scale, 0, PATCH_SIDE / 2 - scale * cx], [0, scale, PATCH_SIDE / 2 - scale * cy]])
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    patch = cv2.warpAffine(np.maximum(grey, 1), matrix, (PATCH_SIDE, PATCH_SIDE), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.ones_like(grey), matrix, (PATCH_SIDE, PATCH_SIDE), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.where(inside > 0, patch, 0).astype(np.uint8)


def signature(image, box):
    """What the camera checks keep of a counted frame: its pixels' digest and its face patch (base64)."""
    return {"pixels": hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:32],
            "patch": base64.b64encode(face_patch(image, box).tobytes()).decode()}


def patch_of(sig):
    return np.frombuffer(base64.b64decode(sig["patch"]), np.uint8).reshape(PATCH_SIDE, PATCH_SIDE)


def duplicate_of(sig, earlier):
    """Whether a frame repeats an earlier one of its session: the same pixels, or a face patch that differs from
    one of theirs by less than NEAR_DUPLICATE grey levels on average."""
    patch = patch_of(sig).astype(np.float32)
    for other in earlier:
        if other["pixels"] == sig["pixels"] or np.abs(patch - patch_of(other)).mean() < NEAR_DUPLICATE:
            return True
    return False


_CENTRE = None


def _centre_mask():
    """The patch's inner ellipse: the face, without the patch's borders (which a warp leaves empty)."""
    global _CENTRE
    if _CENTRE is None:
        mask = np.zeros((PATCH_SIDE, PATCH_SIDE), np.uint8)
        cv2.ellipse(mask, (PATCH_SIDE // 2, PATCH_SIDE // 2), (int(PATCH_SIDE * 0.32), int(PATCH_SIDE * 0.38)), 0, 0,
                    360, 1, -1)
        _CENTRE = mask.astype(bool)
    return _CENTRE


def _filled(patch, seen):
    """The patch as floats, what lay outside the frame filled with the mean of what did not (no edge to align)."""
    patch = patch.astype(np.float32)
    return np.where(seen > 0, patch, patch[seen > 0].mean() if seen.any() else 0.0).astype(np.float32)


def residual(a, b, lowpass_sigma=LOWPASS_SIGMA, percentile=RESIDUAL_PERCENTILE):
    """Grey levels of change between two face patches that no affine transform, gain and offset of one picture
    explain: b aligned onto a (OpenCV's ECC), the rest low-passed, its `percentile` inside the face where both
    patches saw the frame."""
    seen_a, seen_b = (a > 0).astype(np.float32), (b > 0).astype(np.float32)
    margin = np.ones((7, 7), np.uint8)
    both = (cv2.erode(seen_a, margin) > 0) & (cv2.erode(seen_b, margin) > 0)
    a, b = _filled(a, seen_a), _filled(b, seen_b)
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(a, b, warp, cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5),
                                       both.astype(np.uint8), 5)
    except cv2.error:  # no affine transform fits at all: the two patches do not show one picture
        warp = np.eye(2, 3, dtype=np.float32)
    flags = cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP
    aligned = cv2.warpAffine(b, warp, (PATCH_SIDE, PATCH_SIDE), flags=flags)
    covered = cv2.warpAffine(seen_b, warp, (PATCH_SIDE, PATCH_SIDE), flags=flags) > 0.999
    inside = _centre_mask() & covered & (cv2.erode(seen_a, np.ones((3, 3), np.uint8)) > 0)
    if inside.sum() < 100:
        return float("inf")  # aligned far off: nothing of one picture is left in common
    design = np.stack([aligned[inside], np.ones(int(inside.sum()), np.float32)], 1)
    (gain, offset), *_ = np.linalg.lstsq(design, a[inside], rcond=None)
    rest = np.where(inside, a - (gain * aligned + offset), 0).astype(np.float32)
    weight = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), lowpass_sigma)
    low = cv2.GaussianBlur(rest, (0, 0), lowpass_sigma) / np.maximum(weight, 1e-3)
    return float(np.percentile(np.abs(low[inside]), percentile))


def distinct_pictures(signatures, still_residual=STILL_RESIDUAL, match=PICTURE_MATCH):
    """The indices of the frames that are not one still picture again: a face patch whose `residual` to an earlier
    one (`match` says which, and how: PICTURE_MATCH) is under `still_residual` is that picture shifted, scaled,
    brightened, noised or re-encoded. Two photos sent in turn move between every two frames, yet are two pictures."""
    if match not in PICTURE_MATCHES:
        raise ValueError(f"match must be one of {PICTURE_MATCHES}, not {match!r}")
    both_ways, kept = match not in ("kept", "votes"), []
    if match.startswith("votes"):
        return _voted_pictures(signatures, still_residual, both_ways)
    for index, sig in enumerate(signatures):
        earlier = range(index) if match == "every_both_ways" else kept
        if not any(_same_picture(signatures[k]["patch"], sig["patch"], still_residual, both_ways) for k in earlier):
            kept.append(index)
    return kept


def _voted_pictures(signatures, still_residual, both_ways):
    """The first face of each group of faces that average linkage of their pairs' same-picture votes keeps apart:
    two groups join while more than half of the pairs between them are the same picture."""
    from sklearn.cluster import AgglomerativeClustering

    if len(signatures) < 2:
        return list(range(len(signatures)))
    apart = np.zeros((len(signatures), len(signatures)))
    for i, j in itertools.combinations(range(len(signatures)), 2):
        same = _same_picture(signatures[i]["patch"], signatures[j]["patch"], still_residual, both_ways)
        apart[i, j] = apart[j, i] = 0.0 if same else 1.0
    groups = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=0.5).fit(apart).labels_
    return sorted({label: index for index, label in reversed(list(enumerate(groups)))}.values())


def _same_picture(earlier, later, still_residual, both_ways):
    """Whether `later` is `earlier` again: aligned onto it (or, `both_ways`, it onto `later`) under the cut. The
    second alignment runs only when the first leaves it apart: this runs after every frame of a still session."""
    if _pair_residual(earlier, later) < still_residual:
        return True
    return both_ways and _pair_residual(later, earlier) < still_residual


def movement(signatures, pair_percentile=PAIR_PERCENTILE):
    """The `pair_percentile` of the `residual` over every two of a session's face patches: how far it is from one
    still picture. Not the largest: one frame the alignment fails on (a detector's box off for a frame) must not
    make a photo look alive."""
    pairs = [_pair_residual(a["patch"], b["patch"]) for a, b in itertools.combinations(signatures, 2)]
    return float(np.percentile(pairs, pair_percentile)) if pairs else 0.0


@functools.lru_cache(maxsize=8192)  # the rule's choice decides one window's pairs many times over
def _pair_residual(a, b):
    return residual(patch_of({"patch": a}), patch_of({"patch": b}))
