"""python -m liveness.pretrained: the pretrained networks fetched, checked and made into models.

The work is in liveness.models.pretrained; this module keeps the command users type.
"""
from liveness.models.pretrained import main

if __name__ == "__main__":
    main()
