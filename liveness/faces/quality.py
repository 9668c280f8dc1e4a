"""How well the camera saw a face: its size, brightness, contrast and sharpness, one definition for every use.

A liveness session turns a badly seen face into "try again" with the reason instead of a guess
(liveness.sessions); the same numbers describe a face in the service's answers.
"""
import cv2

SHARPNESS_SIDE = 96  # the face is measured at this size, so sharpness does not grow with the face's size in pixels


def face_quality(frame, box):
    """{size: the box's shorter side in pixels, brightness: mean grey level 0-255, contrast: its standard deviation,
    sharpness: variance of the Laplacian of the face at 96x96} of the face in `box` of a BGR frame."""
    (start_x, start_y, end_x, end_y) = (int(v) for v in box)
    height, width = frame.shape[:2]
    face = frame[max(0, start_y):min(height, end_y), max(0, start_x):min(width, end_x)]
    if face.size == 0:
        return {"size": 0, "brightness": 0.0, "contrast": 0.0, "sharpness": 0.0}
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    fixed = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return {"size": int(min(end_x - start_x, end_y - start_y)), "brightness": round(float(grey.mean()), 2),
            "contrast": round(float(grey.std()), 2),
            "sharpness": round(float(cv2.Laplacian(fixed, cv2.CV_64F).var()), 2)}


def quality_problem(quality, min_size, min_brightness, min_sharpness):
    """The first reason a face was seen too badly to judge, or None: face_too_small, too_dark, too_blurred."""
    if quality["size"] < min_size:
        return "face_too_small"
    if quality["brightness"] < min_brightness:
        return "too_dark"
    if quality["sharpness"] < min_sharpness:
        return "too_blurred"
    return None

