"""Commands answer --help and a wrong flag before TensorFlow is imported, and start without its noise."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

COMMANDS = ["gather_examples.py", "train_liveness.py", "liveness_demo.py", "evaluate_liveness.py", "liveness_api.py",
            "liveness_client.py", "livenessnet.py", "minifasnet.py", "liveness/pretrained.py"]
PROBE = """
import runpy, sys
sys.argv = [{script!r}, *{args!r}]
try:
    runpy.run_path({path!r}, run_name="__main__")
except SystemExit:
    pass
heavy = sorted(m for m in ("tensorflow", "keras", "sklearn", "matplotlib") if m in sys.modules)
print("HEAVY", ",".join(heavy) or "none", file=sys.stderr)
"""


def imported_after(script, *args):
    code = PROBE.format(script=script, args=list(args), path=os.path.join(ROOT, script))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    line = [x for x in result.stderr.splitlines() if x.startswith("HEAVY ")][-1]
    return line.split(" ", 1)[1], result


@pytest.mark.parametrize("script", COMMANDS)
def test_help_imports_no_tensorflow(script):
    heavy, result = imported_after(script, "--help")
    assert "usage:" in result.stdout
    assert heavy == "none", f"{script} --help imported {heavy}"


def test_a_wrong_flag_is_answered_before_tensorflow_is_imported(tmp_path):
    heavy, result = imported_after("train_liveness.py", "-d", str(tmp_path), "-m", "m.keras", "-l", "le.pickle", "--epochs", "0")
    assert "[ERROR] --epochs" in result.stderr and heavy == "none"


def test_tensorflow_start_up_lines_are_silenced_unless_verbose():
    quiet = subprocess.run([sys.executable, "livenessnet.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "Total params" in quiet.stdout
    assert quiet.stderr.strip() == "", quiet.stderr
