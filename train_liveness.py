"""Train LivenessNet on a folder of face ROIs (dataset/real, dataset/fake, ...).

The recipe is the original tutorial's: 32x32 inputs scaled to [0, 1], a
stratified 75/25 split, the same augmentation (now Keras 3 preprocessing
layers in a tf.data pipeline instead of ImageDataGenerator), Adam at 1e-4
with the original's time decay, batch size 8, 50 epochs.

    python train_liveness.py --dataset dataset --model liveness.keras --le le.pickle --plot plot.png
    python train_liveness.py --recipe fused --dataset dataset --model fused.fusion --le le.pickle

--recipe fused trains no network: it scores the dataset with the pretrained pair and the second
network and keeps the weight of the second that decides it best (the recommended fusion's rule).
--recipe head trains no network either: a logistic regression on the pair's frozen embeddings
(liveness/models/head.py), fitted on the training split, becomes the pair's last layer.
"""
import argparse
import datetime
import os
import sys

import numpy as np

from liveness.common.atomic import atomic_path, check_writable, write_bytes
from liveness.common.provenance import detector_of, recordings_of, subject_of
from liveness.errors import LivenessError, exit_on_error
from liveness.faces.crops import RULES, Crop
from liveness.models.metadata import read_metadata, update_metadata
from liveness.models.recipes import RECIPES, apply_recipe, explicit_destinations
from liveness.quiet import add_verbose_argument, import_tensorflow
from livenessnet import ARCHS, STANDARDIZE

# TensorFlow, Keras, scikit-learn and matplotlib are imported where they are used, after the
# arguments are checked (liveness.quiet): --help and a wrong flag answer at once.

