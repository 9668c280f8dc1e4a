"""Speed: the original tutorial's loops beside the project's pipeline, in one run on the same input.

    python benchmarks/speed.py                        # ../shared/data, all three
    python benchmarks/speed.py --only demo --video ../shared/data/videos/subjA_real.mov

For the demo, gathering (--skip 1) and training (50 epochs at batch size 8 on the ROIs gathered
from DIR/videos), it runs the original-style code (written out below, plainly, as the tutorial
does it) and the project's pipeline, each in a fresh process, and prints frames (or epochs) per
second, their ratio, peak memory, and the equivalence checks: demo labels against a full
detection + classification of every frame, identical ROIs, validation accuracy.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import liveness  # noqa: E402,F401  (quiet TensorFlow before anything imports it)

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
TASKS = ("demo", "gather", "train", "pretrained")
DEFAULT_PRETRAINED = os.path.join(ROOT, "pretrained", "minifasnet.keras")


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the original tutorial's loops


def original_demo(video, model_path, le_path):
    """liveness_demo.py as the tutorial wrote it (minus the window): per-face model.predict, every frame."""
    import cv2
    import imutils
    import numpy as np

    from liveness.faces.detectors.ssd import find_detector_files
    from liveness.models.labels import load_label_encoder
    from liveness.models.model_io import load_model

    net = cv2.dnn.readNetFromCaffe(*find_detector_files(None))
    model = load_model(model_path)
    le = load_label_encoder(le_path)
    vs = cv2.VideoCapture(video)
    labels, frames = [], 0
    start = time.perf_counter()
    while True:
        (grabbed, frame) = vs.read()
        if not grabbed:
            break
        frame = imutils.resize(frame, width=600)
        (h, w) = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(frame, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        net.setInput(blob)
        detections = net.forward()
        frame_labels = []
        for i in range(0, detections.shape[2]):
            confidence = detections[0, 0, i, 2]
            if confidence > 0.5:
                box = detections[0, 0, i, 3:7] * np.array([w, h, w, h])
                (startX, startY, endX, endY) = box.astype("int")
                startX, startY = max(0, startX), max(0, startY)
                endX, endY = min(w, endX), min(h, endY)
                face = frame[startY:endY, startX:endX]
                face = cv2.resize(face, (32, 32))
                face = face.astype("float") / 255.0
                face = np.expand_dims(face, axis=0)
                preds = model.predict(face, verbose=0)[0]
                j = np.argmax(preds)
                label = le.classes_[j]
                frame_labels.append(str(label))
                cv2.putText(frame, "{}: {:.4f}".format(label, preds[j]), (startX, startY - 10),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 2)
                cv2.rectangle(frame, (startX, startY), (endX, endY), (0, 0, 255), 2)
        labels.append(frame_labels[0] if frame_labels else "none")
        frames += 1
    return {"frames": frames, "seconds": time.perf_counter() - start, "labels": labels}


def original_gather(video, output):
    """gather_examples.py as the tutorial wrote it, at --skip 1 (boxes clipped to the frame)."""
    import cv2
    import numpy as np

    from liveness.faces.detectors.ssd import find_detector_files

    net = cv2.dnn.readNetFromCaffe(*find_detector_files(None))
    vs = cv2.VideoCapture(video)
    read = saved = 0
    start = time.perf_counter()
    while True:
        (grabbed, frame) = vs.read()
        if not grabbed:
            break
        read += 1
        (h, w) = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(frame, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        net.setInput(blob)
        detections = net.forward()
        if len(detections) > 0:
            i = np.argmax(detections[0, 0, :, 2])
            confidence = detections[0, 0, i, 2]
            if confidence > 0.5:
                box = detections[0, 0, i, 3:7] * np.array([w, h, w, h])
                (startX, startY, endX, endY) = box.astype("int")
                startX, startY, endX, endY = max(0, startX), max(0, startY), min(w, endX), min(h, endY)
                face = frame[startY:endY, startX:endX]
                p = os.path.sep.join([output, "{}.png".format(saved)])
                cv2.imwrite(p, face)
                saved += 1
    return {"frames": read, "seconds": time.perf_counter() - start, "rois": roi_hashes(output)}


def idg_random_transform(x, rng):
    """One image through ImageDataGenerator(rotation_range=20, zoom_range=0.15, width_shift_range=0.2,
    height_shift_range=0.2, shear_range=0.15, horizontal_flip=True, fill_mode="nearest").random_transform,
    as Keras 2 computed it: one combined affine matrix, applied per channel by scipy."""
    import numpy as np
    from scipy import ndimage

    (h, w) = x.shape[:2]
    theta = np.deg2rad(rng.uniform(-20, 20))
    tx = rng.uniform(-0.2, 0.2) * h
    ty = rng.uniform(-0.2, 0.2) * w
    shear = np.deg2rad(rng.uniform(-0.15, 0.15))
    zx, zy = rng.uniform(0.85, 1.15, 2)
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    matrix = rotation @ shift @ shearing @ zoom
    o_x, o_y = h / 2 + 0.5, w / 2 + 0.5
    matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ matrix @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    out = np.stack([ndimage.affine_transform(x[..., c], matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest")
                    for c in range(x.shape[2])], axis=-1)
    return out[:, ::-1] if rng.random() < 0.5 else out


def original_train(dataset, epochs, seed):
    """train_liveness.py as the tutorial ran it: model.fit on ImageDataGenerator.flow, batch size 8."""
    import keras
    import numpy as np

    from livenessnet import LivenessNet

    (trainX, testX, trainY, testY), classes = training_data(dataset, seed)

    def flow(batch_size=8):  # ImageDataGenerator.flow: shuffle, then augment each image on the host
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(trainX))
            for i in range(0, len(order) - batch_size + 1, batch_size):
                idx = order[i:i + batch_size]
                yield np.stack([idg_random_transform(trainX[j], rng) for j in idx]), trainY[idx]

    model = LivenessNet.build(width=32, height=32, depth=3, classes=classes)
    decay = keras.optimizers.schedules.InverseTimeDecay(1e-4, decay_steps=1, decay_rate=1e-4 / epochs)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=decay), metrics=["accuracy"])
    start = time.perf_counter()
    H = model.fit(flow(), validation_data=(testX, testY), steps_per_epoch=len(trainX) // 8, epochs=epochs, verbose=0)
    return {"epochs": epochs, "seconds": time.perf_counter() - start, "val_accuracy": H.history["val_accuracy"][-1],
            "updates": int(model.optimizer.iterations.numpy())}


# ---------------------------------------------------------------- the project's pipeline


def fast_demo(video, model_path, le_path, detect_every, detector_type=None):
    """liveness_demo.py's loop: decoding on a thread, the model's face detector every k-th frame, one batched call
    per frame."""
    import cv2
    import numpy as np

    from liveness.faces.detectors import create_detector
    from liveness.faces.media import prefetch
    from liveness.models.metadata import resolve_detector_type
    from liveness.models.model_io import load_classifier
    from liveness.pipeline import StreamScorer, score_faces
    from liveness_demo import draw_face, frames_from

    classifier, _ = load_classifier(model_path, le_path)
    detector = create_detector(resolve_detector_type(detector_type, model_path)[0])
    scorer = StreamScorer(detector, classifier, detect_every)
    classifier.predict([np.zeros((*classifier.size[::-1], classifier.cropper.channels), "uint8")])  # trace once, untimed
    labels, frames = [], []
    capture = cv2.VideoCapture(video)
    start = time.perf_counter()
    for frame in prefetch(frames_from(capture, 600)):
        faces = scorer(frame)
        for face in faces:
            draw_face(frame, face, "real")
        labels.append(faces[0].label if faces else "none")
        frames.append(frame)
    seconds = time.perf_counter() - start
    # the reference: full detection + classification of every frame (untimed)
    capture = cv2.VideoCapture(video)
    full = []
    for frame in frames_from(capture, 600):
        faces = score_faces(frame, detector, classifier)
        full.append(faces[0].label if faces else "none")
    agree = sum(a == b for a, b in zip(labels, full)) / len(full)
    return {"frames": len(labels), "seconds": seconds, "labels": labels, "agreement": agree, "detector": detector.name}


def detector_milliseconds(video, kinds=("ssd-squashed", "ssd", "retinaface", "haar")):
    """{detector: median milliseconds per frame} on the demo's frames (600 wide), each detector in turn, one run."""
    import cv2
    import numpy as np

    from liveness.errors import LivenessError
    from liveness.faces.detectors import create_detector
    from liveness_demo import frames_from

    frames = list(frames_from(cv2.VideoCapture(video), 600))
    timings = {}
    for kind in kinds:
        try:
            detector = create_detector(kind)
        except LivenessError as error:
            print(f"[WARNING] {kind} not timed: {error}")
            continue
        detector.detect(frames[0])  # the first call sets the network up
        seconds = []
        for frame in frames:
            started = time.perf_counter()
            detector.detect(frame)
            seconds.append(time.perf_counter() - started)
        timings[kind] = 1000 * float(np.median(seconds))
    return timings


