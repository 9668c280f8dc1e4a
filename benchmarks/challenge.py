"""The challenge measured on ../shared: the step detector against the head movements labelled by looking
(benchmarks/head_movements.csv), what a challenge costs a person, and how often a recording played as the camera
answers a random challenge.

    python benchmarks/challenge.py                     # all of it: offline, then through the API
    python benchmarks/challenge.py --api-sessions 0    # offline only (the detector, the costs, the replays)

Each recording is read as the page's camera gives it (a video's every third frame, about 8 a second; an image
set's frames one by one, taken as 8 a second), its faces found by the shipped model's detector and their pose
taken from dlib's 5 landmarks (cached in output/challenge_tracks.json).

- The detector: for each labelled movement, a prompt 2 frames before it starts, the person's neutral pose the
  median of their recording's: accepted if the step detector meets that movement's step inside the movement
  (the recall, "the share of labelled movements the detector accepts"). Precision: a prompt of every step at
  every frame of the labelled recordings; a step met at a frame inside a labelled movement of that step is right,
  anywhere else wrong (so a movement left unlabelled counts against it). Its numbers (turn, nod, neutral) are
  chosen among CANDIDATES by F1, by nested leave-one-person-out.
- Offline replays: every recording, live and attack, played from a random point (looped, as a fake camera
  loops its clip) into --challenges random challenges each, the session's counted frames, pauses and windows as
  the service runs them: the share whose challenge is met. Live recordings were made without any prompt.
- Through the API: --api-sessions default sessions per recording, the service as shipped (the recommended fusion,
  --api-keys, the secure point), the recording sent at the page's pace from a random point, looped, until the
  session ends: the share decided `real`, live and attack.
"""
import argparse
import collections
import concurrent.futures
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from liveness.errors import exit_on_error  # noqa: E402
from liveness.sessions import challenge  # noqa: E402
from liveness.sessions.challenge import STEPS, ChallengeRule, step_outcome  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
LABELS = os.path.join(ROOT, "benchmarks", "head_movements.csv")
CACHE = os.path.join(ROOT, "output", "challenge_tracks.json")
KEY = "challenge-benchmark-key-0001"
PAGE_S = 0.125  # the page's pace: a frame every 125 ms
COUNTED = 10  # a default session's counted frames
PROMPT_LEAD = 2  # frames between a labelled movement's prompt and its first frame
RULE = ChallengeRule()
CANDIDATES = [ChallengeRule(turn=t, nod=n, neutral=z) for t in (0.08, 0.12, 0.16, 0.2) for n in (0.08, 0.12, 0.16)
              for z in (0.05, 0.08)]


def recordings(data):
    from liveness.common.provenance import recording_of
    from liveness.faces.media import list_media

    return {recording_of(p): p for folder in ("videos", "images") for p in list_media(os.path.join(data, folder))}


def tracks(paths, model):
    """{recording: [pose or None per frame]}: the page's frames of each recording, the pose of their one face."""
    from session_camera import frames_of

    cached = json.load(open(CACHE)) if os.path.isfile(CACHE) else {}
    missing = [name for name in paths if name not in cached]
    if missing:
        from liveness.faces.detectors import create_detector
        from liveness.models.metadata import resolve_detector_type
        from liveness.sessions.challenge import pose
        from liveness.sessions.identity import FaceIdentity

        detector = create_detector(resolve_detector_type(None, model)[0])
        identity = FaceIdentity()
        for name in tqdm(missing, desc="faces and landmarks"):
            rows = []
            for frame in frames_of(paths[name]):
                faces = detector.detect(frame)
                rows.append({"pose": pose(identity.landmarks(frame, faces[0][0])) if len(faces) == 1 else None})
            cached[name] = {"path": paths[name], "frames": rows}
        os.makedirs(os.path.dirname(CACHE), exist_ok=True)
        with open(CACHE, "w") as f:
            json.dump(cached, f)
    return {name: [r.get("pose") for r in cached[name]["frames"]] for name in paths}


def own_pose(poses):
    """A person's own pose: the median of their recording's. In a session it is the median of the counted
    frames, taken while the person holds their face in the oval; these recordings were made without a prompt
    and move all the time, so the frames just before a movement are often in another one."""
    return np.median(np.asarray([p for p in poses if p is not None]), axis=0).tolist()