SIZE = (32, 32)
HEAD_LAYERS = ("linear", "prob")  # MiniFASNet's embedding and classifier


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-d", "--dataset", required=True, help="folder of class subfolders holding face ROIs")
    ap.add_argument("-m", "--model", type=str, required=True, help="where to write the model (.keras; other names get HDF5)")
    ap.add_argument("-l", "--le", type=str, required=True, help="where to write the label encoder (le.pickle)")
    ap.add_argument("-p", "--plot", type=str, default="plot.png", help="where to write the loss/accuracy plot")
    ap.add_argument("-r", "--report", type=str, default=None,
                    help="where to write the classification report (default: beside the model, <model>.report.txt)")
    ap.add_argument("--recipe", choices=list(RECIPES), default="original",
                    help="a named set of the flags below: " + "; ".join(f"{name}: {what}" for name, (_, what) in
                                                                    RECIPES.items()) + ". Flags given also win")
    ap.add_argument("-e", "--epochs", type=int, default=50)
    ap.add_argument("-b", "--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4, help="initial learning rate")
    ap.add_argument("--seed", type=int, default=42, help="seed for the split, the augmentation and the weights")
    ap.add_argument("--split", choices=("random", "group"), default="random",
                    help="random: the original split of frames; group: each recording (or person) on one side")
    ap.add_argument("--group-by", choices=("recording", "subject"), default="recording",
                    help="with --split group: keep recordings, or people (file-name prefix before the first _), whole")
    ap.add_argument("--crop-scale", type=float, default=1.0,
                    help="look at the face box enlarged this many times around its centre (1: the original's "
                         "tight box); cut again from the source frames listed in each folder's manifest.csv")
    ap.add_argument("--crop-rule", choices=RULES, default="clip",
                    help="clip: the enlarged box is clipped to the frame; shift: scaled down until it fits, then "
                         "moved inside the frame, so the crop keeps the face box's shape (the pretrained networks' rule)")
    ap.add_argument("--size", type=int, default=32, help="input width and height in pixels (the original: 32)")
    ap.add_argument("--arch", choices=ARCHS, default="livenessnet",
                    help="the network: the original LivenessNet, or a variant of it (see livenessnet.py)")
    ap.add_argument("--standardize", choices=STANDARDIZE, default="none",
                    help="standardize each image on its own inside the model: over the whole image, or each channel")
    ap.add_argument("--ensemble", type=int, default=1, metavar="N",
                    help="train N networks (seeds --seed, --seed+1, ...) and save one model averaging their scores")
    ap.add_argument("--augment", choices=("original", "strong"), default="original",
                    help="original: the tutorial's geometric augmentation; strong: plus colour, blur and noise")
    ap.add_argument("--class-weight", choices=("none", "balanced"), default="none",
                    help="balanced: weigh each class inversely to its number of images")
    ap.add_argument("--synthetic-replay", type=float, default=0.0, metavar="FRACTION",
                    help="add, as attacks, simulated phone replays of this share of the live training images "
                         "(cut from their source frames via manifest.csv)")
    ap.add_argument("--synthetic-scene", choices=("wall", "live"), default="wall",
                    help="what the simulated phone is filmed in front of: a plain wall (the built-in sample's), "
                         "or the live frame itself, the phone over the face")
    ap.add_argument("--attack-class", default="fake", help="the class the synthetic replays join")
    ap.add_argument("--init", metavar="MODEL", default=None,
                    help="fine-tune this model (e.g. pretrained/minifasnet.keras) instead of training LivenessNet from "
                         "random weights; its crop and input size are kept, its BatchNorm statistics frozen")
    ap.add_argument("--trainable", choices=("all", "head"), default="all",
                    help="with --init: train every layer, or only the classifier head (each network's last Dense layers)")
    ap.add_argument("--pull", type=float, default=0.0, metavar="STRENGTH",
                    help="with --init: add STRENGTH x the squared distance of the weights from the pretrained ones "
                         "to the loss (L2-SP), so fine-tuning keeps what the network knew")
    ap.add_argument("--second", metavar="ONNX", default=None,
                    help="with --recipe fused: the second network (default: pretrained/best_model.onnx)")
    ap.add_argument("--head-c", type=float, default=0.1, metavar="C",
                    help="with --recipe head: the logistic head's inverse regularization strength (smaller: simpler)")
    ap.add_argument("--no-export", action="store_true",
                    help="skip the LiteRT export beside the model (<model stem>.tflite, served without TensorFlow)")
    add_verbose_argument(ap)
    args = ap.parse_args()
    apply_recipe(args, args.recipe, explicit_destinations(ap, sys.argv[1:]))
    if args.init is not None and not os.path.isfile(args.init):
        hint = " (make it with: python -m liveness.pretrained)" if args.recipe == "pretrained" else ""
        raise LivenessError(f"--init model not found: {args.init}{hint}")
    if args.pull < 0 or (args.pull > 0 and args.init is None):
        raise LivenessError("--pull needs --init and a strength of 0 or more")
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.ensemble < 1:
        raise LivenessError("--epochs, --batch-size and --ensemble must be 1 or more, --lr above 0")
    if not 1.0 <= args.crop_scale <= 4.0 or not 16 <= args.size <= 256:
        raise LivenessError("--crop-scale must be in [1, 4] and --size in [16, 256]")
    if not 0.0 <= args.synthetic_replay <= 1.0:
        raise LivenessError("--synthetic-replay must be in [0, 1]")
    if args.init is not None and (args.arch != "livenessnet" or args.standardize != "none" or args.ensemble != 1):
        raise LivenessError("--init fine-tunes the given model as it is: --arch, --standardize and --ensemble don't apply")
    if args.head_c <= 0:
        raise LivenessError("--head-c must be above 0")
    if args.recipe == "head" and args.init is None:
        raise LivenessError("--recipe head needs --init: the pretrained pair (python -m liveness.pretrained)")
    if args.recipe == "fused":
        from liveness.models.fusion import EXTENSION, is_fusion

        if not is_fusion(args.model):
            raise LivenessError(f"--recipe fused writes a fusion: name --model NAME{EXTENSION}, not {args.model}")
        if not os.path.isfile(args.second or ""):
            raise LivenessError(f"--second network not found: {args.second} (make it with: python -m liveness.pretrained)")
    if args.report is None:
        args.report = os.path.splitext(args.model)[0] + ".report.txt"
    for path, flag in ((args.model, "--model"), (args.le, "--le"), (args.plot, "--plot"), (args.report, "--report")):
        check_writable(path, flag)  # minutes of training must not end in a save that cannot happen
    return args


def augmentation(seed, strength="original"):
    """The original ImageDataGenerator's settings, as Keras 3 layers.

    rotation_range=20 (degrees), zoom_range=0.15, width/height_shift_range=0.2,
    shear_range=0.15 (degrees, in ImageDataGenerator), horizontal_flip=True,
    fill_mode="nearest". "strong" adds what changes between cameras and
    people rather than between live and replayed faces: brightness, contrast,
    saturation and hue, blur, sensor noise.
    """
    import keras
    from keras import layers

    shear = float(np.tan(np.deg2rad(0.15)))  # 0.15 degrees as a fraction of the image
    extra = [] if strength == "original" else [
        layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.3,
                                 saturation_factor=(0.3, 0.7), hue_factor=0.05, seed=seed + 5),
        layers.RandomGaussianBlur(factor=0.5, kernel_size=3, sigma=1.0, value_range=(0, 1), seed=seed + 6),
        layers.GaussianNoise(0.02, seed=seed + 7),
    ]
    return keras.Sequential([
        layers.RandomRotation(20 / 360, fill_mode="nearest", seed=seed),
        layers.RandomZoom((-0.15, 0.15), (-0.15, 0.15), fill_mode="nearest", seed=seed + 1),
        layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=seed + 2),
        layers.RandomShear(x_factor=shear, fill_mode="nearest", seed=seed + 3),
        layers.RandomFlip("horizontal", seed=seed + 4),
        *extra,
    ], name="augmentation")