def fast_gather(video, output, jobs):
    """gather_examples.py --skip 1 --jobs N."""
    subprocess.run([sys.executable, os.path.join(ROOT, "gather_examples.py"), "-i", video, "-o", output, "-s", "1",
                    "-j", str(jobs)], check=True, capture_output=True)
    return {"rois": roi_hashes(output)}


def fast_train(dataset, epochs, seed):
    """train_liveness.py's fit: the whole epoch's steps in one compiled call, augmentation in the graph."""
    from train_liveness import build_model, fit

    (trainX, testX, trainY, testY), classes = training_data(dataset, seed)
    model = build_model(classes, 1e-4, epochs, steps_per_execution=len(trainX) // 8)
    start = time.perf_counter()
    H = fit(model, trainX, trainY, testX, testY, batch_size=8, epochs=epochs, seed=seed, verbose=0)
    return {"epochs": epochs, "seconds": time.perf_counter() - start, "val_accuracy": H.history["val_accuracy"][-1],
            "updates": int(model.optimizer.iterations.numpy())}


# ---------------------------------------------------------------- shared helpers


def training_data(dataset, seed):
    import keras
    from sklearn.preprocessing import LabelEncoder

    from liveness.data.dataset import load_rois
    from liveness.data.splits import random_split

    data, labels, _, _ = load_rois(dataset, (32, 32))
    le = LabelEncoder()
    onehot = keras.utils.to_categorical(le.fit_transform(labels), len(le.classes_))
    keras.utils.set_random_seed(seed)
    train, test = random_split(labels, seed)
    return (data[train], data[test], onehot[train], onehot[test]), len(le.classes_)


def roi_hashes(folder):
    """The pixels of every ROI, in frame order, as hashes (file names differ between the two)."""
    import cv2

    names = sorted((f for f in os.listdir(folder) if f.endswith(".png")),
                   key=lambda n: int(os.path.splitext(n)[0].rsplit("_", 1)[-1]))
    return [hashlib.sha256(cv2.imread(os.path.join(folder, n)).tobytes()).hexdigest() for n in names]


def child(args):
    """One measurement in this (fresh) process; prints its JSON result."""
    task, variant = args.run.split("-")
    if task == "pretrained":
        model, le = args.pretrained, os.path.join(os.path.dirname(args.pretrained), "le.pickle")
        if variant == "fused":  # the recommended fusion beside the pair (python -m liveness.pretrained)
            model = os.path.join(os.path.dirname(args.pretrained), "minifasnet_fused.fusion")
        result = fast_demo(args.video, model, le, args.detect_every, "ssd" if variant == "ssd" else None)
    elif task == "demo":
        result = original_demo(args.video, args.model, args.le) if variant == "original" else \
            fast_demo(args.video, args.model, args.le, args.detect_every)
    elif task == "gather":
        output = tempfile.mkdtemp(prefix="gather-")
        if variant == "original":
            result = original_gather(args.video, output)
        else:
            start = time.perf_counter()
            result = fast_gather(args.video, output, args.jobs)
            result["seconds"] = time.perf_counter() - start
            result["frames"] = len(result["rois"])  # replaced by the parent with the frames read
        shutil.rmtree(output)
    else:
        result = (original_train if variant == "original" else fast_train)(args.dataset, args.epochs, args.seed)
    # the biggest process: this one, or one it started (gather_examples.py and its workers)
    result["peak_mb"] = max(peak_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print("RESULT " + json.dumps(result))


def measure(args, run):
    command = [sys.executable, os.path.abspath(__file__), "--run", run, "--video", args.video,
               "--dataset", args.dataset, "--epochs", str(args.epochs),
               "--detect-every", str(args.detect_every), "--jobs", str(args.jobs), "--seed", str(args.seed),
               "--pretrained", args.pretrained]
    if args.model:
        command += ["--model", args.model, "--le", args.le]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        sys.exit(f"[ERROR] {run} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def prepare(args):
    """A model for the demo and the ROIs for training, made here with the project's own commands."""
    work = tempfile.mkdtemp(prefix="speed-")
    dataset = os.path.join(work, "dataset")
    if set(args.only or TASKS) <= {"pretrained"}:  # the pair needs neither ROIs nor a trained model
        args.dataset = dataset
        return work
    videos = os.path.join(args.data, "videos")
    for name in sorted(os.listdir(videos)):
        label = "real" if "_real." in name else "fake" if "_fake." in name else None
        if label:
            subprocess.run([sys.executable, os.path.join(ROOT, "gather_examples.py"), "-i", os.path.join(videos, name),
                            "-o", os.path.join(dataset, label), "-s", "1"], check=True, capture_output=True)
    if args.model is None and "demo" in (args.only or TASKS):
        args.model, args.le = os.path.join(work, "liveness.keras"), os.path.join(work, "le.pickle")
        subprocess.run([sys.executable, os.path.join(ROOT, "train_liveness.py"), "-d", dataset, "-m", args.model,
                        "-l", args.le, "-p", os.path.join(work, "plot.png"), "-e", "10"], check=True, capture_output=True)
    args.dataset = dataset
    return work


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with videos/ (default: ../shared/data)")
    ap.add_argument("--video", default=None, help="the demo and gathering input (default: DATA/videos/subjA_real.mov)")
    ap.add_argument("-m", "--model", default=None, help="model for the demo (default: trained here on DATA's ROIs)")
    ap.add_argument("-l", "--le", default=None)
    ap.add_argument("--only", choices=TASKS, action="append", help="run only these (repeatable)")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--detect-every", type=int, default=3, help="the demo's --detect-every")
    ap.add_argument("--jobs", type=int, default=2, help="gather_examples.py --jobs")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pretrained", default=DEFAULT_PRETRAINED,
                    help="the MiniFASNet pair for the 'pretrained' task (python -m liveness.pretrained; le.pickle beside it)")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.video = args.video or os.path.join(args.data, "videos", "subjA_real.mov")
    return args


def main():
    args = parse_args()
    if args.run:
        return child(args)
    tasks = args.only or list(TASKS)
    if "pretrained" in tasks and not os.path.isfile(args.pretrained):
        sys.exit(f"[ERROR] {args.pretrained} not found: make it with "
                 "python -m liveness.pretrained --from ../shared/data/pretrained (or give --pretrained)")
    work = prepare(args)
    rows, checks = [], []
    try:
        for task in tasks:
            print(f"[INFO] measuring {task}...", flush=True)
            if task == "pretrained":  # the demo with the MiniFASNet pair, against the LivenessNet demo of this run
                pair = measure(args, "pretrained-fast")
                fps = pair["frames"] / pair["seconds"]
                with_ssd = measure(args, "pretrained-ssd")  # the pair with the SSD, as before it had its own detector
                ssd_fps = with_ssd["frames"] / with_ssd["seconds"]
                rows.append(("demo, MiniFASNet pair with ssd", "frames", float("nan"), ssd_fps, float("nan"),
                             float("nan"), with_ssd["peak_mb"]))
                print(f"[INFO] the pair's demo with {pair['detector']}: {fps / ssd_fps:.2f}x its frames per second "
                      f"with the SSD, this run", flush=True)
                checks.append(("pretrained: the demo with the MiniFASNet pair at least 30 frames per second", fps >= 30,
                               f"{fps:.1f}"))
                checks.append(("pretrained: labels agree with full detection on 99% of frames", pair["agreement"] >= 0.99,
                               f"{pair['agreement']:.2%}"))
                rows.append((f"demo, MiniFASNet pair with {pair['detector']}", "frames", float("nan"), fps, float("nan"),
                             float("nan"), pair["peak_mb"]))
                if os.path.isfile(os.path.join(os.path.dirname(args.pretrained), "minifasnet_fused.fusion")):
                    fused = measure(args, "pretrained-fused")
                    fused_fps = fused["frames"] / fused["seconds"]
                    rows.append((f"demo, the fusion (pair + second network) with {fused['detector']}", "frames",
                                 float("nan"), fused_fps, float("nan"), float("nan"), fused["peak_mb"]))
                    print(f"[INFO] the fusion's demo: {fused_fps / fps:.2f}x the pair's frames per second, this run",
                          flush=True)
                    checks.append(("pretrained: the demo with the fusion at least 30 frames per second",
                                   fused_fps >= 30, f"{fused_fps:.1f}"))
                milliseconds = detector_milliseconds(args.video)
                print("| face detector | ms per frame (median, 600 wide) |\n| --- | --- |\n" +
                      "\n".join(f"| {k} | {v:.1f} |" for k, v in milliseconds.items()), flush=True)
                continue
            original = measure(args, f"{task}-original")
            fast = measure(args, f"{task}-fast")
            if task == "gather":
                fast["frames"] = original["frames"]
                checks.append(("gather: identical ROIs", fast["rois"] == original["rois"],
                               f"{len(fast['rois'])} and {len(original['rois'])} ROIs"))
            if task == "demo":
                checks.append(("demo: labels agree with full detection on 99% of frames", fast["agreement"] >= 0.99,
                               f"{fast['agreement']:.2%}"))
                checks.append(("demo: at least 30 frames per second", fast["frames"] / fast["seconds"] >= 30,
                               f"{fast['frames'] / fast['seconds']:.1f}"))
            if task == "train":
                gap = abs(fast["val_accuracy"] - original["val_accuracy"])
                checks.append(("train: validation accuracy within 2 points", gap <= 0.02,
                               f"{fast['val_accuracy']:.4f} vs {original['val_accuracy']:.4f}"))
                checks.append(("train: the same number of updates", fast["updates"] == original["updates"],
                               f"{fast['updates']} and {original['updates']}"))
            unit = "epochs" if task == "train" else "frames"
            rate = lambda r: r[unit] / r["seconds"]  # noqa: E731
            ratio = rate(fast) / rate(original)
            target = {"demo": 5, "gather": 2, "train": 4}[task]
            checks.append((f"{task}: at least {target}x the original", ratio >= target, f"{ratio:.2f}x"))
            rows.append((task, unit, rate(original), rate(fast), ratio, original["peak_mb"], fast["peak_mb"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[INFO] input: {args.video}; training on the ROIs of {args.data}/videos; demo --detect-every "
          f"{args.detect_every}; gather --jobs {args.jobs}")
    print("| task | original-style | project | ratio | peak memory original / project |")
    print("| --- | --- | --- | --- | --- |")
    for task, unit, a, b, ratio, ma, mb in rows:
        if ratio != ratio:  # no original-style counterpart
            print(f"| {task} | n/a | {b:.1f} {unit}/s | n/a | - / {mb:.0f} MB |")
            continue
        print(f"| {task} | {a:.1f} {unit}/s | {b:.1f} {unit}/s | **{ratio:.2f}x** | {ma:.0f} MB / {mb:.0f} MB |")
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
