"""A built-in sample: a "real" clip and a "replay" clip made from one portrait.

It lets the whole pipeline (gather, train, demo) run on a fresh machine with no
webcam and no recordings. The portrait is scikit-image's astronaut (Eileen
Collins, NASA, public domain). The real clip films her with a hand-held camera
(slow motion, zoom breathing, sensor noise, exposure flicker); the replay clip
films the same portrait shown on a phone held in front of a wall (bezel, hand,
pixel grid and moire, narrower colour gamut, glare, hand shake).

It shows the pipeline working, not liveness accuracy: one synthetic person and
one synthetic screen are trivially told apart.
"""
import argparse
import itertools
import os

import cv2
import numpy as np

from liveness.common.atomic import atomic_path
from liveness.errors import LivenessError, exit_on_error

FACE_CENTER = (223.0, 114.0)  # the astronaut's face centre in the 512x512 portrait
FACE_WIDTH = 95.0  # and its width


def portrait():
    """The astronaut portrait as a BGR uint8 image (512x512)."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _camera_matrix(t, rng_phase, size, scale):
    """Affine map from portrait to frame: the face near the centre, drifting slowly."""
    (w, h) = size
    angle = 2.5 * np.sin(2 * np.pi * (0.11 * t + rng_phase[0]))
    zoom = scale * (1.0 + 0.05 * np.sin(2 * np.pi * (0.07 * t + rng_phase[1])))
    dx = 0.04 * w * np.sin(2 * np.pi * (0.09 * t + rng_phase[2]))
    dy = 0.03 * h * np.sin(2 * np.pi * (0.13 * t + rng_phase[3]))
    m = cv2.getRotationMatrix2D(FACE_CENTER, angle, zoom)
    m[0, 2] += w / 2 - FACE_CENTER[0] + dx
    m[1, 2] += 0.40 * h - FACE_CENTER[1] + dy
    return m


def _sensor(frame, rng, sigma, gain):
    noisy = frame.astype("float32") * gain + rng.normal(0, sigma, frame.shape)
    return np.clip(noisy, 0, 255).astype("uint8")


def real_frames(count, size=(640, 480), seed=0):
    """Frames of the portrait filmed live by a hand-held camera."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 1, 4)
    image = portrait()
    scale = 1.5 * size[1] / 480
    for i in range(count):
        t = i / 15.0
        m = _camera_matrix(t, phase, size, scale)
        frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        frame = _turn_head(frame, m, t, phase)
        gain = 1.0 + 0.03 * np.sin(2 * np.pi * 0.5 * t)
        yield _sensor(frame, rng, 3.0, gain)


