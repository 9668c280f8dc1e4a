"""A fusion of a liveness model with the second pretrained network, on logits: what nested LOPO chose.

A `.fusion` file is JSON naming its two members beside it and the second network's weight:

    {"model": "minifasnet.keras", "second": "best_model.onnx", "second_weight": 0.3,
     "parts_sha256": {"minifasnet.keras": "...", "minifasnet.keras.json": "...", "best_model.onnx": "...",
                      "minifasnet.tflite": "...", "minifasnet.tflite.json": "..."}}

Every part is pinned by its SHA-256: a member, its metadata or its export replaced after the fusion
was made is refused, so the fusion file's own SHA-256 (the service's model identity) stands for the
whole.

A face's fused logit is (1 - w) x logit(the model's real probability) + w x the second network's
real-minus-spoof logit; its real score is that logit's sigmoid, decided against the threshold like
any model's. Every command that takes --model takes a `.fusion`; its metadata (<name>.fusion.json)
names the detector and any calibrated threshold, as for other models.
"""
import json
import os

import numpy as np

from liveness.common.atomic import write_bytes
from liveness.common.integrity import check_pins, pin
from liveness.errors import LivenessError
from liveness.models import second_network
from liveness.models.classifier import LivenessClassifier

EXTENSION = ".fusion"


def is_fusion(model_path):
    return str(model_path).lower().endswith(EXTENSION)


REMAKE = ("make the fusion again: python -m liveness.pretrained (the shipped one), or train_liveness.py "
          "--recipe fused (your own)")


def parts_of(model, second):
    """The files a fusion of `model` and `second` is made of: each member, the first's metadata (crop, input
    size), and the LiteRT exports that serve the members, with their metadata."""
    from liveness.models.lite import current_export
    from liveness.models.metadata import metadata_path

    exports = [e for e in (current_export(model), current_export(str(second))) if e]
    return [model, metadata_path(model), second] + [p for e in exports for p in (e, metadata_path(e))]


