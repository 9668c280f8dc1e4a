"""Sessions under load: sessions per second at --concurrency, and the time from a session's last frame to its
decision.

    python benchmarks/sessions_load.py                       # the recommended fusion, 80 sessions of 10 frames

Starts the service (the serving install's interpreter where there is one) and runs --sessions sessions,
--concurrency of them at once, each created, then fed --frames JPEG frames of the built-in sample one after
the other as a capture page sends them (live and replay sessions alternating), and read back. It prints
sessions per second, the latency of the frames that do not end a session and of the last frame, whose answer
carries the decision (p50, p99), and fails on any answer but 200/201 or a session that did not decide.
"""
import argparse
import asyncio
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from liveness.data.sample import real_frames, replay_frames  # noqa: E402
from liveness.errors import exit_on_error  # noqa: E402
from liveness_api import start_local  # noqa: E402

SERVE_PYTHON = os.path.join(ROOT, ".venv-serve", "bin", "python")


async def one_session(client, url, frames, timings):
    created = await client.post(f"{url}/v1/sessions", json={"frames": len(frames)})
    assert created.status_code == 201, created.text
    session = created.json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    answer, interval = None, session["frame_interval_ms"] / 1000 + 0.01
    for i, data in enumerate(frames):
        if i:
            await asyncio.sleep(interval)  # a camera's pace: sooner would be refused (429)
        started = time.perf_counter()
        response = await client.post(f"{url}/v1/sessions/{session['id']}/frames", headers=headers,
                                     files={"file": ("frame.jpg", data)})
        assert response.status_code == 200, response.text
        timings["last" if i == len(frames) - 1 else "other"].append(time.perf_counter() - started)
        answer = response.json()["session"]
    assert answer["status"] == "SUCCEEDED", answer
    return answer["decision"]


async def run(url, args, clips):
    timings, decisions = {"last": [], "other": []}, []
    queue = asyncio.Queue()
    for i in range(args.sessions):
        queue.put_nowait(clips[i % 2])
    async with httpx.AsyncClient(timeout=120) as client:
        async def worker():
            while not queue.empty():
                decisions.append(await one_session(client, url, queue.get_nowait(), timings))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return time.perf_counter() - started, timings, decisions


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--sessions", type=int, default=80)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--python", default=SERVE_PYTHON if os.path.isfile(SERVE_PYTHON) else sys.executable)
    args = ap.parse_args()
    clips = [[cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for f in frames]
             for frames in (list(real_frames(4 * args.frames, (640, 480), seed=5))[::4],
                            list(replay_frames(4 * args.frames, (640, 480), seed=6))[::4])]
    process, url = start_local(args.model, args.le, "--max-sessions-per-key", args.sessions, timeout=600,
                               python=args.python)
    try:
        elapsed, timings, decisions = asyncio.run(run(url, args, clips))
    finally:
        process.terminate()
        process.wait(timeout=30)
    ms = {k: 1000 * np.asarray(v) for k, v in timings.items()}
    print(f"[INFO] {args.model}: {len(decisions)} sessions of {args.frames} frames at concurrency {args.concurrency} "
          f"in {elapsed:.1f} s: {len(decisions) / elapsed:.2f} sessions per second "
          f"({len(decisions) * args.frames / elapsed:.1f} frames per second); decisions "
          f"{ {d: decisions.count(d) for d in sorted(set(decisions))} }")
    for name, values in (("a frame that does not end its session", ms["other"]),
                         ("the last frame, whose answer is the decision", ms["last"])):
        print(f"[INFO] {name}: p50 {np.percentile(values, 50):.0f} ms, p99 {np.percentile(values, 99):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
