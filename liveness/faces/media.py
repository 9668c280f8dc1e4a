"""Reading videos, images and image sets: which recordings an --input names, and their frames.

An image set is a folder of the frames of one capture session (`images/subjS_real/`): it is one
recording, as a video of the same name would be, its frames numbered in file-name order. A folder
with a gather manifest.csv holds ROIs, not frames, and is never taken for one.
"""
import os
import queue
import threading

import cv2

from liveness.errors import LivenessError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image(path):
    return path.lower().endswith(IMAGE_EXTENSIONS)


def read_image(path):
    """A BGR image from a file, None if its bytes do not decode; a file that cannot be read at all (permissions,
    a folder in its place) is a one-line LivenessError, never taken for a broken image."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise LivenessError(f"cannot read {path}: {error.strerror or error}") from None
    if not data:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def is_video(path):
    return path.lower().endswith(VIDEO_EXTENSIONS)


def image_set_frames(folder):
    """The frame files of an image set, in order: the images directly inside `folder`, sorted by name."""
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if is_image(f) and os.path.isfile(os.path.join(folder, f)))


def is_image_set(path):
    """A folder of frames: images directly inside, no video beside them, and no gather manifest."""
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "manifest.csv")):
        return False
    names = os.listdir(path)
    return any(is_image(f) for f in names) and not any(is_video(f) for f in names)


def is_recording(path):
    """A video file or a folder of frames (as list_media and expand_inputs name image sets), not a single image."""
    return is_video(path) or os.path.isdir(path)


def _walk(folder, keep):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if keep(f))
    return found


def list_images(folder):
    """Image files under `folder`, sorted, recursively (like imutils.paths.list_images)."""
    return _walk(folder, is_image)


def list_media(folder):
    """Videos, image sets and image files under `folder` (the images of a folder with a manifest are ROIs)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        sets = [d for d in dirs if is_image_set(os.path.join(root, d))]
        dirs[:] = [d for d in dirs if d not in sets]
        found.extend(sorted([os.path.join(root, f) for f in files if is_image(f) or is_video(f)]
                            + [os.path.join(root, d) for d in sets]))
    return found


def expand_inputs(inputs):
    """Recordings and images named by --input: files as given, an image set as one recording, other
    folders expanded to the videos, images and image sets inside."""
    paths = []
    for item in inputs:
        if is_image_set(item):
            paths.append(item)
        elif os.path.isdir(item):
            inside = sorted(os.path.join(item, f) for f in os.listdir(item)
                            if is_video(f) or is_image(f) or is_image_set(os.path.join(item, f)))
            if not inside:
                raise LivenessError(f"no videos, images or image sets in folder {item}")
            paths.extend(inside)
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise LivenessError(f"input not found: {item}")
    return paths


def open_video(source):
    """cv2.VideoCapture for a file path or a camera index, checked."""
    capture = cv2.VideoCapture(source)
    # phone videos are often stored sideways with a rotation flag: frames come upright, as a player shows them
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    if not capture.isOpened():
        what = f"camera {source}" if isinstance(source, int) else f"video {source}"
        raise LivenessError(f"cannot open {what}")
    return capture


def frame_count(path):
    """Frames a file holds as its container says (1 for an image, the files of an image set); 0 if unknown."""
    if is_image(path):
        return 1
    if os.path.isdir(path):
        return len(image_set_frames(path))
    capture = cv2.VideoCapture(path)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return max(count, 0)


def read_frames(path, select=None):
    """Yield (index, frame) for every frame of a video, or once for an image (index 0).

    With `select` (index -> bool), frames it rejects are only grabbed, not
    converted, and come as (index, None): cheaper, and the indices stay true.
    Raises LivenessError when the file cannot be read or holds no frame.
    """
    if os.path.isdir(path):
        yield from _image_set(path, select)
        return
    if is_image(path):
        image = read_image(path)
        if image is None:
            raise LivenessError(f"cannot decode image {path}")
        yield 0, image if select is None or select(0) else None
        return
    capture = open_video(path)
    index = 0
    try:
        while True:
            if select is None or select(index):
                grabbed, frame = capture.read()
            else:
                grabbed, frame = capture.grab(), None
            if not grabbed:
                break
            yield index, frame
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise LivenessError(f"no frames could be read from {path}")


def _image_set(folder, select):
    """(index, frame) of an image set's files; a file that does not decode is passed over with a warning."""
    files, wanted, decoded = image_set_frames(folder), 0, 0
    for index, file in enumerate(files):
        if select is not None and not select(index):
            yield index, None
            continue
        wanted += 1
        frame = read_image(file)
        if frame is None:
            print(f"[WARNING] skipping frame {index} of {folder}: {os.path.basename(file)} does not decode", flush=True)
            continue
        decoded += 1
        yield index, frame
    if not files or (wanted and not decoded):
        raise LivenessError(f"no frames could be read from {folder}")


def check_readable(path):
    """Fail early, before any work, on a file that yields no frame."""
    for _ in read_frames(path):
        return


def prefetch(iterable, depth=8):
    """Iterate `iterable` on a background thread, up to `depth` items ahead.

    Video decoding releases the GIL, so frames decode while the caller detects
    and classifies the previous ones. An error in the producer is raised here.
    """
    items = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(entry):
        while not stop.is_set():  # a consumer that has gone away never leaves us blocked
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in iterable:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as error:  # handed to the consumer
            put((done, error))
        finally:
            # a generator's own clean-up (a video's release) runs here, on this thread, not at interpreter exit:
            # a capture torn down while Python shuts down can abort the process
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        producer.join(timeout=10)
