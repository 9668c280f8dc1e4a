"""Shared pieces of the face liveness scripts.

The top-level scripts (gather_examples.py, train_liveness.py, liveness_demo.py)
tell their story; the logic more than one of them needs lives here, once.
"""
import os

# TensorFlow's start-up chatter is not for users; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
