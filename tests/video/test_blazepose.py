"""BlazePose geometry vs closed forms, and the real models on a real photo (skipped if absent)."""

import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from src.joints import BLAZEPOSE33_NAMES
from src.video import blazepose as bp
from src.video.blazepose_models import models_available

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
LUNGE = SHARED / "image" / "pexels_lunge.jpg"
WALKING = SHARED / "video" / "pexels_walking.mp4"
J = {name: i for i, name in enumerate(BLAZEPOSE33_NAMES)}


needs_models = pytest.mark.skipif(not models_available(), reason="BlazePose models not fetched")


def anchor_closed_form(i: int) -> tuple[float, float]:
    """Anchor i: 28x28 cells x 2, then 14x14 x 2, then 7x7 x 6 (three stride-32 layers)."""
    for first, side, per_cell in ((0, 28, 2), (1568, 14, 2), (1960, 7, 6)):
        count = side * side * per_cell
        if i < first + count:
            cell = (i - first) // per_cell
            return ((cell % side + 0.5) / side, (cell // side + 0.5) / side)
        first += count
    raise IndexError(i)


def test_anchor_count_and_centres_match_closed_form():
    anchors = bp.ssd_anchor_centers()
    assert anchors.shape == (2254, 2)
    expected = np.array([anchor_closed_form(i) for i in range(2254)])
    np.testing.assert_allclose(anchors, expected, atol=1e-7)


def test_decode_detections_closed_form():
    anchors = bp.ssd_anchor_centers()
    raw = np.zeros((2254, 12))
    logits = np.full(2254, -5.0)
    k = 1600  # a 14x14 anchor
    logits[k] = 2.0
    raw[k] = [22.4, -11.2, 44.8, 67.2, 0, 0, 11.2, 22.4, 0, 0, 0, 0]
    boxes, kps, scores = bp.decode_detections(raw, logits[:, None], anchors)
    assert len(boxes) == 1
    ax, ay = anchor_closed_form(k)
    cx, cy, w, h = ax + 0.1, ay - 0.05, 0.2, 0.3
    np.testing.assert_allclose(boxes[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    np.testing.assert_allclose(kps[0, 0], [ax, ay])
    np.testing.assert_allclose(kps[0, 1], [ax + 0.05, ay + 0.1])
    assert scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_weighted_nms_averages_overlaps_and_keeps_separate_people():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.array([[[0, 0]], [[3, 3]], [[55, 55]]], float)
    scores = np.array([0.9, 0.6, 0.7])
    out = bp.weighted_nms(boxes, kps, scores)
    assert len(out) == 2
    box, kp, score = out[0]
    np.testing.assert_allclose(box, [0.4, 0, 10.4, 10])  # (0.9 * 0 + 0.6 * 1) / 1.5
    np.testing.assert_allclose(kp, [[1.2, 1.2]])
    assert score == 0.9
    np.testing.assert_allclose(out[1][0], boxes[2])


@pytest.mark.parametrize("angle_deg", [90.0, 0.0, 180.0, -135.0, 33.0])
def test_alignment_roi_puts_the_end_point_straight_up(angle_deg):
    start = np.array([300.0, 200.0])
    d = 80.0
    direction = np.array([math.cos(math.radians(angle_deg)), -math.sin(math.radians(angle_deg))])
    end = start + d * direction  # angle measured counter-clockwise in the image (y down)
    roi = bp.alignment_roi(start, end)
    assert roi.side == pytest.approx(2 * d * 1.25)
    # In the 256 crop the end point sits above the centre by d / side of the crop: 0.4 * 256.
    np.testing.assert_allclose(roi.crop_to_frame(np.array([128.0, 128.0 - 0.4 * 256]), 256), end)
    np.testing.assert_allclose(roi.crop_to_frame(np.array([128.0, 128.0]), 256), start)
    assert roi.rotation == pytest.approx(math.radians((90.0 - angle_deg + 180) % 360 - 180))


def test_crop_roi_samples_where_crop_to_frame_points():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[100:103, 250:253] = 255  # a dot centred on pixel (251, 101): continuous (251.5, 101.5)
    roi = bp.Roi(np.array([230.0, 140.0]), 160.0, math.radians(30.0))
    crop = bp.crop_roi(frame, roi)
    weight = crop[..., 0]
    ys, xs = np.mgrid[:256, :256]
    centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    np.testing.assert_allclose(roi.crop_to_frame(centroid + 0.5, 256), [251.5, 101.5], atol=0.3)


def test_letterbox_maps_back_to_frame_pixels():
    frame = np.zeros((300, 150, 3), np.uint8)  # portrait: bars left and right
    frame[200:202, 40:42] = 255
    image, box = bp.letterbox(frame)
    assert image.shape == (224, 224, 3) and image.min() == -1.0
    np.testing.assert_allclose(box.scale, [112 / 150, 224 / 300])
    np.testing.assert_allclose(box.offset, [56, 0])
    weight = image[..., 0] + 1
    ys, xs = np.mgrid[:224, :224]
    centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    np.testing.assert_allclose(box.to_frame((centroid + 0.5) / 224, 224), [41.0, 201.0], atol=0.3)


def test_decode_landmarks_with_an_axis_aligned_roi():
    raw = np.zeros((39, 5))
    raw[:, 0] = np.linspace(0, 256, 39)
    raw[:, 1] = 64.0
    raw[:, 2] = 25.6
    raw[:, 3] = 0.0
    raw[:, 4] = 3.0
    raw[33, :2], raw[34, :2] = (128, 128), (128, 64)
    roi = bp.Roi(np.array([500.0, 400.0]), 512.0, 0.0)  # 2x scale, no rotation
    pose = bp.decode_landmarks(raw, 0.97, roi, (1000, 1000))
    # crop x -> frame x: 500 + 512 * (x / 256 - 0.5) in continuous coordinates, - 0.5 for pixels.
    np.testing.assert_allclose(pose.keypoints[:, 0], 244.0 + 2 * raw[:33, 0] - 0.5)
    np.testing.assert_allclose(pose.keypoints[:, 1], 400.0 - 128 - 0.5)
    np.testing.assert_allclose(pose.keypoints[:, 2], 0.5)
    np.testing.assert_allclose(pose.presence, 1 / (1 + math.exp(-3.0)))
    np.testing.assert_allclose(pose.z, 51.2)
    assert pose.score == 0.97
    # next ROI: hip centre at the crop centre, body point 64 px up in the crop (128 in the frame)
    np.testing.assert_allclose(pose.next_roi.center, [500.0, 400.0])
    assert pose.next_roi.side == pytest.approx(2 * 128 * 1.25)
    assert pose.next_roi.rotation == pytest.approx(0.0)


def test_dedupe_keeps_the_whole_body_over_a_part():
    def pose(box, score):
        return bp.PersonPose(None, None, None, score, np.array(box, float), None, None)

    whole, torso, other = (
        pose([0, 0, 50, 200], 0.9),
        pose([5, 20, 45, 90], 1.0),
        pose([300, 0, 350, 200], 0.95),
    )
    assert bp.dedupe_people([torso, whole, other]) == [other, whole]


def test_missing_models_say_how_to_fetch_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="make models/blazepose"):
        bp.PoseEstimator(model_dir=tmp_path)


@needs_models
@pytest.mark.skipif(not LUNGE.exists(), reason="shared image absent")
def test_real_photo_finds_one_person_with_plausible_landmarks():
    from src.video.io import read_image

    image = read_image(LUNGE)  # 801 x 1200, the man spans about x 290-690, y 540-1120
    estimator = bp.PoseEstimator(track=False)
    people = estimator(image)
    assert len(people) == 1
    person = people[0]
    assert person.score > 0.9
    kps = person.keypoints
    seen = kps[:, 2] > 0.5
    assert seen.sum() >= 25
    assert np.all((kps[seen, 0] > 270) & (kps[seen, 0] < 720))
    assert np.all((kps[seen, 1] > 520) & (kps[seen, 1] < 1140))
    y = {name: kps[J[name], 1] for name in J}
    for side in ("l_", "r_"):
        assert y[side + "shoulder"] < y[side + "hip"] < y[side + "knee"]
        assert y[side + "hip"] < y[side + "ankle"]
    box = person.box
    assert box[3] - box[1] > 0.4 * image.shape[0]
    # The detector alone finds the same person (hip centre inside the landmark box).
    dets = estimator.detect(image)
    assert len(dets) >= 1
    assert box[0] <= dets[0].keypoints[0, 0] <= box[2]
    assert box[1] <= dets[0].keypoints[0, 1] <= box[3]


@pytest.mark.slow
@needs_models
@pytest.mark.skipif(not WALKING.exists(), reason="shared video absent")
def test_walking_clip_gives_one_long_track():
    from src.video.io import VideoReader
    from src.video.tracks import build_tracks, detections_from_poses

    estimator = bp.PoseEstimator()
    start = time.perf_counter()
    with VideoReader(WALKING) as video:
        frames = [detections_from_poses(p) for p in estimator.run(video)]
    fps = len(frames) / (time.perf_counter() - start)
    print(f"BlazePose decode+pose: {fps:.1f} frames/s")
    found = build_tracks(frames)
    assert len(found[0]) >= 150
    assert sum(len(f) > 1 for f in frames) <= 5  # no duplicate readings of the one walker


# ------------------------------------------------------------------------------------------------
# Detector schedule (detect_every): stub models, then the real ones on the shipped clip

SHIPPED_CLIP = Path(__file__).resolve().parents[2] / "assets" / "pexels_walking.mp4"


def _stub_estimator(detect_every: int, present: list[bool]) -> tuple[bp.PoseEstimator, list, list]:
    """An estimator whose detector finds one person each call and whose landmark model reads a
    person when ``present[frame]``; returns it, the list of frames the detector ran on, and a
    one-item list holding the frame number (set it before each call)."""
    estimator = object.__new__(bp.PoseEstimator)
    estimator.max_people, estimator.min_presence, estimator.track = 4, 0.5, True
    estimator.detect_every = detect_every
    estimator.reset()
    frame_no, detected = [0], []
    hips, top = np.array([50.0, 60.0]), np.array([50.0, 20.0])

    def detect(frame):
        detected.append(frame_no[0])
        return [bp.PoseDetection(np.array([30.0, 0, 70, 100]), np.stack([hips, top, hips, top]), 1)]

    def landmarks(frame, roi):
        raw = np.zeros((bp.NUM_LANDMARK_OUTPUTS, bp.LANDMARK_VALUES))
        raw[:, :2] = np.linspace(60, 200, bp.NUM_LANDMARK_OUTPUTS)[:, None]
        half = bp.LANDMARK_INPUT / 2
        size = half / bp.ROI_SCALE  # the next ROI is this one again
        raw[bp.HIP_CENTER_AUX, :2], raw[bp.BODY_SIZE_AUX, :2] = (half, half), (half, half - size)
        return bp.decode_landmarks(raw, float(present[frame_no[0]]), roi, frame.shape[:2])

    estimator.detect, estimator.landmarks = detect, landmarks
    return estimator, detected, frame_no


def test_detector_runs_every_k_frames_and_when_someone_is_lost():
    present = [True] * 30
    present[13] = False  # lost on frame 13: the detector runs again on 13 (not found) and 14
    estimator, detected, frame_no = _stub_estimator(10, present)
    frame = np.zeros((100, 100, 3), np.uint8)
    counts = []
    for t in range(30):
        frame_no[0] = t
        counts.append(len(estimator(frame)))
    assert detected == [0, 10, 13, 14, 24]
    assert counts == [1] * 13 + [0] + [1] * 16


def test_detect_every_one_runs_the_detector_on_every_frame():
    estimator, detected, frame_no = _stub_estimator(1, [True] * 5)
    for t in range(5):
        frame_no[0] = t
        estimator(np.zeros((100, 100, 3), np.uint8))
    assert detected == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="detect_every must be >= 1"):
        bp.PoseEstimator(detect_every=0)


def box_agreement(reference: list[list[np.ndarray]], other: list[list[np.ndarray]]) -> np.ndarray:
    """Per frame, the lowest IoU between a reference person's box and its best match in
    ``other`` (0 when the number of people differs, 1 for two empty frames)."""
    from src.video.tracks import box_iou

    worst = []
    for ref, got in zip(reference, other, strict=True):
        if len(ref) != len(got):
            worst.append(0.0)
            continue
        worst.append(min((max(box_iou(a, b) for b in got) for a in ref), default=1.0))
    return np.asarray(worst)


@pytest.mark.slow
@needs_models
@pytest.mark.skipif(not SHIPPED_CLIP.exists(), reason="assets/pexels_walking.mp4 absent")
def test_detector_every_10_frames_gives_the_per_frame_boxes_on_the_shipped_clip():
    from src.video.io import VideoReader

    with VideoReader(SHIPPED_CLIP) as video:
        frames = list(video)
    boxes = {}
    for every in (1, bp.DETECT_EVERY):
        estimator = bp.PoseEstimator(detect_every=every)
        boxes[every] = [[p.box for p in people] for people in estimator.run(frames)]
    iou = box_agreement(boxes[1], boxes[bp.DETECT_EVERY])
    print(f"IoU >= 0.9 on {np.mean(iou >= 0.9):.3f} of {len(iou)} frames")
    assert np.mean(iou >= 0.9) >= 0.95
    assert sum(len(b) for b in boxes[1]) >= 150  # the walker is found


@pytest.mark.slow
@needs_models
@pytest.mark.skipif(not (SHIPPED_CLIP.exists() and LUNGE.exists()), reason="clip or photo absent")
def test_detector_every_10_frames_finds_a_person_who_comes_in():
    """The shipped walker, and from frame 25 the photo's man pasted at the left: the periodic
    detector picks him up within 10 frames; the boxes agree with per-frame detection."""
    import cv2

    from src.video.io import VideoReader, read_image

    man = cv2.resize(read_image(LUNGE), (280, 420), interpolation=cv2.INTER_AREA)
    frames = []
    with VideoReader(SHIPPED_CLIP) as video:
        for t, frame in enumerate(video):
            if t >= 80:
                break
            if t >= 25:
                frame = frame.copy()
                frame[100:520, 10:290] = man
            frames.append(frame)
    boxes = {}
    for every in (1, bp.DETECT_EVERY):
        estimator = bp.PoseEstimator(detect_every=every)
        boxes[every] = [[p.box for p in people] for people in estimator.run(frames)]
    counts = {every: np.array([len(b) for b in found]) for every, found in boxes.items()}
    assert (counts[1][25:] == 2).all()  # per-frame detection sees both at once
    first_two = int(np.argmax(counts[bp.DETECT_EVERY] == 2))
    assert 25 <= first_two < 25 + bp.DETECT_EVERY
    iou = box_agreement(boxes[1], boxes[bp.DETECT_EVERY])
    print(f"IoU >= 0.9 on {np.mean(iou >= 0.9):.3f} of {len(iou)} frames")
    assert np.mean(iou >= 0.9) >= 0.85


def test_interpreters_use_every_usable_core_unless_told(monkeypatch, tmp_path):
    """TFLite's own default is one thread: BlazePose ran 1.8x slower on 2 cores with it."""
    seen = []

    class Interpreter:
        def __init__(self, model_path, num_threads):
            seen.append(num_threads)

        def allocate_tensors(self):
            pass

    monkeypatch.setattr(bp.tf.lite, "Interpreter", Interpreter)
    monkeypatch.setattr(bp, "usable_cpus", lambda: 3)
    bp._make_interpreter(tmp_path / "m.tflite", None)
    bp._make_interpreter(tmp_path / "m.tflite", 1)
    assert seen == [3, 1]


@needs_models
@pytest.mark.filterwarnings("error")
def test_interpreters_are_made_without_a_notice_or_swapping_the_warning_filters(monkeypatch):
    def process_wide(*args, **kwargs):  # not safe while the demo prepares models in a thread
        raise AssertionError("PoseEstimator swapped the process's warning filters")

    monkeypatch.setattr(warnings, "catch_warnings", process_wide)
    for _ in range(2):  # the filter is added once, not once per interpreter
        bp.PoseEstimator(num_threads=1)
    assert sum("tf\\.lite\\.Interpreter" in str(f[1]) for f in warnings.filters) <= 1
