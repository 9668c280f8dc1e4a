"""Unpickling from an allow-list: the few globals a file format needs, every other name refused.

`pickle.load` calls whatever a file names. le.pickle files (liveness.models.labels) and
PyTorch state dicts (liveness.models.torch_state) come from strangers, so both resolve
names only through a list of their own.
"""
import pickle


class AllowListUnpickler(pickle.Unpickler):
    """Resolves (module, name) through `allowed` only; any other global raises UnpicklingError."""

    allowed = {}

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None
