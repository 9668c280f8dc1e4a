"""How long each command takes to answer --help: the best of --repeat runs, in a fresh process each.

    python benchmarks/startup.py

Commands parse their arguments before TensorFlow is imported (liveness/quiet.py), so --help and a
wrong flag answer at once. The target: every command under 1.5 s on 2 cores. For scale it also
times a bare `import tensorflow` in the same run.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ["gather_examples.py", "train_liveness.py", "liveness_demo.py", "evaluate_liveness.py", "liveness_api.py",
            "liveness_client.py", "livenessnet.py", "minifasnet.py", "-m liveness.pretrained"]
TARGET = 1.5


def seconds(command, repeat):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows, ok = [], True
    for command in COMMANDS:
        took = seconds([sys.executable, *command.split(), "--help"], args.repeat)
        ok &= took < TARGET
        rows.append((f"{command} --help", took))
    rows.append(("python -c 'import tensorflow' (for scale)", seconds([sys.executable, "-c", "import tensorflow"], 1)))
    print("| command | seconds |\n| --- | --- |")
    for name, took in rows:
        print(f"| `{name}` | {took:.2f} |")
    print(f"[{'PASS' if ok else 'FAIL'}] every command's --help under {TARGET} s: "
          f"slowest {max(t for _, t in rows[:-1]):.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
