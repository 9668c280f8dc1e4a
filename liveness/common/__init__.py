"""Helpers every room may use: outputs written whole or not at all, SHA-256 digests, the allow-list
unpickler, and where a face ROI came from (its recording, its person)."""