def detector_counts(poses, labels, rule):
    """{person: {step: [accepted, labelled, right, found, [(seconds, frames) to meet each accepted]]}}.

    Accepted: the step met inside its labelled movement, prompted PROMPT_LEAD frames before it. Right/found:
    the step prompted at every frame of the person's recording, met inside a labelled movement of that step or
    anywhere else."""
    counts = {}
    for label in labels:
        track, step = poses[label["recording"]], label["movement"]
        prompt = max(1, label["first"] - PROMPT_LEAD)
        window = [(k * PAGE_S, track[prompt + k]) for k in range(len(track) - prompt)]
        outcome, at = step_outcome(step, window, own_pose(track), rule)
        row = counts.setdefault(label["recording"], {s: [0, 0, 0, 0, []] for s in STEPS})[step]
        row[1] += 1
        if outcome == "met" and prompt + at <= label["last"]:
            row[0] += 1
            row[4].append((at * PAGE_S, at + 1))
    for name in counts:
        track = poses[name]
        neutral = own_pose(track)
        for prompt in range(COUNTED, len(track)):
            window = [(k * PAGE_S, track[prompt + k]) for k in range(len(track) - prompt)]
            for step in STEPS:
                outcome, at = step_outcome(step, window, neutral, rule)
                if outcome == "met":
                    frame = prompt + at
                    counts[name][step][2] += any(label["recording"] == name and label["movement"] == step and
                                                 label["first"] <= frame <= label["last"] for label in labels)
                    counts[name][step][3] += 1
    return counts


def pooled(counts, persons):
    """{step: [accepted, labelled, right, found, timings]} summed over `persons`."""
    total = {step: [0, 0, 0, 0, []] for step in STEPS}
    for person in persons:
        for step, row in counts[person].items():
            for i in range(5):
                total[step][i] += row[i]
    return total


def f1(total):
    accepted, labelled = sum(r[0] for r in total.values()), sum(r[1] for r in total.values())
    right, found = sum(r[2] for r in total.values()), sum(r[3] for r in total.values())
    recall, precision = accepted / max(1, labelled), right / max(1, found)
    return 2 * recall * precision / max(1e-9, recall + precision)


def choose(counts_by_rule, persons):
    """The choice rule, fixed before the run: the candidate with the highest F1 (recall of the labelled movements,
    precision of the detections) pooled over `persons`; the first of equals."""
    return max(counts_by_rule, key=lambda rule: f1(pooled(counts_by_rule[rule], persons)))


def replay_challenge(track, rng):
    """One random challenge answered by a recording played from a random point, looped: met or not."""
    frame = rng.randrange(len(track))
    counted = []
    while len(counted) < COUNTED:  # the counted frames: the page's frames with one face
        if track[frame % len(track)] is not None:
            counted.append(track[frame % len(track)])
        frame += 1
        if frame > 20 * len(track):
            return False  # never enough faces
    state = challenge.begin(challenge.new_state(rng), np.median(np.asarray(counted), axis=0), 0.0, RULE, rng)
    now = 0.0
    while True:
        now += PAGE_S
        current = track[frame % len(track)]
        frame += 1
        checks = {"signature": "x", "descriptor": None} if current is not None else {}
        state, happened = challenge.observe(state, now, current, checks, RULE, rng)
        if happened in ("complete", "missed"):
            return happened == "complete"


def cut_replay_challenge(track, movements, rng):
    """One random challenge answered by an attacker who holds a recording of the person making every movement and
    sees each prompt: the counted frames from the recording's still start, then for each step the recording cut
    to 2 frames before a labelled movement of that step, then to a still frame. Met or not."""
    still = [p for p in track if p is not None and all(abs(a - b) <= RULE.neutral / 2 for a, b in
                                                       zip(p, own_pose(track)))] or [own_pose(track)]
    state = challenge.begin(challenge.new_state(rng), own_pose(track), 0.0, RULE, rng)
    now, playing = 0.0, []
    while True:
        now += PAGE_S
        step = challenge.revealed(state, now)
        if step is not None and not playing and state["poses"] == []:
            label = rng.choice(movements[step])
            playing = track[max(0, label["first"] - PROMPT_LEAD):label["last"] + 1]
        current = playing.pop(0) if playing else rng.choice(still)
        checks = {"signature": "x", "descriptor": None} if current is not None else {}
        state, happened = challenge.observe(state, now, current, checks, RULE, rng)
        if happened == "met":
            playing = []
        if happened in ("complete", "missed"):
            return happened == "complete"


