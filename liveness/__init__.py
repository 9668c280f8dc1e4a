"""Shared pieces of the face liveness scripts.

The top-level scripts (gather_examples.py, train_liveness.py, liveness_demo.py)
tell their story; the logic more than one of them needs lives here, once.
"""
