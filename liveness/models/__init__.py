"""Liveness models: loading and saving whatever wrote them (Keras 3, the tutorial's Keras 2 HDF5, LiteRT,
a fusion), the metadata beside a model, the classifier that scores ROIs, recipes, label encoders, and the
pretrained networks."""