def play_session(url, frames, rng):
    """A default session fed `frames` (JPEG bytes, about 8 a second) from a random point at the page's pace, by
    the clock as a camera gives them, looped, until it ends: (decision, reason) as the backend reads them."""
    import httpx

    with httpx.Client(timeout=60) as client:
        auth = {"Authorization": f"Bearer {KEY}"}
        session = client.post(f"{url}/v1/sessions", json={}, headers=auth).json()
        headers = {"Authorization": f"Bearer {session['token']}"}
        start, offset, wait = time.perf_counter(), rng.randrange(len(frames)), PAGE_S
        while time.perf_counter() - start < 60:
            sent = time.perf_counter()
            data = frames[(offset + int((sent - start) / PAGE_S)) % len(frames)]
            answer = client.post(f"{url}/v1/sessions/{session['id']}/frames", files={"file": ("f.jpg", data)},
                                 headers=headers)
            if answer.status_code == 200:
                progress = answer.json()["session"]
                if progress["status"] == "SUCCEEDED":
                    break
                wait = max(PAGE_S, (progress.get("next_frame_in_ms") or 0) / 1000 + 0.015)
            time.sleep(max(0.0, wait - (time.perf_counter() - sent)))
        result = client.get(f"{url}/v1/sessions/{session['id']}", headers=auth).json()
    return result.get("decision") or "undecided", result.get("reason")


def api_sessions(paths, args):
    """{recording: [(decision, reason)]} of --api-sessions default sessions per recording, through the API."""
    from session_attacks import encode
    from session_camera import frames_of
    from liveness_api import start_local

    folder = tempfile.mkdtemp()
    keys = os.path.join(folder, "keys.txt")
    with open(keys, "w") as f:
        f.write(f"{KEY} benchmark\n")
    process, url = start_local(args.model, args.le, "--scorers", 2, "--api-keys", keys,
                               "--max-sessions-per-key", 200, timeout=600)
    rng = random.Random(1)
    jobs = [(name, [encode(f) for f in frames_of(path)], random.Random(rng.random()))
            for name, path in tqdm(sorted(paths.items()), desc="reading recordings") for _ in range(args.api_sessions)]
    outcomes = collections.defaultdict(list)
    try:
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            futures = {pool.submit(play_session, url, frames, r): name for name, frames, r in jobs}
            for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="API sessions"):
                outcomes[futures[future]].append(future.result())
    finally:
        process.terminate()
        process.wait(timeout=30)
    return outcomes


def share(part, whole):
    return f"{part}/{whole} ({part / whole:.3f})" if whole else "0/0"


