"""Layers a saved liveness model may need that Keras does not have, registered for loading.

Importing this module registers them; liveness.models.model_io does so before any load.
"""
import keras


@keras.saving.register_keras_serializable(package="liveness")
class ChannelSlice(keras.layers.Layer):
    """Channels [start, stop) of an image batch: one crop out of a model input that stacks several."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}
