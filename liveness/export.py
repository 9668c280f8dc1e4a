"""python -m liveness.export: a model exported for serving without TensorFlow.

The work is in liveness.models.export; this module keeps the command users type.
"""
from liveness.models.export import main

if __name__ == "__main__":
    main()