def _turn_head(frame, m, t, phase):
    """The head turning a little from side to side: the middle of the face shifts more than its edges and the
    room behind stays, a change no single transform of the picture makes (as a person's face, not a photo's)."""
    (h, w) = frame.shape[:2]
    cx, cy = m @ np.array([FACE_CENTER[0], FACE_CENTER[1], 1.0])
    width = FACE_WIDTH * np.hypot(m[0, 0], m[0, 1])
    ys, xs = np.mgrid[0:h, 0:w].astype("float32")
    bump = np.exp(-(((xs - cx) / (0.45 * width)) ** 2 + ((ys - cy) / (0.6 * width)) ** 2))
    shift = 0.2 * width * np.sin(2 * np.pi * (1.0 * t + phase[0]))
    return cv2.remap(frame, (xs - shift * bump).astype("float32"), ys, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


# how far the middle of the face shifts, in face widths, for each head movement a challenge asks (the person's
# left is the image's right: the camera's frame is not a mirror)
MOVEMENTS = {"turn_left": (0.25, 0.0), "turn_right": (-0.25, 0.0), "look_up": (0.0, -0.2)}
MOVEMENT_PROFILE = (0.0, 0.4, 0.8, 1.0, 1.0, 1.0, 0.8, 0.4, 0.0)  # out and back, one value a frame


def _move_head(frame, xs, ys, cx, cy, width, turn, up):
    """The face in `frame` (centre cx, cy; `width` pixels wide) turned by `turn` (towards the image's right when
    positive: the nose shifts that way, the far half of the face is foreshortened) and looking up by `up` (the
    middle of the face shifts up)."""
    nose = np.exp(-(((xs - cx) / (0.25 * width)) ** 2 + ((ys - cy - 0.2 * width) / (0.35 * width)) ** 2))
    face = np.exp(-(((ys - cy) / (0.7 * width)) ** 2)) * np.clip(1 - np.abs(xs - cx) / (0.9 * width), 0, 1)
    far = np.where(np.sign(turn) * (xs - cx) > 0, (xs - cx) * (1 / (1 - abs(turn)) - 1) * face, 0)
    middle = np.exp(-(((xs - cx) / (0.28 * width)) ** 2 + ((ys - cy - 0.1 * width) / (0.35 * width)) ** 2))
    return cv2.remap(frame, (xs - turn * width * nose + far).astype("float32"),
                     (ys - up * width * middle).astype("float32"), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def head_movement_frames(steps, size=(640, 480), fps=8.0, lead_s=3.0, between_s=1.0, seed=0):
    """Frames of the portrait filmed live by a hand-held camera while the person does `steps` (head movements a
    challenge asks for, liveness.sessions.challenge.STEPS) in order: still for `lead_s` seconds, then each
    movement out and back, still for `between_s` after each. The middle of the face (the nose) shifts more
    than the eyes, so dlib's landmarks see the head turn or look up."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 1, 4)
    image = portrait()
    shifts = [(0.0, 0.0)] * int(round(lead_s * fps))
    for step in steps:
        (sx, sy) = MOVEMENTS[step]
        shifts += [(a * sx, a * sy) for a in MOVEMENT_PROFILE] + [(0.0, 0.0)] * int(round(between_s * fps))
    ys, xs = np.mgrid[0:size[1], 0:size[0]].astype("float32")
    for i, (sx, sy) in enumerate(shifts):
        m = _camera_matrix(i / fps, phase, size, 1.5 * size[1] / 480)
        frame = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cx, cy = m @ np.array([FACE_CENTER[0], FACE_CENTER[1], 1.0])
        width = FACE_WIDTH * np.hypot(m[0, 0], m[0, 1])
        frame = _move_head(frame, xs, ys, cx, cy, width, sx, sy)
        yield _sensor(frame, rng, 3.0, 1.0 + 0.03 * np.sin(2 * np.pi * 0.5 * i / fps))


def _wall(size, rng):
    """A plain room wall with a shelf and a poster: the scene behind the phone."""
    (w, h) = size
    y = np.linspace(0, 1, h)[:, None, None]
    x = np.linspace(0, 1, w)[None, :, None]
    base = np.array([150, 165, 175], "float32")
    wall = base * (0.75 + 0.25 * (1 - y)) * (0.9 + 0.1 * x)
    wall = wall + rng.normal(0, 4, (h, w, 3))
    wall = np.clip(wall, 0, 255).astype("uint8")
    cv2.rectangle(wall, (0, int(0.78 * h)), (w, int(0.82 * h)), (60, 80, 110), -1)
    cv2.rectangle(wall, (int(0.05 * w), int(0.15 * h)), (int(0.2 * w), int(0.45 * h)), (120, 70, 40), -1)
    return cv2.GaussianBlur(wall, (7, 7), 0)


def _screen_content(image, screen_size, center=FACE_CENTER, face_width=FACE_WIDTH):
    """What the phone shows: the picture cropped around the face, in a phone's gamut."""
    (sw, sh) = screen_size
    zoom = 0.62 * sw / face_width  # the face fills about 60% of the screen's width
    m = cv2.getRotationMatrix2D(center, 0, zoom)
    m[0, 2] += sw / 2 - center[0]
    m[1, 2] += sh * 0.42 - center[1]
    screen = cv2.warpAffine(image, m, (sw, sh), borderMode=cv2.BORDER_REFLECT).astype("float32")
    # narrower gamut and a cool white point: less saturation, blue lifted, contrast raised
    gray = screen.mean(axis=2, keepdims=True)
    screen = gray + 0.7 * (screen - gray)
    screen = screen * np.array([1.10, 1.0, 0.90]) + np.array([12, 4, -4])
    screen = 255 * (np.clip(screen, 0, 255) / 255) ** 0.85
    # the pixel grid: dark lines between rows and columns of pixels
    yy, xx = np.mgrid[0:sh, 0:sw]
    grid = 1.0 - 0.12 * ((xx % 3) == 0) - 0.12 * ((yy % 3) == 0)
    return screen * grid[..., None]


def _phone(image, screen_size, bezel, center=FACE_CENTER, face_width=FACE_WIDTH):
    """The phone face-on: the screen inside a dark bezel with rounded corners, and its mask."""
    (sw, sh) = screen_size
    (pw, ph) = (sw + 2 * bezel, sh + 3 * bezel)
    phone = np.full((ph, pw, 3), 25, "float32")
    phone[bezel:bezel + sh, bezel:bezel + sw] = _screen_content(image, screen_size, center, face_width)
    mask = np.zeros((ph, pw), "uint8")
    r = bezel * 2
    cv2.rectangle(mask, (r, 0), (pw - r, ph), 255, -1)
    cv2.rectangle(mask, (0, r), (pw, ph - r), 255, -1)
    for cx, cy in ((r, r), (pw - r, r), (r, ph - r), (pw - r, ph - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    return phone, mask


def _film(wall, phone, mask, pose, t, rng):
    """One camera frame of the phone held in front of the wall at `pose` (angle, centre x, centre y, tilt)."""
    (h, w) = wall.shape[:2]
    (ph_h, ph_w) = phone.shape[:2]
    angle, cx, cy, tilt = pose
    corners = np.float32([[0, 0], [ph_w, 0], [ph_w, ph_h], [0, ph_h]])
    half = np.float32([[-ph_w / 2 * (1 - tilt), -ph_h / 2], [ph_w / 2 * (1 - tilt), -ph_h / 2],
                       [ph_w / 2 * (1 + tilt), ph_h / 2], [-ph_w / 2 * (1 + tilt), ph_h / 2]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], "float32")
    target = (half @ rot.T + np.float32([cx, cy])).astype("float32")
    warp = cv2.getPerspectiveTransform(corners, target)
    shown = cv2.warpPerspective(phone, warp, (w, h))
    alpha = cv2.warpPerspective(mask, warp, (w, h)).astype("float32")[..., None] / 255.0
    frame = wall * (1 - alpha) + shown * alpha
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    # moire: the camera's sensor grid beating against the screen's pixel grid
    moire = 1.0 + 0.07 * np.sin(0.9 * xx + 0.35 * yy + 2.0 * t) * np.sin(0.25 * xx - 0.8 * yy)
    frame = frame * (1 - alpha) + frame * moire[..., None] * alpha
    # glare: a soft reflection of a lamp sliding across the glass
    gx = target[:, 0].mean() + 0.25 * ph_w * np.sin(2 * np.pi * 0.12 * t)
    gy = target[:, 1].mean() - 0.2 * ph_h
    glare = 70.0 * np.exp(-(((xx - gx) / (0.35 * ph_w)) ** 2 + ((yy - gy) / (0.15 * ph_h)) ** 2))
    frame = frame + glare[..., None] * alpha
    # the hand holding the phone: fingers over the lower edge
    bottom = target[2:].mean(axis=0)
    for k in range(4):
        fx = int(bottom[0] - 0.35 * ph_w + k * 0.22 * ph_w)
        cv2.ellipse(frame, (fx, int(bottom[1] + 0.02 * h)), (int(0.055 * w), int(0.06 * h)),
                    float(np.rad2deg(angle)) + 80, 0, 360, (120, 150, 200), -1)
    frame = cv2.GaussianBlur(frame, (3, 3), 0.8)
    return _sensor(frame, rng, 3.0, 1.0)


def replay_frames(count, size=(640, 480), seed=1, video=None):
    """Frames of the portrait replayed on a phone held up to the camera: a photo of it, or with `video` (frames of
    `size` from real_frames) a recording of it, whose face moves on the screen as the live one did."""
    rng = np.random.default_rng(seed)
    (w, h) = size
    wall = _wall(size, rng).astype("float32")
    screen_size = (int(0.40 * w) // 2 * 2, int(0.78 * h) // 2 * 2)
    bezel = max(4, w // 60)
    phone, mask = _phone(portrait(), screen_size, bezel)
    video = iter(video) if video is not None else None
    shake = np.zeros(3)
    for i in range(count):
        if video is not None:  # real_frames keeps the face near (w / 2, 0.4 h), 1.5 h / 480 times the portrait's
            phone, mask = _phone(next(video), screen_size, bezel, (w / 2, 0.40 * h), FACE_WIDTH * 1.5 * h / 480)
        t = i / 15.0
        shake = 0.8 * shake + rng.normal(0, [0.6, 1.5, 1.5])  # hand tremor: angle, dx, dy
        angle = np.deg2rad(3.0 * np.sin(2 * np.pi * 0.2 * t) + shake[0])
        cx = w / 2 + 0.05 * w * np.sin(2 * np.pi * 0.1 * t) + shake[1]
        cy = h / 2 + 0.02 * h + shake[2]
        tilt = 0.06 * np.sin(2 * np.pi * 0.15 * t)  # the phone leans back and forth
        yield _film(wall, phone, mask, (angle, cx, cy, tilt), t, rng)


def simulate_replay(image, box, rng, size=(640, 480), in_front=False):
    """A live frame replayed: `image` shown on a simulated phone and filmed.

    The face in `box` fills the screen as in a selfie replay; screen size, pose,
    tilt and glare position vary with `rng`. The phone is filmed in front of a
    plain wall, or with `in_front` in front of the live frame itself, over the
    face, as someone holds a phone up to the camera in their own room: then
    the phone is all that tells the attack from the live frame. Used to make
    extra attack examples from live recordings (train_liveness.py --synthetic-replay).
    """
    (startX, startY, endX, endY) = box
    if in_front:
        size = (image.shape[1], image.shape[0])
        scene = image.astype("float32")
    else:
        scene = _wall(size, rng).astype("float32")
    (w, h) = size
    screen_size = (int(rng.uniform(0.34, 0.46) * w) // 2 * 2, int(rng.uniform(0.70, 0.82) * h) // 2 * 2)
    bezel = max(4, int(w * rng.uniform(0.012, 0.025)))
    phone, mask = _phone(image, screen_size, bezel, ((startX + endX) / 2, (startY + endY) / 2), endX - startX)
    angle = np.deg2rad(rng.uniform(-8, 8))
    if in_front:  # over the live face, as far as the frame allows
        half_w = screen_size[0] / 2 + bezel
        centre = (float(np.clip((startX + endX) / 2 + rng.uniform(-0.1, 0.1) * w, half_w, w - half_w)),
                  (startY + endY) / 2 + rng.uniform(-0.05, 0.1) * h)
    else:
        centre = (w / 2 + rng.uniform(-0.12, 0.12) * w, h / 2 + rng.uniform(-0.04, 0.06) * h)
    pose = (angle, *centre, rng.uniform(-0.08, 0.08))
    return _film(scene, phone, mask, pose, rng.uniform(0, 10), rng)


def write_video(path, frames, fps=15.0):
    """Write frames to a video file atomically; returns the number written."""
    frames = iter(frames)
    first = next(frames)
    (h, w) = first.shape[:2]
    count = 0
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise LivenessError(f"cannot write video {path}")
        try:
            for frame in itertools.chain([first], frames):
                writer.write(frame)
                count += 1
        finally:
            writer.release()
    return count


def make_sample(folder, frames=120, size=(640, 480)):
    """Write real.mov and fake.mp4 into `folder`; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    real = os.path.join(folder, "real.mov")
    fake = os.path.join(folder, "fake.mp4")
    write_video(real, real_frames(frames, size))
    write_video(fake, replay_frames(frames, size))
    return real, fake


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description="Write the built-in sample clips (real.mov, fake.mp4).")
    ap.add_argument("-o", "--output", default="videos", help="folder for the two clips")
    ap.add_argument("-n", "--frames", type=int, default=120, help="frames per clip (15 fps)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    args = ap.parse_args()
    if args.frames < 1 or args.width < 64 or args.height < 64:
        raise LivenessError("--frames must be at least 1 and the frame at least 64x64")
    print("[INFO] writing the built-in sample (synthetic; it shows the pipeline, not accuracy)...")
    for path in make_sample(args.output, args.frames, (args.width, args.height)):
        print(f"[INFO] wrote {path}")


if __name__ == "__main__":
    main()