def read_fusion(path):
    """(model path, second network path, weight) from a .fusion file, the members' paths made absolute, once
    every part it pinned is checked (liveness.common.integrity)."""
    try:
        with open(path) as f:
            spec = json.load(f)
        folder = os.path.dirname(os.path.abspath(path))
        model, second = (os.path.join(folder, spec[k]) for k in ("model", "second"))
        weight = float(spec["second_weight"])
        pins = spec.get("parts_sha256")
    except FileNotFoundError:
        raise LivenessError(f"model not found: {path}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise LivenessError(f"cannot read the model {path}: {error.strerror}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise LivenessError(f"{path} is not a fusion file (JSON with model, second and second_weight)") from None
    if not 0.0 <= weight <= 1.0:
        raise LivenessError(f"{path}: second_weight must be in [0, 1], got {weight}")
    if not isinstance(pins, dict) or not pins:
        raise LivenessError(f"{path} records no SHA-256 of its parts (made before fusions pinned them): {REMAKE}")
    check_pins(pins, folder, path, REMAKE)
    return model, second, weight


def write_fusion(path, model, second, weight):
    """A .fusion file naming `model` and `second` relative to it, and pinning every part (parts_of) by
    SHA-256, written atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    spec = {"model": os.path.relpath(os.path.abspath(model), folder),
            "second": os.path.relpath(os.path.abspath(second), folder), "second_weight": float(weight),
            "parts_sha256": pin(parts_of(model, second), folder)}
    write_bytes(path, (json.dumps(spec, indent=2) + "\n").encode())


def logit(p):
    p = np.clip(np.asarray(p, "float64"), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def weight_grid(count):
    """Every `count` weights of other members in tenths whose sum is at most 1 (the first model's weight is
    1 minus their sum): the weights a fusion is chosen among."""
    grid = [()]
    for _ in range(count):
        grid = [g + (w / 10,) for g in grid for w in range(11) if round(sum(g) + w / 10, 6) <= 1.0]
    return grid


def blend(first, others, weights):
    """Real scores from the first model's real probabilities and other members' logits, fused on logits:
    (1 - sum(weights)) x logit(first) + sum of each weight x its member's logit."""
    total = (1 - sum(weights)) * logit(first)
    for other, weight in zip(others, weights):
        total = total + weight * np.asarray(other, "float64")
    return 1.0 / (1.0 + np.exp(-total))


def fused_scores(first, second, weight):
    """Real scores from the first model's real probabilities and the second network's logits."""
    return blend(first, [second], [weight])


def choose_weights(first, others, is_bona_fide):
    """(weights, {weights: (APCER, BPCER, ACER)}): the members' weights whose fused scores have the lowest
    ACER at 0.5; on a tie the smaller total weight, then the smaller weights in order (the rule
    benchmarks/pool_heads.py chose the shipped fusion by)."""
    is_bona_fide = np.asarray(is_bona_fide, bool)
    if is_bona_fide.all() or not is_bona_fide.any():
        raise LivenessError("choosing a fusion weight needs live faces and attacks")
    table = {}
    for weights in weight_grid(len(others)):
        accepted = blend(first, others, weights) >= 0.5
        apcer, bpcer = float(accepted[~is_bona_fide].mean()), float((~accepted[is_bona_fide]).mean())
        table[weights] = (apcer, bpcer, (apcer + bpcer) / 2)
    return min(table, key=lambda w: (round(table[w][2], 12), round(sum(w), 6), w)), table  # equal ACERs tie


def choose_weight(first, second, is_bona_fide):
    """(weight, {weight: (APCER, BPCER, ACER)}) of the second network: choose_weights for one member."""
    (weight,), table = choose_weights(first, [second], is_bona_fide)
    return weight, {w: figures for (w,), figures in table.items()}


class FusionCrop:
    """The crops both members see of one face: the first model's own and the second network's."""

    def __init__(self, first):
        self.first, self.rule, self.channels = first, first.rule, first.channels
        self.is_tight = False

    def __call__(self, frame, box, size):
        return self.first(frame, box, size), second_network.crop(frame, box)

    def metadata(self):
        return self.first.metadata()

    def __str__(self):
        return f"{self.first} + the second network's x{second_network.SCALE:g} square"


class FusedClassifier(LivenessClassifier):
    """The first model's classifier and the second network, fused on logits with the second's `weight`."""

    def __init__(self, first, second, weight, threshold):
        if len(first.classes) != 2 or first.bona_fide not in first.classes:
            raise LivenessError(f"a fusion needs a model of two classes, one of them '{first.bona_fide}'")
        self.first, self.second, self.weight = first, second, weight
        self.model, self.classes, self.bona_fide, self.threshold = first.model, first.classes, first.bona_fide, threshold
        self.cropper, self.size = FusionCrop(first.cropper), first.size
        self.members = None  # a list: every batch's (first probabilities, second logits) is kept in it
        self.beside = None  # a thread that runs the second network beside the first (members_side_by_side)

    def members_side_by_side(self):
        """Run the second network on a thread of its own (its runtime releases the GIL): for a process that has
        the cores to itself, as the demo does. A service's scorer does not: it is one of as many scorers as
        cores, each on one thread."""
        import concurrent.futures

        if self.beside is None:
            self.beside = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="second-network")

    def predict(self, rois):
        """(N, 2) probabilities; a plain ROI image (no frame to crop from) is taken whole by both members
        (the second sees the first crop of a stacked one)."""
        if len(rois) == 0:
            return np.zeros((0, 2), "float32")
        pairs = [(r, second_network.crop(r[..., :3], (0, 0, r.shape[1], r.shape[0]))) if isinstance(r, np.ndarray)
                 else r for r in rois]
        if self.beside is not None:
            running = self.beside.submit(self.second, [p[1] for p in pairs])
            first = self._first_real([p[0] for p in pairs])
            return self._fuse(first, running.result())
        return self._fuse(self._first_real([p[0] for p in pairs]), self.second([p[1] for p in pairs]))

    def predict_later(self, frame, boxes):
        """The faces at `boxes` of a frame, begun: the second network crops and scores them on its own thread
        while the first member runs here. Returns a function that waits for the second and gives what
        predict() of their crops would, so a stream can go on to its next frame in between."""
        boxes = list(boxes)
        if not boxes:
            return lambda: np.zeros((0, 2), "float32")
        self.members_side_by_side()
        running = self.beside.submit(lambda: self.second([second_network.crop(frame, box) for box in boxes]))
        first = self._first_real([self.first.crop(frame, box) for box in boxes])
        return lambda: self._fuse(first, running.result())

    def _first_real(self, crops):
        return self.first.predict(crops)[:, self.classes.index(self.bona_fide)]

    def _fuse(self, first, second):
        """(N, 2) probabilities from the first member's real probabilities and the second's logits."""
        if self.members is not None:
            self.members.append((first, second))
        bona = self.classes.index(self.bona_fide)
        real = fused_scores(first, second, self.weight)
        out = np.empty((len(real), 2), "float32")
        out[:, bona], out[:, 1 - bona] = real, 1.0 - real
        return out


def load_fusion(path, le_path, bona_fide="real", threshold=None):
    """(FusedClassifier, where its threshold came from) for a .fusion file."""
    from liveness.models.metadata import resolve_threshold
    from liveness.models.model_io import load_classifier

    model, second, weight = read_fusion(path)
    first, _ = load_classifier(model, le_path, bona_fide, 0.5)
    threshold, source = resolve_threshold(path, threshold)
    return FusedClassifier(first, second_network.SecondNetwork(second), weight, threshold), source
