"""One way for every command to fail on an expected mistake: a one-line error."""
import functools
import sys


class LivenessError(Exception):
    """A mistake in the user's input: reported as one line, never a traceback."""


class ApiError(Exception):
    """An answer for a client of the service: an HTTP status and a one-line reason."""

    def __init__(self, status, detail, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def one_line(error):
    """An exception's first line, or its type's name when it has no message."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def exit_on_error(main):
    """Run a command's main(); turn LivenessError (and Ctrl-C) into a clean exit."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except LivenessError as error:
            print(f"[ERROR] {error}", file=sys.stderr)
            sys.exit(1)
        except OSError as error:  # a file or folder that cannot be read or written: where, and why
            where = f"{error.filename}: " if error.filename else ""
            print(f"[ERROR] {where}{error.strerror or one_line(error)}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            print("[INFO] interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
