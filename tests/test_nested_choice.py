"""benchmarks/nested_choice.py: the choice rule applied without each person, over finished protocol runs."""
import csv

from conftest import assert_one_line_error, run_script

# (person, recording, label): p1 has both sides, p2 is live only, p3 is an attack only
FACES = [("p1", "p1_real", "real"), ("p1", "p1_fake", "phone"), ("p2", "p2_real", "real"), ("p3", "p3_fake", "phone")]


def protocol_run(folder, scores):
    """A cross_person.py work folder scored as it is: eval/scores.csv, five frames a recording."""
    (folder / "eval").mkdir(parents=True)
    with open(folder / "eval" / "scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "recording", "subject", "frame", "label", "score"])
        for person, recording, label in FACES:
            for frame in range(5):
                writer.writerow([f"{recording}.mp4", recording, person, frame, label, scores[recording]])
    return folder


def test_each_person_gets_the_recipe_chosen_without_them_ties_to_the_earlier(tmp_path):
    # "weak" errs on p1 only; without p1 both are perfect, and the tie goes to weak, listed first
    weak = protocol_run(tmp_path / "weak", {"p1_real": 0.4, "p1_fake": 0.6, "p2_real": 0.9, "p3_fake": 0.1})
    strong = protocol_run(tmp_path / "strong", {"p1_real": 0.9, "p1_fake": 0.1, "p2_real": 0.9, "p3_fake": 0.1})
    result = run_script("benchmarks/nested_choice.py", f"weak={weak}@0.5", f"strong={strong}@0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[INFO] 20 frames scored by every run" in lines
    assert [line.rsplit(" ", 1)[-1] for line in lines if "without" in line] == ["weak", "strong", "strong"]
    # p1, scored by the recipe picked without them, is wrong on all its frames: half the live, half the attacks
    assert lines[-1] == "[INFO] the rule, nested LOPO: ACER 0.5000, APCER 0.5000, BPCER 0.5000; picked strong, weak"


def test_a_run_that_is_not_a_protocol_folder_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_script("benchmarks/nested_choice.py", f"x={tmp_path}@0.5"), "no scores.csv")
    assert_one_line_error(run_script("benchmarks/nested_choice.py", f"x={tmp_path}@0.7"), "NAME=WORK@0.5")
