"""TensorFlow imported late and quietly.

Importing TensorFlow takes seconds and prints lines that are not for users
(absl's "log messages before InitializeLog", oneDNN's notice, CUDA probing).
The commands parse their arguments first, so `--help` and a wrong flag answer
at once, and then import TensorFlow here with those lines sent nowhere, unless
--verbose asks for them.
"""
import contextlib
import os
import sys


def add_verbose_argument(ap):
    ap.add_argument("--verbose", action="store_true", help="let TensorFlow's start-up and log lines through")


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 to /dev/null: TensorFlow's C++ side writes there directly, past sys.stderr."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(verbose=False):
    """Import TensorFlow and Keras once, silently unless `verbose`."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.nullcontext() if verbose else stderr_silenced():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.constant(0.0) + 1.0  # the first op starts the runtime, which has its own start-up lines
    if verbose:
        return
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
