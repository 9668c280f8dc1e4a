"""Shared pieces of the face liveness scripts, in rooms that follow the pipeline (docs/architecture.md).

The top-level scripts (gather_examples.py, train_liveness.py, liveness_demo.py, ...) tell their story;
the logic more than one of them needs lives here, once. From the ground up, a room imports only rooms
below it (tests/test_layering.py):

    errors, quiet, common/   one-line errors, TensorFlow imported quietly, helpers every room uses
    faces/                   a frame to boxes to crops: media, face detectors, the crop rule
    data/                    datasets of ROIs, splits, exclusions, the sample clips
    models/                  model files and their metadata, the classifier, recipes, pretrained networks
    evaluation/              metrics, a labelled folder scored, the report
    service/                 what liveness_api.py serves with
    pipeline                 one frame in, its faces scored: the demo's loop, above every room

The commands users type, python -m liveness.pretrained, .export, .api_keys, .sample and .detector,
are thin modules here that run their room's main.
"""
import os

# TensorFlow's start-up chatter is not for users; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
