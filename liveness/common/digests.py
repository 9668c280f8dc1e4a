"""A file's SHA-256: how a model is named in answers and logs, and how a download is checked."""
import functools
import hashlib
import os


def file_sha256(path):
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def current_sha256(path):
    """file_sha256, read once per version of the file (its size and modification time) in this process:
    a command asks about a model at start-up, then again on loading it."""
    stat = os.stat(path)
    return _versioned_sha256(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _versioned_sha256(path, size, mtime_ns):
    return file_sha256(path)
