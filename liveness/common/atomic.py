"""Outputs appear whole or not at all: write to a temporary name, then rename."""
import contextlib
import os
import tempfile

from liveness.errors import LivenessError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` with the same extension.

    The caller writes the whole file there; on success it is renamed onto `path`
    (an atomic replace on one file system), on any error it is removed, so a
    reader never sees a half-written file and an old file is never lost to a crash.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_bytes(path, data):
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def check_writable(path, what="output"):
    """Fail now, in one line, if the file `path` could not be written later: before the work, not after it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise LivenessError(f"{what} {path} is a folder; give a file name")
    _probe(os.path.dirname(os.path.abspath(path)), f"{what} {path}")
    return path


def check_writable_folder(folder, what="output folder"):
    """Fail now, in one line, if `folder` is a file or cannot be made and written into."""
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise LivenessError(f"{what} {folder} is a file, not a folder")
    _probe(folder, f"{what} {folder}")
    return folder


def _probe(folder, what):
    """Write and remove a file in `folder`; folders made for the probe are removed again: no trace is left."""
    made, parent = [], os.path.abspath(folder)
    while not os.path.exists(parent):
        made.append(parent)
        parent = os.path.dirname(parent)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise LivenessError(f"cannot write {what}: {error.strerror or error}") from None
    finally:
        for path in made:  # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(path)