@exit_on_error
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "pretrained", "minifasnet_fused.fusion"))
    ap.add_argument("-l", "--le", default=os.path.join(ROOT, "pretrained", "le.pickle"))
    ap.add_argument("--data", default=SHARED)
    ap.add_argument("--challenges", type=int, default=200, help="random challenges per recording, offline")
    ap.add_argument("--api-sessions", type=int, default=2, help="default sessions per recording through the API")
    ap.add_argument("--concurrency", type=int, default=3, help="API sessions at once")
    args = ap.parse_args()
    paths = recordings(args.data)
    poses = tracks(paths, args.model)
    with open(LABELS) as f:
        labels = [{**row, "first": int(row["first"]), "last": int(row["last"])} for row in csv.DictReader(f)]

    counts_by_rule = {rule: detector_counts(poses, labels, rule) for rule in tqdm(CANDIDATES, desc="candidates")}
    persons = sorted({label["recording"] for label in labels})
    nested = {step: [0, 0, 0, 0, []] for step in STEPS}
    for person in persons:  # nested leave-one-person-out: each person's figures under the rule chosen without them
        held_out = pooled(counts_by_rule[choose(counts_by_rule, [p for p in persons if p != person])], [person])
        for step in STEPS:
            for i in range(5):
                nested[step][i] += held_out[step][i]
    chosen = choose(counts_by_rule, persons)
    print(f"[INFO] the step detector against {len(labels)} head movements labelled by looking in {len(persons)} "
          f"live recordings; {len(CANDIDATES)} candidates (turn x nod x neutral), chosen by F1")
    print(f"[INFO] chosen on all of them: turn {chosen.turn}, nod {chosen.nod}, neutral {chosen.neutral} "
          f"(shipped: turn {RULE.turn}, nod {RULE.nod}, neutral {RULE.neutral})")
    for title, table in (("nested leave-one-person-out", nested), ("the shipped rule on all", pooled(
            counts_by_rule.get(RULE) or detector_counts(poses, labels, RULE), persons))):
        print(f"[INFO] {title}:")
        print("| step | labelled | accepted (recall) | precision | seconds to meet, median | frames, median |")
        print("| --- | --- | --- | --- | --- | --- |")
        for step in STEPS:
            met, total, right, found, times = table[step]
            print(f"| {step} | {total} | {share(met, total)} | {share(right, found)} | "
                  f"{statistics.median(t for t, _ in times) if times else float('nan'):.2f} | "
                  f"{statistics.median(n for _, n in times) if times else float('nan'):.0f} |")
        met, total, right, found = (sum(r[i] for r in table.values()) for i in range(4))
        print(f"| all | {total} | {share(met, total)} | {share(right, found)} | | |")
    timings = [t for step in STEPS for t in pooled(counts_by_rule.get(RULE) or detector_counts(poses, labels, RULE),
                                                      persons)[step][4]]
    if timings:
        step_s = statistics.median(t for t, _ in timings)
        pause_s = sum(RULE.pause_s) / 2
        seconds = COUNTED * PAGE_S + challenge.STEPS_PER_CHALLENGE * (pause_s + step_s)
        print(f"[INFO] a session that meets its challenge: about {seconds:.1f} s and {seconds / PAGE_S:.0f} frames "
              f"({COUNTED} counted, then {challenge.STEPS_PER_CHALLENGE} steps of a {pause_s:.1f} s pause on average "
              f"and a median {step_s:.2f} s to meet), against {COUNTED * PAGE_S:.2f} s for a passive session")

    rng = random.Random(0)
    answered = {"live": [0, 0], "attack": [0, 0]}
    worst = []
    for name, track in tqdm(sorted(poses.items()), desc="offline replays"):
        side = "live" if name.endswith("_real") else "attack"
        hits = sum(replay_challenge(track, rng) for _ in range(args.challenges))
        answered[side][0] += hits
        answered[side][1] += args.challenges
        worst.append((hits / args.challenges, name))
    sequences = len(STEPS) * (len(STEPS) - 1) ** (challenge.STEPS_PER_CHALLENGE - 1)
    print(f"[INFO] {sequences} possible sequences of {challenge.STEPS_PER_CHALLENGE} steps; offline, a recording "
          f"played as the camera into {args.challenges} random challenges each:")
    for side, (hits, total) in answered.items():
        print(f"[INFO]   {side} recordings: challenge met in {share(hits, total)}")
    print("[INFO]   the recordings that meet it most: " + ", ".join(f"{n} {s:.3f}" for s, n in sorted(worst)[::-1][:5]))

    cut = [0, 0]
    for name in sorted({label["recording"] for label in labels}):
        movements = {step: [label for label in labels if label["recording"] == name and label["movement"] == step]
                     for step in STEPS}
        if all(movements.values()):
            cut[0] += sum(cut_replay_challenge(poses[name], movements, rng) for _ in range(args.challenges))
            cut[1] += args.challenges
    print(f"[INFO] offline, an attacker cutting a recording of the person that holds every movement to the one each "
          f"prompt asks ({cut[1] // max(1, args.challenges)} recordings with all three labelled): challenge met in "
          f"{share(*cut)}")

    if args.api_sessions:
        outcomes = api_sessions(paths, args)
        for side, suffix in (("live", "_real"), ("attack", "_fake")):
            results = [r for name, rs in outcomes.items() if name.endswith(suffix) for r in rs]
            real = sum(d == "real" for d, _ in results)
            reasons = collections.Counter(reason or decision for decision, reason in results)
            print(f"[INFO] through the API, {side} recordings as the camera in default sessions: decided real "
                  f"{share(real, len(results))}; outcomes {dict(reasons.most_common())}")
            print("[INFO]   decided real: " + (", ".join(sorted(n for n, rs in outcomes.items()
                                                                 if n.endswith(suffix) and
                                                                 any(d == "real" for d, _ in rs))) or "none"))


if __name__ == "__main__":
    sys.exit(main())
