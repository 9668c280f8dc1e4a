"""python -m liveness.api_keys: an API key for the service, and its line for the keys file.

The work is in liveness.service.api_keys; this module keeps the command users type.
"""
from liveness.service.api_keys import main

if __name__ == "__main__":
    main()
