"""How many CPU cores this process may use: the number of scoring processes, and whether a stream may run two
networks at once, follow it."""
import os


def usable_cores():
    """The cores this process may run on (its affinity, where the system has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
