"""Liveness models: loading and saving in every format (Keras 3, the tutorial's Keras 2 HDF5, LiteRT, fusions),
the metadata beside a model, the classifier that scores ROIs, recipes, label encoders, the pretrained networks."""