def training_batches(trainX, trainY, batch_size, seed, strength="original"):
    """An endless, reshuffled, augmented stream of training batches."""
    import tensorflow as tf

    augment = augmentation(seed, strength)
    return (tf.data.Dataset.from_tensor_slices((trainX, trainY))
            .shuffle(len(trainX), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=True)
            .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def build_model(classes, lr, epochs, steps_per_execution=1, size=SIZE, arch="livenessnet", name=None,
                standardize="none"):
    """LivenessNet compiled as the original: Adam with its time decay, cross-entropy.

    `steps_per_execution` runs that many training steps in one compiled call:
    the same updates, without a host round-trip per batch of 8. (XLA's
    jit_compile was measured too: on 2 CPU cores it doubled the time.)
    """
    from livenessnet import LivenessNet

    model = LivenessNet.build(width=size[0], height=size[1], depth=3, classes=classes, arch=arch, name=name,
                              standardize=standardize)
    return compiled(model, classes, lr, epochs, steps_per_execution)


def compiled(model, classes, lr, epochs, steps_per_execution):
    """`model` compiled as the original: Adam with its time decay, cross-entropy, accuracy."""
    import keras

    decay = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=lr / epochs)
    # the original's loss for two classes; categorical cross-entropy is its many-class form
    loss = "binary_crossentropy" if classes == 2 else "categorical_crossentropy"
    model.compile(loss=loss, optimizer=keras.optimizers.Adam(learning_rate=decay), metrics=["accuracy"],
                  steps_per_execution=steps_per_execution, jit_compile=False)
    return model


def fit(model, trainX, trainY, testX, testY, batch_size, epochs, seed, verbose, strength="original",
        class_weight=None):
    """len(train) // batch_size augmented batches an epoch, validated on the held-out set."""
    return model.fit(training_batches(trainX, trainY, batch_size, seed, strength), class_weight=class_weight,
                     validation_data=(testX, testY), validation_batch_size=max(batch_size, 64),
                     steps_per_epoch=len(trainX) // batch_size, epochs=epochs,
                     shuffle=False,  # the pipeline shuffles
                     verbose=verbose)


def starting_point(args):
    """(crop, input size, the model to fine-tune or None): from --init's model and metadata, else from the flags."""
    from liveness.models.model_io import load_model

    if args.init is None:
        return Crop((args.crop_scale,), args.crop_rule), (args.size, args.size), None
    init = load_model(args.init)
    crop = Crop.from_metadata(read_metadata(args.init))
    (height, width, depth) = init.input_shape[1:4]
    if depth != crop.channels:
        raise LivenessError(f"{args.init} takes {depth} channels but its metadata's crop {crop} gives {crop.channels}")
    return crop, (width, height), init


