"""python -m liveness.sample: the built-in sample clips.

The work is in liveness.data.sample; this module keeps the command users type.
"""
from liveness.data.sample import main

if __name__ == "__main__":
    main()
