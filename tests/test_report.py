"""evaluate_liveness.py's one-page HTML report: the figures, the persons and the worst faces, in one file."""
import json
import re

from conftest import run_script


def test_the_report_shows_the_figures_the_persons_and_the_worst_faces(trained, eval_set, tmp_path):
    out, failures = tmp_path / "eval", tmp_path / "failures"
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set, "-o", out,
                        "--threshold", 1.0, "--save-failures", failures)  # at 1.0 every live face is rejected
    assert result.returncode == 0, result.stderr
    page = (out / "report.html").read_text()
    metrics = json.load(open(out / "metrics.json"))
    assert f"{metrics['frame_level']['acer']:.4f}" in page and f"{metrics['video_level']['bpcer']:.4f}" in page
    for person in metrics["per_subject"]:
        assert f"<td>{person}</td>" in page
    assert page.count('src="data:image/png;base64,') == 1 + min(12, sum(1 for _ in failures.rglob("*.png")))
    assert re.search(r"live, rejected<br>score 0\.\d{3}", page)


def test_without_saved_failures_the_report_says_how_to_get_them(trained, eval_set, tmp_path):
    result = run_script("evaluate_liveness.py", "-m", trained["model"], "-l", trained["le"], "--dataset", eval_set,
                        "-o", tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "eval" / "report.html").read_text()
    assert "--save-failures DIR" in page and page.count("data:image/png;base64,") == 1