def pulled_to_start(model, strength):
    """`model` wrapped so that its loss adds `strength` times the squared distance of its trainable weights
    from where they started (L2-SP): fine-tuning may move the pretrained weights, at a price."""
    import keras
    from keras import ops

    class PulledToStart(keras.Model):
        def __init__(self, inner):
            super().__init__(name=f"{inner.name}_pulled")
            self.inner = inner
            self.start = [ops.convert_to_tensor(w.numpy()) for w in inner.trainable_weights]

        def call(self, inputs, training=False):
            return self.inner(inputs, training=training)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
            distance = sum(ops.sum(ops.square(w - w0)) for w, w0 in zip(self.inner.trainable_weights, self.start))
            return loss + strength * distance

    wrapper = PulledToStart(model)
    wrapper(ops.zeros((1, *model.input_shape[1:])))  # built before compiling
    return wrapper


def fine_tunable(model, classes, lr, epochs, trainable, steps_per_execution, pull=0.0):
    """`model` compiled for fine-tuning: BatchNorm frozen (its statistics come from far more faces than
    ours), and with trainable="head" only the last Dense layers of each network learn. With `pull`, the
    model to fit is a wrapper whose loss holds the weights near the pretrained ones."""
    from keras import layers

    if model.output_shape[-1] != classes:
        raise LivenessError(f"the --init model has {model.output_shape[-1]} outputs but the dataset {classes} classes")

    def walk(layer):
        yield layer
        for inner in getattr(layer, "layers", []):
            yield from walk(inner)

    for layer in walk(model):
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
        elif trainable == "head" and not getattr(layer, "layers", None):
            layer.trainable = layer.name in HEAD_LAYERS and isinstance(layer, layers.Dense)
    fitted = pulled_to_start(model, pull) if pull > 0 else model
    return compiled(fitted, classes, lr, epochs, steps_per_execution)


def add_synthetic_replays(trainX, trainY, train_paths, le, crop, size, args):
    """Training data with simulated replays of live training images added as --attack-class."""
    import keras

    from liveness.data.synthetic import synthetic_replays
    from liveness.faces.detectors import create_detector

    if "real" not in le.classes_ or args.attack_class not in le.classes_:
        raise LivenessError(f"--synthetic-replay needs a 'real' class and the --attack-class '{args.attack_class}'")
    live = [p for p, y in zip(train_paths, trainY.argmax(axis=1)) if le.classes_[y] == "real"]
    replays = synthetic_replays(live, create_detector(detector_of(live) or "ssd"), crop, size, args.synthetic_replay, args.seed,
                                in_front=args.synthetic_scene == "live")
    target = keras.utils.to_categorical([list(le.classes_).index(args.attack_class)] * len(replays), len(le.classes_))
    print(f"[INFO] {len(replays)} synthetic replays of {len(live)} live training images added as '{args.attack_class}'")
    return np.concatenate([trainX, replays]), np.concatenate([trainY, target.reshape(-1, len(le.classes_))])


def split(labels, paths, args):
    """(train indices, test indices, description) by --split and --group-by."""
    from liveness.data.splits import group_split, random_split

    if args.split == "random":
        train, test = random_split(labels, args.seed)
        return train, test, f"random stratified 75/25, seed {args.seed}"
    groups = recordings_of(paths)
    if args.group_by == "subject":
        groups = [subject_of(g) for g in groups]
    train, test = group_split(labels, groups, args.seed)
    sides = [sorted({groups[i] for i in side}) for side in (train, test)]
    return train, test, (f"group by {args.group_by}, seed {args.seed}: {len(sides[0])} {args.group_by}s in train "
                         f"({', '.join(sides[0])}), {len(sides[1])} in test ({', '.join(sides[1])})")


def export_quietly(model_path, model):
    """The LiteRT export beside the model (liveness.models.export), or why there is none: a failed export costs
    no model."""
    from liveness.models.export import export

    try:
        return export(model_path, model=model)
    except LivenessError as error:
        return f"none ({error})"


def mean_history(histories):
    """Each curve averaged over an ensemble's members (a single model's as it is)."""
    return {key: np.mean([h[key] for h in histories], axis=0) for key in histories[0]}


