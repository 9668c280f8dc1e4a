"""Ctrl-C between two writes that belong together would leave one without the other: hold it until both are done."""
import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_interrupt():
    """Run the block whole; a SIGINT that arrives inside it raises KeyboardInterrupt right after it.

    Off the main thread (where handlers cannot be set) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and previous is not signal.SIG_IGN:
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt here
        raise KeyboardInterrupt
