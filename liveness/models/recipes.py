"""Named training recipes: one word for the flags a recipe stands for (train_liveness.py --recipe).

A recipe sets defaults, nothing more: a flag given on the command line wins
over the recipe's value for it. The recipe's name and every resulting value
are recorded beside the model (<model>.json), as any flag is.
"""
from liveness.errors import LivenessError

# name: (train_liveness.py argument values, what it is)
RECIPES = {
    "original": ({}, "the original tutorial's: LivenessNet on 32x32 tight face crops, 50 epochs at batch size 8"),
    "context": ({"crop_scale": 4.0, "size": 64, "augment": "strong", "class_weight": "balanced", "standardize": "image"},
                "LivenessNet on the face with its surroundings (crop x4 at 64x64), each crop standardized, strong "
                "augmentation, balanced classes"),
    "pretrained": ({"init": "pretrained/minifasnet.keras", "trainable": "head", "epochs": 2, "lr": 1e-4, "batch_size": 16},
                   "the pretrained MiniFASNet pair (python -m liveness.pretrained), its classifier head fine-tuned "
                   "for 2 epochs"),
    "head": ({"init": "pretrained/minifasnet.keras", "head_c": 0.1},
             "a logistic regression (C 0.1, balanced classes) on the pretrained pair's frozen 256-d embeddings, "
             "fitted on the dataset's training split and written as the pair's new last layer"),
    "fused": ({"init": "pretrained/minifasnet.keras", "second": "pretrained/best_model.onnx"},
              "the pretrained pair fused on logits with the second pretrained network (both from python -m "
              "liveness.pretrained), the second's weight chosen on the dataset (lowest ACER); --model NAME.fusion"),
}


def flags_of(name):
    """The recipe as command-line flags, e.g. '--crop-scale 4.0 --size 64 ...'."""
    values, _ = RECIPES[name]
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in values.items()) or "(the defaults)"


def explicit_destinations(parser, argv):
    """The argument names the command line sets itself (`--size 64` or `--size=64`, or a short form)."""
    given = {token.split("=", 1)[0] for token in argv if token.startswith("-")}
    return {action.dest for action in parser._actions if given & set(action.option_strings)}


def apply_recipe(args, name, explicit):
    """Set each of the recipe's values on `args` unless the command line gave that argument itself."""
    if name not in RECIPES:
        raise LivenessError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}")
    values, _ = RECIPES[name]
    for key, value in values.items():
        if key not in explicit:
            setattr(args, key, value)
    return args