def new_figure():
    """(pyplot, a new figure) in the original's ggplot style, drawn without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use("ggplot")
    return plt, plt.figure()


def write_figure(plt, fig, path):
    """The figure as a PNG at `path`, whole or not at all, then closed."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def save_plot(history, path):
    """Training/validation loss and accuracy per epoch, as the original plotted them."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    plt, fig = new_figure()
    plt.plot(epochs, history["loss"], label="train_loss")
    plt.plot(epochs, history["val_loss"], label="val_loss")
    plt.plot(epochs, history["accuracy"], label="train_acc")
    plt.plot(epochs, history["val_accuracy"], label="val_acc")
    plt.title("Training Loss and Accuracy on Dataset")
    plt.xlabel("Epoch #")
    plt.ylabel("Loss/Accuracy")
    plt.legend(loc="lower left")
    write_figure(plt, fig, path)


def train_fusion(args):
    """--recipe fused: both pretrained networks score the dataset once; the second's weight is the one whose
    fused scores have the lowest ACER on it; the .fusion file names the two and that weight."""
    from liveness.evaluation.scoring import score_folder
    from liveness.models import second_network
    from liveness.models.fusion import FusedClassifier, choose_weight, write_fusion
    from liveness.models.labels import load_label_encoder, save_label_encoder
    from liveness.models.model_io import load_classifier, prepare_runtime

    pair_le = os.path.join(os.path.dirname(os.path.abspath(args.init)), "le.pickle")
    print(f"[INFO] the pair {args.init} runs on {prepare_runtime(args.init, args.verbose)}")
    first, _ = load_classifier(args.init, pair_le)
    classifier = FusedClassifier(first, second_network.SecondNetwork(args.second), 0.0, 0.5)
    classifier.members = []
    print(f"[INFO] scoring {args.dataset} with both networks (crops {classifier.cropper})...")
    rows, counts = score_folder(args.dataset, classifier, first.bona_fide)
    first_p, second_logits = (np.concatenate(part) for part in zip(*classifier.members))
    is_bona_fide = np.array([r.label == first.bona_fide for r in rows])
    weight, table = choose_weight(first_p, second_logits, is_bona_fide)
    report = "weight | APCER | BPCER | ACER\n" + "\n".join(
        f"{w:.1f} | {a:.4f} | {b:.4f} | {c:.4f}{'  <- chosen' if w == weight else ''}" for w, (a, b, c) in table.items())
    print(f"[INFO] {len(rows)} faces ({int(is_bona_fide.sum())} live), {counts['skipped']} skipped; the second "
          f"network's weight {weight:.1f} decides them best:\n{report}")
    write_fusion(args.model, args.init, args.second, weight)
    update_metadata(args.model, replace=True, trained_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    recipe="fused", arch="fusion", classes=first.classes, dataset=os.path.abspath(args.dataset),
                    second_weight=weight, acer_by_weight={str(w): v[2] for w, v in table.items()},
                    init=os.path.abspath(args.init), second=os.path.abspath(args.second),  # pinned in the .fusion
                    detector=detector_of([r.file for r in rows]) or read_metadata(args.init).get("detector") or "ssd")
    save_label_encoder(load_label_encoder(pair_le), args.le)
    write_bytes(args.report, f"dataset: {args.dataset}\nfaces: {len(rows)}\n\n{report}\n".encode())
    save_weight_plot(table, weight, args.plot)
    print(f"[INFO] wrote {args.model}, {args.le}, {args.report}, {args.plot}")


def train_head(args):
    """--recipe head: the pair's frozen embeddings of the training split fit a logistic regression, which becomes
    the pair's last layer; the held-out split is reported as any model's."""
    from sklearn.metrics import classification_report
    from sklearn.preprocessing import LabelEncoder

    from liveness.data.dataset import load_rois
    from liveness.models import head
    from liveness.models.labels import save_label_encoder
    from liveness.models.model_io import save_model

    crop, size, init = starting_point(args)
    if not set(head.NETWORKS) <= {layer.name for layer in init.layers}:
        raise LivenessError(f"--recipe head needs the pretrained pair as --init, not {args.init}")
    print("[INFO] loading images...")
    data, labels, paths, skipped = load_rois(args.dataset, size, crop)
    print(f"[INFO] {len(data)} images, {skipped} skipped as undecodable")
    le = LabelEncoder()
    encoded = le.fit_transform(labels)
    if len(le.classes_) != 2 or "real" not in le.classes_:
        raise LivenessError(f"--recipe head needs two classes, one of them 'real'; {args.dataset} has "
                            f"{', '.join(le.classes_)}")
    train, test, split_used = split(labels, paths, args)
    embedder = head.embedder(init)
    print(f"[INFO] the pair's embeddings of {len(data)} faces ({crop})...")
    features = head.embeddings(embedder, data)
    real = list(le.classes_).index("real")
    weights, bias = head.fit_logistic(features[train], encoded[train] == real, args.head_c)
    model = head.with_head(embedder, weights, bias, le.classes_, "real")
    predictions = model.predict(data[test], batch_size=64, verbose=0)
    report = classification_report(encoded[test], predictions.argmax(axis=1), labels=range(2),
                                   target_names=le.classes_, digits=4, zero_division=0)
    print(f"[INFO] split: {split_used}; {len(train)} train, {len(test)} test")
    print(report)
    print(f"[INFO] serializing network to '{args.model}'...")
    save_model(model, args.model)
    detector = detector_of(paths)
    update_metadata(args.model, replace=True, trained_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    classes=[str(c) for c in le.classes_], dataset=os.path.abspath(args.dataset), split=split_used,
                    recipe="head", head_c=args.head_c, seed=args.seed, **crop.metadata(), size=size[0],
                    arch="minifasnet_pair_head", init=os.path.abspath(args.init), trainable="head",
                    **{k: v for k, v in read_metadata(args.init).items() if k in ("origin", "license", "class_map")},
                    detector=detector or read_metadata(args.init).get("detector") or "ssd")
    save_label_encoder(le, args.le)
    if not args.no_export:
        print(f"[INFO] exported for serving without TensorFlow: {export_quietly(args.model, model)}")
    write_bytes(args.report, (f"dataset: {args.dataset}\nsplit: {split_used}; {len(train)} train, {len(test)} test"
                              f"\nrecipe: head (C {args.head_c})\n\n{report}").encode())
    save_score_plot(predictions[:, real], encoded[test] == real, args.plot)
    print(f"[INFO] wrote {args.le}, {args.report}, {args.plot}")


def save_score_plot(scores, is_bona_fide, path):
    """The held-out faces' real scores, live and attack apart: what the head separates and where 0.5 cuts."""
    plt, fig = new_figure()
    bins = np.linspace(0, 1, 21)
    plt.hist(scores[is_bona_fide], bins=bins, alpha=0.6, label=f"live ({int(is_bona_fide.sum())})")
    plt.hist(scores[~is_bona_fide], bins=bins, alpha=0.6, label=f"attack ({int((~is_bona_fide).sum())})")
    plt.axvline(0.5, color="gray", linestyle="--", label="threshold 0.5")
    plt.title("Head on the pair's embeddings: held-out scores")
    plt.xlabel("real score")
    plt.ylabel("faces")
    plt.legend(loc="upper center")
    write_figure(plt, fig, path)


