"""The recommended fusion against the pair it is built on, served and in the demo, in one run.

    python benchmarks/fusion_speed.py                   # pretrained/ (python -m liveness.pretrained first)
    python benchmarks/fusion_speed.py --rounds 3 --requests 1000

Both run as a user serves them: from their LiteRT exports, on the serving install's interpreter
(--python, default .venv-serve/bin/python: no TensorFlow, no ONNX Runtime) where there is one. For each,
in turn and --rounds times over: the service's time from its start to a 200 on /readyz, the resident
memory of each scoring process, requests per second at --concurrency (load_api.py's valid images)
and the CPU a request costs the client (this process), the service's own process and its scorers,
and the demo's frames per second on --video. It prints every run, the medians, the ratios of the
fusion to the pair, and checks the targets: the fusion at least 0.8x the pair's requests and frames
per second, at least 100 requests and 90 frames per second, /readyz within 3 s, each scorer at most
150 MB.
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from serving import demo_fps, serve  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
SERVE_PYTHON = os.path.join(ROOT, ".venv-serve", "bin", "python")


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrained", default=os.path.join(ROOT, "pretrained"))
    ap.add_argument("--video", default=os.path.join(SHARED, "videos", "subjA_real.mov"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--scorers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="runs of each, alternated; medians are compared")
    ap.add_argument("--python", default=SERVE_PYTHON if os.path.isfile(SERVE_PYTHON) else sys.executable)
    args = ap.parse_args()
    le = os.path.join(args.pretrained, "le.pickle")
    models = {"the pair": os.path.join(args.pretrained, "minifasnet.keras"),
              "the fusion": os.path.join(args.pretrained, "minifasnet_fused.fusion")}
    runs = {name: [] for name in models}
    print(f"[INFO] interpreter {args.python}; {args.scorers} scorers, {args.requests} requests at concurrency "
          f"{args.concurrency}; demo on {args.video}")
    print("| round | model | /readyz after (s) | largest scorer (MB) | requests/s | CPU ms a request: client, service, "
          "scorers | demo frames/s |\n| --- | --- | --- | --- | --- | --- | --- |")
    for round_ in range(1, args.rounds + 1):
        for name, model in models.items():
            run = serve(model, le, args, python=args.python)
            run["rss"], run["ok"] = max(run["rss"], default=0.0), run["ok"] == run["sent"]
            run["fps"] = demo_fps(model, le, args.video, python=args.python)
            run["cpu ms"] = sum(run["cpu"].values())
            runs[name].append(run)
            cpu = ", ".join(f"{ms:.1f}" for ms in run["cpu"].values())
            print(f"| {round_} | {name} | {run['ready']:.2f} | {run['rss']:.0f} | {run['rps']:.1f} | {cpu} | "
                  f"{run['fps']:.1f} |", flush=True)
    median = {name: {k: statistics.median(r[k] for r in rs) for k in ("ready", "rss", "rps", "fps", "cpu ms")}
              for name, rs in runs.items()}
    pair, fused = median["the pair"], median["the fusion"]
    print(f"[INFO] medians: the pair {pair['rps']:.1f} requests/s, {pair['fps']:.1f} frames/s; the fusion "
          f"{fused['rps']:.1f} requests/s ({fused['rps'] / pair['rps']:.2f}x), {fused['fps']:.1f} frames/s "
          f"({fused['fps'] / pair['fps']:.2f}x)")
    print(f"[INFO] CPU a request, all parts on the same cores: the pair {pair['cpu ms']:.1f} ms, the fusion "
          f"{fused['cpu ms']:.1f} ms; where the cores are the limit, the fusion answers at most "
          f"{pair['cpu ms'] / fused['cpu ms']:.2f}x the pair's requests per second")
    checks = [("the service: the fusion at least 0.8x the pair's requests per second", fused["rps"] / pair["rps"] >= 0.8,
               f"{fused['rps'] / pair['rps']:.2f}x"),
              ("the service: the fusion at least 100 requests per second", fused["rps"] >= 100, f"{fused['rps']:.1f}"),
              ("the demo: the fusion at least 0.8x the pair's frames per second", fused["fps"] / pair["fps"] >= 0.8,
               f"{fused['fps'] / pair['fps']:.2f}x"),
              ("the demo: the fusion at least 90 frames per second", fused["fps"] >= 90, f"{fused['fps']:.1f}"),
              ("/readyz within 3 s of the start", max(r["ready"] for r in runs["the fusion"]) <= 3,
               f"{max(r['ready'] for r in runs['the fusion']):.2f} s"),
              ("each scorer at most 150 MB", max(r["rss"] for r in runs["the fusion"]) <= 150,
               f"{max(r['rss'] for r in runs['the fusion']):.0f} MB"),
              ("every request answered 200", all(r["ok"] for rs in runs.values() for r in rs), "")]
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
