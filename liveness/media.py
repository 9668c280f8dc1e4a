"""Reading videos and images: which files an --input names, and their frames."""
import os
import queue
import threading

import cv2

from liveness.errors import LivenessError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image(path):
    return path.lower().endswith(IMAGE_EXTENSIONS)


def is_video(path):
    return path.lower().endswith(VIDEO_EXTENSIONS)


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
    """Image and video files under `folder`, sorted, recursively."""
    return _walk(folder, lambda f: is_image(f) or is_video(f))


def expand_inputs(inputs):
    """Media files named by --input: files as given, folders expanded to their videos and images."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            inside = sorted(os.path.join(item, f) for f in os.listdir(item) if is_video(f) or is_image(f))
            if not inside:
                raise LivenessError(f"no videos or images in folder {item}")
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
    """Frames a file holds as its container says (1 for an image); 0 if unknown."""
    if is_image(path):
        return 1
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
    if is_image(path):
        image = cv2.imread(path)
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
