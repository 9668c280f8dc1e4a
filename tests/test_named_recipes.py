"""--recipe: one word for a set of train_liveness.py flags; explicit flags win; recorded with the model."""
import argparse
import json

from conftest import assert_one_line_error, run_script
from liveness.models.recipes import RECIPES, apply_recipe, explicit_destinations


def parser():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--crop-scale", type=float, default=1.0)
    ap.add_argument("-e", "--epochs", type=int, default=50)
    return ap


def test_a_recipe_fills_in_what_the_command_line_leaves_out():
    argv = ["--size", "48"]
    args = parser().parse_args(argv)
    apply_recipe(args, "context", explicit_destinations(parser(), argv))
    assert args.size == 48  # given: kept
    assert args.crop_scale == RECIPES["context"][0]["crop_scale"] == 4.0  # left out: the recipe's


def test_explicit_flags_are_found_in_every_spelling():
    assert explicit_destinations(parser(), ["--size=64", "-e", "3", "--crop-scale", "2"]) == {"size", "epochs", "crop_scale"}
    assert explicit_destinations(parser(), []) == set()


def test_the_original_recipe_changes_nothing():
    args = parser().parse_args([])
    before = vars(args).copy()
    apply_recipe(args, "original", set())
    assert vars(args) == before


def test_training_records_the_recipe_and_lets_flags_override_it(gathered, tmp_path):
    model = tmp_path / "m.keras"
    result = run_script("train_liveness.py", "-d", gathered, "-m", model, "-l", tmp_path / "le.pickle", "-p", tmp_path / "p.png",
                        "--recipe", "context", "--size", 40, "--epochs", 1, "--batch-size", 4)
    assert result.returncode == 0, result.stderr
    metadata = json.load(open(f"{model}.json"))
    assert metadata["recipe"] == "context"
    assert (metadata["crop_scale"], metadata["augment"], metadata["standardize"]) == (4.0, "strong", "image")  # the recipe's
    assert (metadata["size"], metadata["epochs"]) == (40, 1)  # the command line's


def test_the_pretrained_recipe_without_the_converted_model_says_how_to_make_it(gathered, tmp_path):
    result = run_script("train_liveness.py", "-d", gathered, "-m", tmp_path / "m.keras", "-l", tmp_path / "le.pickle",
                        "--recipe", "pretrained", "--init", tmp_path / "missing.keras")
    assert_one_line_error(result, "missing.keras", "python -m liveness.pretrained")
