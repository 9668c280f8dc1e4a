"""Datasets of face ROIs and what feeds them: a dataset folder read for training, train/test splits, the
frames whose label does not hold, the built-in sample clips, and replays simulated from live frames."""
