"""Serving with TensorFlow against serving the LiteRT export, in one run: start-up, memory, requests, frames.

    python benchmarks/serving.py                       # the pretrained pair (python -m liveness.pretrained first)
    python benchmarks/serving.py -m liveness.keras -l le.pickle --requests 300

The Keras model is served from a copy in a temporary folder, with no export beside it (so TensorFlow
loads it, as before the export existed); the export is served as --model MODEL.tflite. For each, in
turn: the service's time from its start to a 200 on /readyz, the resident memory of each scoring
process, requests per second at --concurrency (load_api.py's valid images), and the demo's frames per
second on --video with the model's own face detector. It prints the ratios and checks the targets:
/readyz 5x sooner, each scorer at most 250 MB, requests and frames per second 1.5x.
"""
import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from load_api import request_bodies, send_all  # noqa: E402

from liveness.errors import LivenessError, exit_on_error  # noqa: E402
from liveness.models.lite import current_export  # noqa: E402
from liveness_api import start_local  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")


def scorer_pids(service_pid):
    """The scoring processes the service started (its multiprocessing children, not the resource tracker)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if parent != service_pid:
                continue
            with open(f"/proc/{pid}/cmdline") as f:
                command = f.read()
            if "multiprocessing" in command and "resource_tracker" not in command:
                pids.append(int(pid))
        except (OSError, ValueError):
            continue
    return pids


def rss_mb(pids):
    """Resident memory of each of the processes, in MB."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                out.append(int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024)
        except (OSError, AttributeError):
            continue
    return out


def cpu_ms(pids):
    """CPU milliseconds (user and system) each process has used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        used[pid] = (int(fields[11]) + int(fields[12])) * 1000 / ticks
    return used


def serve(model, le, args, python=None):
    """Start the service, time /readyz, measure its scorers' memory, its requests a second and the CPU a request
    costs each part (this process as the client, the service's own process, its scorers), stop it."""
    started = time.perf_counter()
    process, url = start_local(model, le, "--scorers", args.scorers, timeout=600, python=python)
    ready = time.perf_counter() - started
    try:
        scorers, bodies = scorer_pids(process.pid), request_bodies(args.requests, 0.0)
        rss = rss_mb(scorers)
        before, client = cpu_ms([process.pid, *scorers]), time.process_time()
        results, elapsed = asyncio.run(send_all(url, bodies, args.concurrency, 600))
        client, after = (time.process_time() - client) * 1000, cpu_ms([process.pid, *scorers])
        statuses = [s for _, s, _ in results]
    finally:
        process.terminate()
        process.wait(timeout=30)
    spent = {pid: after[pid] - before[pid] for pid in after}
    cpu = {"client": client, "service": spent[process.pid], "scorers": sum(spent[pid] for pid in scorers)}
    return {"ready": ready, "rss": rss, "rps": len(results) / elapsed, "ok": statuses.count(200), "sent": len(results),
            "cpu": {part: ms / len(results) for part, ms in cpu.items()}}


def demo_fps(model, le, video, python=None):
    out = tempfile.mktemp(suffix=".mp4")
    result = subprocess.run([python or sys.executable, os.path.join(ROOT, "liveness_demo.py"), "-m", model, "-l", le, "-i", video,
                             "--no-display", "-o", out], cwd=ROOT, capture_output=True, text=True)
    if os.path.exists(out):
        os.remove(out)
    match = re.search(r"([\d.]+) frames per second", result.stdout)
    if result.returncode != 0 or not match:
        raise LivenessError(f"the demo failed: {result.stderr.strip().splitlines()[-1:]}")
    return float(match.group(1))


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet.keras"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--video", default=os.path.join(SHARED, "videos", "subjA_real.mov"))
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--scorers", type=int, default=2)
    args = ap.parse_args()
    export = current_export(args.model)
    if export is None or export == args.model:
        raise LivenessError(f"give the Keras model with a current export beside it (python -m liveness.export {args.model})")
    with tempfile.TemporaryDirectory() as folder:
        keras_copy = os.path.join(folder, os.path.basename(args.model))
        shutil.copy(args.model, keras_copy)
        if os.path.isfile(args.model + ".json"):
            shutil.copy(args.model + ".json", keras_copy + ".json")
        runs = {}
        for name, model in (("TensorFlow", keras_copy), ("LiteRT", export)):
            print(f"[INFO] {name}: the service...", flush=True)
            runs[name] = serve(model, args.le, args)
            print(f"[INFO] {name}: the demo...", flush=True)
            runs[name]["fps"] = demo_fps(model, args.le, args.video)
    print(f"[INFO] {os.path.basename(args.model)}: {args.scorers} scorers, {args.requests} requests at concurrency "
          f"{args.concurrency}; demo on {args.video}")
    print("| runtime | /readyz after (s) | each scorer (MB) | requests/s | demo frames/s |\n| --- | --- | --- | --- | --- |")
    for name, r in runs.items():
        print(f"| {name} | {r['ready']:.1f} | {', '.join(f'{m:.0f}' for m in r['rss'])} | {r['rps']:.1f} | {r['fps']:.1f} |")
    tf, lite = runs["TensorFlow"], runs["LiteRT"]
    checks = [("/readyz at least 5x sooner", tf["ready"] / lite["ready"] >= 5, f"{tf['ready'] / lite['ready']:.1f}x"),
              ("each scorer at most 250 MB", bool(lite["rss"]) and max(lite["rss"]) <= 250,
               f"{max(lite['rss'], default=0):.0f} MB"),
              ("requests per second at least 1.5x", lite["rps"] / tf["rps"] >= 1.5, f"{lite['rps'] / tf['rps']:.2f}x"),
              ("demo frames per second at least 1.5x", lite["fps"] / tf["fps"] >= 1.5, f"{lite['fps'] / tf['fps']:.2f}x"),
              ("every request answered 200", all(r["ok"] == r["sent"] for r in runs.values()),
               ", ".join(f"{n} {r['ok']}/{r['sent']}" for n, r in runs.items()))]
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
