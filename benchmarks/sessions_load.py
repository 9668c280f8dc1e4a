"""Sessions under load: sessions per second at --concurrency, the time from a session's last frame to its
decision, and the service's CPU time per session, for passive sessions and for challenge sessions in one run.

    python benchmarks/sessions_load.py                       # the recommended fusion, 80 sessions of each kind

Starts the service (the serving install's interpreter where there is one) and runs --sessions sessions of each
kind, --concurrency of them at once, each created, then fed JPEG frames of the built-in sample as a capture page
sends them, and read back:

- passive ("challenge": "none"): --frames frames, live and replay sessions alternating;
- challenge (the default): the sample holding still while its frames are counted, then doing each step the
  page asks as a person would (liveness.data.sample.head_movement_frames), until the session decides.

It prints, per kind, sessions per second, the service's CPU seconds per session (the service and its scoring
processes, from /proc), frames per session, the latency of the frames that do not end a session and of the
last one (p50, p99), and the ratio of a challenge session's CPU to a passive one's; it fails on any answer but
200/201 or a session that did not decide.
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

from liveness.data.sample import head_movement_frames, real_frames, replay_frames  # noqa: E402
from liveness.errors import exit_on_error  # noqa: E402
from liveness.sessions.challenge import STEPS  # noqa: E402
from liveness_api import start_local  # noqa: E402

SERVE_PYTHON = os.path.join(ROOT, ".venv-serve", "bin", "python")
PAGE_S = 0.125


def cpu_seconds(pid):
    """CPU seconds (user and system) used so far by process `pid` and every process under it, from /proc."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grown = {pid}, True
    while grown:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    return sum(times.get(p, 0.0) for p in tree)


def jpeg(frame):
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


async def passive_session(client, url, frames, timings):
    created = await client.post(f"{url}/v1/sessions", json={"frames": len(frames), "challenge": "none"})
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
    return answer["decision"], len(frames)


async def challenge_session(client, url, person, timings):
    """A default session answered as a person would: still until a step shows, then that movement."""
    created = await client.post(f"{url}/v1/sessions", json={})
    assert created.status_code == 201, created.text
    session = created.json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    playing, sent, done = [], 0, set()
    while sent < 400:
        data = playing.pop(0) if playing else person["still"][sent % len(person["still"])]
        started = time.perf_counter()
        response = await client.post(f"{url}/v1/sessions/{session['id']}/frames", headers=headers,
                                     files={"file": ("frame.jpg", data)})
        sent += 1
        if response.status_code == 429:  # arrived sooner than a camera's pace after the last: the page waits
            timings["refused"] = timings.get("refused", 0) + 1
            await asyncio.sleep(PAGE_S)
            continue
        assert response.status_code == 200, response.text
        answer = response.json()["session"]
        if answer["status"] == "SUCCEEDED":
            timings["last"].append(time.perf_counter() - started)
            return answer["decision"], sent
        timings["other"].append(time.perf_counter() - started)
        prompt = (answer.get("challenge") or {}).get("prompt")
        step_key = (prompt, (answer.get("challenge") or {}).get("done"))
        if prompt and step_key not in done:
            done.add(step_key)
            playing = list(person[prompt])
        await asyncio.sleep(max(PAGE_S, (answer.get("next_frame_in_ms") or 0) / 1000 + 0.01) -
                            (time.perf_counter() - started))
    raise AssertionError("a challenge session that never decided")


async def run(url, args, kind, clips, person):
    timings, decisions, frames = {"last": [], "other": []}, [], []
    queue = asyncio.Queue()
    for i in range(args.sessions):
        queue.put_nowait(i)
    async with httpx.AsyncClient(timeout=120) as client:
        async def worker():
            while not queue.empty():
                i = queue.get_nowait()
                if kind == "passive":
                    decision, count = await passive_session(client, url, clips[i % 2], timings)
                else:
                    decision, count = await challenge_session(client, url, person, timings)
                decisions.append(decision)
                frames.append(count)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return time.perf_counter() - started, timings, decisions, frames


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--sessions", type=int, default=80, help="sessions of each kind")
    ap.add_argument("--frames", type=int, default=10, help="a passive session's frames")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--python", default=SERVE_PYTHON if os.path.isfile(SERVE_PYTHON) else sys.executable)
    args = ap.parse_args()
    clips = [[jpeg(f) for f in frames]
             for frames in (list(real_frames(4 * args.frames, (640, 480), seed=5))[::4],
                            list(replay_frames(4 * args.frames, (640, 480), seed=6))[::4])]
    person = {"still": [jpeg(f) for f in head_movement_frames([], lead_s=4.0, seed=7)]}
    for step in STEPS:
        person[step] = [jpeg(f) for f in head_movement_frames([step], lead_s=0.0, between_s=0.0, seed=8)]
    process, url = start_local(args.model, args.le, "--max-sessions-per-key", args.sessions, timeout=600,
                               python=args.python)
    figures = {}
    try:
        for kind in ("passive", "challenge"):
            before = cpu_seconds(process.pid)
            elapsed, timings, decisions, frames = asyncio.run(run(url, args, kind, clips, person))
            figures[kind] = (cpu_seconds(process.pid) - before) / len(decisions)
            ms = {k: 1000 * np.asarray(v) for k, v in timings.items() if k != "refused"}
            print(f"[INFO] {kind}: {len(decisions)} sessions at concurrency {args.concurrency} in {elapsed:.1f} s: "
                  f"{len(decisions) / elapsed:.2f} sessions per second, {figures[kind]:.2f} CPU seconds per session, "
                  f"{np.mean(frames):.1f} frames per session ({timings.get('refused', 0)} refused as too soon); "
                  f"decisions "
                  f"{ {d: decisions.count(d) for d in sorted(set(decisions))} }")
            for name, values in (("a frame that does not end its session", ms["other"]),
                                 ("the last frame, whose answer is the decision", ms["last"])):
                print(f"[INFO]   {name}: p50 {np.percentile(values, 50):.0f} ms, "
                      f"p99 {np.percentile(values, 99):.0f} ms")
    finally:
        process.terminate()
        process.wait(timeout=30)
    ratio = figures["challenge"] / figures["passive"]
    print(f"[INFO] a challenge session costs {ratio:.2f}x a passive session's CPU (target: at most 2x): "
          f"{'met' if ratio <= 2 else 'missed'}")


if __name__ == "__main__":
    sys.exit(main())
