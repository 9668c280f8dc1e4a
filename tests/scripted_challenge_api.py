"""liveness_api.py whose challenges are scripted: every session asks the steps given with --scripted-steps
(comma-separated) in that order, after the shortest pauses. For the capture page's tests only, which must know
what the page will ask: the production service reads no such switch; this wrapper swaps the random source before
the service is built."""
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from liveness.sessions import challenge  # noqa: E402


class Scripted:
    """The random source a challenge draws from: its choices the scripted steps in a cycle, its pauses shortest."""

    def __init__(self, steps):
        self.steps = itertools.cycle(steps)

    def choice(self, options):
        return next(self.steps)

    def random(self):
        return 0.0


if __name__ == "__main__":
    at = sys.argv.index("--scripted-steps")
    steps = sys.argv[at + 1].split(",")
    del sys.argv[at:at + 2]
    challenge.SYSTEM_RANDOM = Scripted(steps)
    import liveness_api

    liveness_api.main()
