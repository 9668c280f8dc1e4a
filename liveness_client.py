"""Post every image of a labelled folder to the liveness service and score its answers.

    python liveness_client.py test_images --url http://127.0.0.1:8000

The folder holds real/ (live faces) and fake/ (attacks) images. Each image's decision is the
service's (any fake face makes the image fake); images with no face, or only unsure faces, are
counted apart. Prints accuracy, APCER, BPCER and the failures.
"""
import argparse
import os

import httpx

from liveness.errors import LivenessError, exit_on_error
from liveness.faces.media import list_images


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="folder with real/ and fake/ images")
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
    ap.add_argument("--bona-fide", default="real", help="the live class folder; every other folder is an attack")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    return ap.parse_args()


def labelled_images(folder):
    if not os.path.isdir(folder):
        raise LivenessError(f"folder not found: {folder}")
    found = [(label, path) for label in sorted(os.listdir(folder)) if os.path.isdir(os.path.join(folder, label))
             for path in list_images(os.path.join(folder, label))]
    if not found:
        raise LivenessError(f"{folder} has no class subfolders with images (expected {folder}/real, {folder}/fake)")
    return found


def post(client, url, path):
    with open(path, "rb") as f:
        response = client.post(f"{url}/v1/liveness", files={"file": (os.path.basename(path), f)})
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}: {response.json().get('detail', '') if response.content else ''}"
    return response.json(), None


def rate(flags):
    return f"{sum(flags) / len(flags):.4f} ({sum(flags)}/{len(flags)})" if flags else "n/a"


@exit_on_error
def main():
    args = parse_args()
    images = labelled_images(args.folder)
    url = args.url.rstrip("/")
    accepted, correct, failures, undecided = {}, [], [], []
    try:
        with httpx.Client(timeout=args.timeout) as client:
            client.get(f"{url}/readyz").raise_for_status()
            for label, path in images:
                answer, error = post(client, url, path)
                decision = answer["decision"] if answer else error
                if answer is None or decision in ("no_face", "not_sure"):
                    undecided.append((path, decision))
                    continue
                is_bona = label == args.bona_fide
                said_real = decision == "real"
                accepted.setdefault(label, []).append(said_real)
                correct.append(said_real == is_bona)
                if said_real != is_bona:
                    scores = ", ".join(f"{f['score']:.4f}" for f in answer["faces"])
                    failures.append(f"{path}: {label} answered {decision} (scores {scores})")
    except httpx.HTTPError as error:
        raise LivenessError(f"cannot reach the service at {url}: {error}") from None

    print(f"[INFO] {len(images)} images posted, {len(correct)} decided, {len(undecided)} without a decision")
    print(f"[INFO] accuracy {rate(correct)}")
    for label, flags in accepted.items():
        if label == args.bona_fide:
            print(f"[INFO] BPCER {rate([not f for f in flags])}")
        else:
            print(f"[INFO] APCER[{label}] {rate(flags)}")
    for line in failures:
        print(f"[FAIL] {line}")
    for path, why in undecided:
        print(f"[UNDECIDED] {path}: {why}")


if __name__ == "__main__":
    main()
