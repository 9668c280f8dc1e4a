"""The fast paths give what the plain ones give: labels with frame skipping, ROIs with --jobs."""
import csv

import numpy as np
import pytest

from conftest import read_video, run_script
from liveness.data.sample import real_frames, replay_frames
from liveness.faces.detectors.ssd import SsdDetector
from liveness.faces.media import prefetch
from liveness.models.classifier import LivenessClassifier
from liveness.models.model_io import load_model_and_labels
from liveness.pipeline import StreamScorer, score_faces


@pytest.fixture(scope="module")
def classifier(trained):
    return LivenessClassifier(*load_model_and_labels(trained["model"], trained["le"]))


def labels(faces):
    return faces[0].label if faces else "none"


@pytest.mark.parametrize("make", [real_frames, replay_frames])
def test_detecting_every_third_frame_labels_like_detecting_every_frame(classifier, make):
    frames = list(make(30, (320, 240)))
    detector = SsdDetector()
    full = [score_faces(f, detector, classifier) for f in frames]
    scorer = StreamScorer(detector, classifier, detect_every=3)
    fast = [scorer(f) for f in frames]
    assert [labels(f) for f in fast] == [labels(f) for f in full]
    for a, b in zip(fast, full):  # same faces, close boxes, close scores
        assert len(a) == len(b) == 1
        assert np.abs(np.subtract(a[0].box, b[0].box)).max() <= 25
        assert abs(a[0].score - b[0].score) < 0.2


def test_the_detector_runs_on_every_frame_while_no_face_is_found(classifier):
    class Counting(SsdDetector):
        calls = 0

        def detect(self, frame):
            Counting.calls += 1
            return super().detect(frame)

    blank = np.full((240, 320, 3), 100, "uint8")
    face = next(real_frames(1, (320, 240)))
    scorer = StreamScorer(Counting(), classifier, detect_every=3)
    results = [scorer(f) for f in (blank, blank, face, face, face, face)]
    assert [len(r) for r in results] == [0, 0, 1, 1, 1, 1]  # the face is found on the frame it appears
    assert Counting.calls == 4  # blank, blank, face (found), then the next due detection at the 6th frame


def test_gathering_with_two_jobs_writes_what_one_job_writes(clips, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, jobs in ((one, 1), (two, 2)):
        result = run_script("gather_examples.py", "-i", clips["real"], clips["fake"], "-o", out, "-s", 1, "-j", jobs)
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    for name in names:
        if name != "manifest.csv":
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    with open(one / "manifest.csv") as a, open(two / "manifest.csv") as b:
        assert list(csv.reader(a)) == list(csv.reader(b))


def test_prefetch_keeps_order_and_passes_errors_on():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def broken():
        yield 1
        raise ValueError("decoder failed")

    got = []
    with pytest.raises(ValueError, match="decoder failed"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_the_demo_writes_every_frame_with_frame_skipping(trained, clips, tmp_path):
    out = tmp_path / "a.mp4"
    result = run_script("liveness_demo.py", "-m", trained["model"], "-l", trained["le"], "-i", clips["real"],
                        "-o", out, "--no-display", "--detect-every", 4)
    assert result.returncode == 0, result.stderr
    assert len(read_video(out)) == clips["frames"]


def test_smoothing_averages_each_face_over_its_last_frames(classifier):
    from liveness.pipeline import ScoredFace, Smoother

    def face(box, p_real):
        p = np.array([1 - p_real, p_real])
        return ScoredFace(box, 0.9, p, *classifier.label(p))

    smoother = Smoother(classifier, frames=3)
    a, b = (10, 10, 60, 60), (200, 10, 250, 60)
    smoother([face(a, 0.9), face(b, 0.1)])
    smoother([face((12, 11, 62, 61), 0.2), face(b, 0.1)])
    out = smoother([face((14, 12, 64, 62), 0.1), face(b, 0.7)])
    assert out[0].probabilities[1] == pytest.approx((0.9 + 0.2 + 0.1) / 3)  # the moving face kept its track
    assert out[1].probabilities[1] == pytest.approx((0.1 + 0.1 + 0.7) / 3)
    assert out[0].label == "fake" and out[1].label == "fake"
    out = smoother([face((14, 12, 64, 62), 0.9)] * 1 + [face(b, 0.9)])
    assert out[0].probabilities[1] == pytest.approx((0.2 + 0.1 + 0.9) / 3)  # only the last 3 frames count


def test_evaluation_smoothing_is_a_running_mean_per_video():
    from evaluate_liveness import smooth_scores
    from liveness.evaluation.scoring import FaceRow

    rows = [FaceRow("v.mp4", "v", "s", i, "real", score=s) for i, s in ((2, 0.0), (0, 1.0), (1, 0.5), (3, 1.0))]
    rows.append(FaceRow("roi.png", "r", "s", 0, "real", score=0.3))
    smooth_scores(rows, 2)
    assert {r.frame: r.score for r in rows if r.file == "v.mp4"} == {0: 1.0, 1: 0.75, 2: 0.25, 3: 0.5}
    assert rows[-1].score == 0.3  # images are not frames of a video