def save_weight_plot(table, chosen, path):
    """APCER, BPCER and ACER on the dataset against the second network's weight."""
    weights = list(table)
    plt, fig = new_figure()
    for i, name in enumerate(("APCER", "BPCER", "ACER")):
        plt.plot(weights, [table[w][i] for w in weights], marker="o", label=name)
    plt.axvline(chosen, color="gray", linestyle="--", label=f"chosen: {chosen:.1f}")
    plt.title("Fusion: error rates against the second network's weight")
    plt.xlabel("weight of the second network")
    plt.ylabel("error rate")
    plt.legend(loc="upper center")
    write_figure(plt, fig, path)


@exit_on_error
def main():
    args = parse_args()
    if args.recipe == "fused":
        return train_fusion(args)
    import_tensorflow(args.verbose)
    if args.recipe == "head":
        return train_head(args)
    import keras
    from sklearn.metrics import classification_report
    from sklearn.preprocessing import LabelEncoder

    from liveness.data.dataset import load_rois
    from liveness.models.labels import save_label_encoder
    from liveness.models.model_io import save_model
    from livenessnet import average_of

    keras.utils.set_random_seed(args.seed)

    print("[INFO] loading images...")
    crop, size, init = starting_point(args)
    if init is not None and args.augment == "strong" and crop.channels != 3:
        raise LivenessError(f"--augment strong needs 3-channel crops; {args.init} looks at {len(crop.scales)} crops at once")
    data, labels, paths, skipped = load_rois(args.dataset, size, crop)
    print(f"[INFO] {len(data)} images, {skipped} skipped as undecodable")
    detector = detector_of(paths)
    print(f"[INFO] face boxes from the {detector} detector (the gather manifests)" if detector else
          "[INFO] the gather manifests name no one face detector: the model will use the default SSD")

    le = LabelEncoder()
    train, test, split_used = split(labels, paths, args)
    labels = keras.utils.to_categorical(le.fit_transform(labels), len(le.classes_))
    (trainX, testX, trainY, testY) = (data[train], data[test], labels[train], labels[test])
    if args.synthetic_replay > 0:
        trainX, trainY = add_synthetic_replays(trainX, trainY, [paths[i] for i in train], le, crop, size, args)
    if len(trainX) < args.batch_size:
        raise LivenessError(f"only {len(trainX)} training images, fewer than --batch-size {args.batch_size}")
    print(f"[INFO] classes {', '.join(le.classes_)}; {len(trainX)} train, {len(testX)} test; split: {split_used}")

    class_weight = None
    if args.class_weight == "balanced":
        counts = trainY.sum(axis=0)
        class_weight = {i: float(len(trainY) / (len(counts) * c)) for i, c in enumerate(counts)}
        print(f"[INFO] class weights {class_weight}")

    members, histories = [], []
    for i in range(args.ensemble):
        if i > 0:  # the first member's random stream is the single model's, seeded once above
            keras.utils.set_random_seed(args.seed + i)
        print("[INFO] compiling model..." if args.ensemble == 1 else
              f"[INFO] compiling model {i + 1} of {args.ensemble} (seed {args.seed + i})...")
        steps = len(trainX) // args.batch_size
        if init is not None:  # with --pull the fitted model is a wrapper that trains init's own weights
            fitted, model = fine_tunable(init, len(le.classes_), args.lr, args.epochs, args.trainable, steps,
                                         args.pull), init
        else:
            fitted = model = build_model(len(le.classes_), args.lr, args.epochs, steps_per_execution=steps, size=size,
                                         arch=args.arch, name=None if args.ensemble == 1 else f"member_{i}",
                                         standardize=args.standardize)
        print(f"[INFO] training network for {args.epochs} epochs...")
        H = fit(fitted, trainX, trainY, testX, testY, args.batch_size, args.epochs, args.seed + i,
                verbose=1 if sys.stdout.isatty() else 2, strength=args.augment, class_weight=class_weight)
        members.append(model)
        histories.append(H.history)
    model = members[0] if args.ensemble == 1 else average_of(members)

    print("[INFO] evaluating network...")
    predictions = model.predict(testX, batch_size=args.batch_size, verbose=0)
    report = classification_report(testY.argmax(axis=1), predictions.argmax(axis=1),
                                   labels=range(len(le.classes_)), target_names=le.classes_, digits=4,
                                   zero_division=0)
    print(f"[INFO] split: {split_used}")
    print(report)

    print(f"[INFO] serializing network to '{args.model}'...")
    save_model(model, args.model)
    # a new model: nothing of an older one's metadata (its calibrated threshold) may stick to it
    update_metadata(args.model, replace=True, trained_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    classes=[str(c) for c in le.classes_], dataset=os.path.abspath(args.dataset), split=split_used,
                    recipe=args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                    **crop.metadata(), size=size[0], standardize=args.standardize,
                    arch=read_metadata(args.init).get("arch", "unknown") if init is not None else args.arch,
                    init=os.path.abspath(args.init) if init is not None else None,
                    trainable=args.trainable if init is not None else "all", pull=args.pull,
                    **({k: v for k, v in read_metadata(args.init).items() if k in ("origin", "license", "class_map")}
                       if init is not None else {}),
                    ensemble=args.ensemble,
                    augment=args.augment, class_weight=args.class_weight,
                    synthetic_replay=args.synthetic_replay, synthetic_scene=args.synthetic_scene,
                    **({"detector": detector} if detector else {}))
    save_label_encoder(le, args.le)
    if not args.no_export:
        print(f"[INFO] exported for serving without TensorFlow: {export_quietly(args.model, model)}")
    write_bytes(args.report, (f"dataset: {args.dataset}\nsplit: {split_used}; "
                              f"{len(trainX)} train, {len(testX)} test\n\n{report}").encode())
    save_plot(mean_history(histories), args.plot)
    print(f"[INFO] wrote {args.le}, {args.report}, {args.plot}")


if __name__ == "__main__":
    main()
