"""BlazePose (MediaPipe, Apache-2.0) person detection and 33 body landmarks on ``tf.lite``.

Two models (fetched once by ``make models/blazepose/pose_landmark_full.tflite``, see
``src.video.blazepose_models``):

1. ``pose_detection.tflite``: an SSD on a 224x224 letterboxed frame in [-1, 1]. Its 2254 anchors
   sit on feature maps of strides 8, 16, 32, 32, 32 (28x28x2 + 14x14x2 + 7x7x6), all of unit
   size. Each anchor regresses 12 numbers: a box (cx, cy, w, h) and 4 keypoints (x, y), offsets in
   input pixels from the anchor centre; keypoint 0 is the hip centre, keypoint 1 a point whose
   distance and direction from it give the whole body's size and rotation. Score = sigmoid of
   the logit (clipped to +-100), kept above 0.5, then weighted non-maximum suppression (IoU 0.3).
2. ``pose_landmark_full.tflite``: 256x256 in [0, 1] cut from a rotated square region (ROI):
   centre = hip centre, side = 2 * |keypoint 1 - keypoint 0| * 1.25, rotated so that the hips ->
   keypoint-1 vector points up. It returns 39 landmarks x 5 (x, y, z, visibility logit, presence
   logit) in ROI pixels (the first 33 are the body; 33 and 34 are the hip centre and body-size
   point used to place the next frame's ROI), and a pose-presence flag.

Landmarks are mapped back to frame pixels. :class:`PoseEstimator` follows people as MediaPipe's
tracking does: the landmark model reads each person from the ROI derived from their previous
frame's landmarks (the auxiliary hip-centre and body-size points, the same alignment rule as a
detection's ROI), and the detector runs only when nobody is followed, when a followed person is
lost (presence under the threshold, or merged into another), and every ``detect_every`` frames
to pick up people who came in (``detect_every=1``: every frame). On a detector frame, detections
whose hip centre falls in a followed person's box are skipped, and poses whose box lies mostly
inside a larger one are dropped. The heatmap refinement and segmentation outputs are not used.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import tensorflow as tf

from src.machine import usable_cpus
from src.video.blazepose_models import find_models

# Detector (pose_detection.tflite)
DETECTOR_INPUT = 224
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 + the interpolated scale, both of unit size
ANCHOR_OFFSET = 0.5
NUM_DETECTOR_KEYPOINTS = 4
DETECTOR_COORDS = 4 + 2 * NUM_DETECTOR_KEYPOINTS  # 12
SCORE_CLIP = 100.0
MIN_DETECTION_SCORE = 0.5
NMS_IOU = 0.3
# Landmark model (pose_landmark_full.tflite)
LANDMARK_INPUT = 256
NUM_LANDMARKS = 33
NUM_LANDMARK_OUTPUTS = 39  # 33 body + 6 auxiliary
LANDMARK_VALUES = 5  # x, y, z, visibility, presence
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = math.pi / 2  # the hips -> body-size vector points up in the ROI
HIP_CENTER_AUX, BODY_SIZE_AUX = 33, 34  # auxiliary landmarks placing the next ROI
MIN_PRESENCE = 0.5
ROI_SAME_PERSON_IOU = 0.5
SAME_PERSON_OVERLAP = 0.6  # landmark boxes: intersection over the smaller box
MAX_PEOPLE = 4
# Detector period when people are followed: a newcomer is found within 10 frames (0.4 s at 25 fps,
# inside the linker's 10-frame gap bridging); a lost person re-runs it at once.
DETECT_EVERY = 10


def ssd_anchor_centers(
    input_size: int = DETECTOR_INPUT, strides: Sequence[int] = ANCHOR_STRIDES
) -> np.ndarray:
    """Anchor centres of the pose detector, in the order of its outputs.

    Consecutive layers with the same stride share one feature map; for each map, rows then
    columns, then the ``2 * layers`` anchors of that cell.

    Returns:
        ``(2254, 2)`` float32 ``(x, y)`` normalised to [0, 1].
    """
    centers = []
    i = 0
    while i < len(strides):
        stride, layers = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            layers += 1
            i += 1
        side = math.ceil(input_size / stride)
        grid = (np.arange(side) + ANCHOR_OFFSET) / side
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centers.append(np.repeat(cell, ANCHORS_PER_LAYER * layers, axis=0))
    return np.concatenate(centers).astype(np.float32)


@dataclass(frozen=True)
class PoseDetection:
    """One detector output, in frame pixels.

    Attributes:
        box: ``(4,)`` ``(x1, y1, x2, y2)`` (the detector's box covers the head).
        keypoints: ``(4, 2)`` hip centre, body-size point, shoulder centre, upper-body point.
        score: sigmoid score.
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float


@dataclass(frozen=True)
class Roi:
    """A rotated square region of a frame, in continuous pixel coordinates (pixel ``i`` spans
    ``[i, i + 1)``, so its centre is at ``i + 0.5``).

    Attributes:
        center: ``(2,)`` ``(x, y)``.
        side: side length.
        rotation: radians; the ROI's up direction is the frame's up rotated by this.
    """

    center: np.ndarray
    side: float
    rotation: float

    def crop_to_frame(self, points: np.ndarray, crop_size: int) -> np.ndarray:
        """``(..., 2)`` ROI-crop pixels (continuous, 0..crop_size) -> frame pixels (continuous)."""
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        rot = np.array([[cos, -sin], [sin, cos]])
        normalised = np.asarray(points) / crop_size - 0.5
        return self.center + self.side * normalised @ rot.T

    def bounding_box(self) -> np.ndarray:
        """``(4,)`` axis-aligned box around the rotated square."""
        corners = self.crop_to_frame(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float), 1)
        return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


@dataclass(frozen=True)
class PersonPose:
    """One person's 33 BlazePose landmarks in a frame.

    Attributes:
        keypoints: ``(33, 3)`` ``(x, y, visibility)``; x, y in frame pixels (pixel centres at
            integers), visibility a probability.
        presence: ``(33,)`` probability that each landmark is inside the frame.
        z: ``(33,)`` relative depth in frame pixels (hips ~ 0, smaller is nearer).
        score: pose presence probability.
        box: ``(4,)`` ``(x1, y1, x2, y2)`` of the 33 landmarks, clipped to the frame.
        roi: the region the landmarks were read from.
        next_roi: the region for this person in the next frame.
    """

    keypoints: np.ndarray
    presence: np.ndarray
    z: np.ndarray
    score: float
    box: np.ndarray
    roi: Roi
    next_roi: Roi


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def alignment_roi(start: np.ndarray, end: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """The square ROI from two alignment points in frame pixels (MediaPipe's rule).

    Centre = ``start``; side = ``2 * |end - start| * scale``; rotation such that ``end`` is
    straight up from ``start`` in the ROI (angle ``pi/2 - atan2(-(dy), dx)``, wrapped to
    ``[-pi, pi)``).
    """
    delta = np.asarray(end, np.float64) - np.asarray(start, np.float64)
    rotation = ROI_TARGET_ANGLE - math.atan2(-delta[1], delta[0])
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    side = 2.0 * float(np.hypot(delta[0], delta[1])) * scale
    return Roi(np.asarray(start, np.float64), side, rotation)


def roi_iou(a: Roi, b: Roi) -> float:
    """IoU of the axis-aligned boxes around two ROIs."""
    ba, bb = a.bounding_box(), b.bounding_box()
    inter = np.clip(np.minimum(ba[2:], bb[2:]) - np.maximum(ba[:2], bb[:2]), 0, None).prod()
    union = np.prod(ba[2:] - ba[:2]) + np.prod(bb[2:] - bb[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    Highest score first; every remaining box with IoU above the threshold joins its cluster; the
    cluster's box and keypoints are the score-weighted means, its score the best one's.

    Args:
        boxes: ``(N, 4)`` ``(x1, y1, x2, y2)``.
        keypoints: ``(N, K, 2)``.
        scores: ``(N,)``.
    Returns:
        list of ``(box (4,), keypoints (K, 2), score)``.
    """
    order = np.argsort(-scores, kind="stable")
    remaining = list(order)
    out = []
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    while remaining:
        top = remaining[0]
        rest = np.asarray(remaining)
        lo = np.maximum(boxes[rest, :2], boxes[top, :2])
        hi = np.minimum(boxes[rest, 2:], boxes[top, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        iou = inter / np.maximum(areas[rest] + areas[top] - inter, 1e-12)
        cluster = rest[iou > iou_threshold]
        if top not in cluster:
            cluster = np.append(cluster, top)
        weights = scores[cluster] / scores[cluster].sum()
        box = (boxes[cluster] * weights[:, None]).sum(axis=0)
        kps = (keypoints[cluster] * weights[:, None, None]).sum(axis=0)
        out.append((box, kps, float(scores[top])))
        remaining = [i for i in remaining if i not in set(cluster.tolist())]
    return out


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    input_size: int = DETECTOR_INPUT,
    min_score: float = MIN_DETECTION_SCORE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw detector outputs -> boxes, keypoints and scores above ``min_score``.

    Args:
        raw_boxes: ``(2254, 12)`` offsets in input pixels (box cx, cy, w, h; 4 keypoints x, y).
        raw_scores: ``(2254,)`` or ``(2254, 1)`` logits.
        anchors: ``(2254, 2)`` normalised anchor centres.
    Returns:
        ``boxes (M, 4)`` normalised ``(x1, y1, x2, y2)``, ``keypoints (M, 4, 2)`` normalised,
        ``scores (M,)``, all in the 224x224 letterboxed input.
    """
    raw_boxes = np.asarray(raw_boxes, np.float64).reshape(len(anchors), DETECTOR_COORDS)
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    scores = _sigmoid(logits)
    keep = scores >= min_score
    offsets = raw_boxes[keep] / input_size
    centers = anchors[keep].astype(np.float64)
    box_center = centers + offsets[:, 0:2]
    half = offsets[:, 2:4] / 2.0
    boxes = np.concatenate([box_center - half, box_center + half], axis=1)
    keypoints = centers[:, None, :] + offsets[:, 4:].reshape(-1, NUM_DETECTOR_KEYPOINTS, 2)
    return boxes, keypoints, scores[keep]


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square detector input.

    Attributes:
        scale: ``(2,)`` ``(sx, sy)`` resize factors actually applied.
        offset: ``(2,)`` ``(ox, oy)`` padding before the image, in input pixels.
    """

    scale: np.ndarray
    offset: np.ndarray

    def to_frame(self, points: np.ndarray, input_size: int) -> np.ndarray:
        """``(..., 2)`` normalised input coordinates -> continuous frame pixels."""
        return (np.asarray(points) * input_size - self.offset) / self.scale


def letterbox(frame: np.ndarray, size: int = DETECTOR_INPUT) -> tuple[np.ndarray, Letterbox]:
    """Fit a frame in a ``size`` square (aspect kept, black bars), values in [-1, 1].

    Args:
        frame: ``(H, W, 3)`` uint8 RGB.
    Returns:
        ``((size, size, 3) float32, Letterbox)``.
    """
    height, width = frame.shape[:2]
    factor = size / max(height, width)
    new_w = min(size, max(1, round(width * factor)))
    new_h = min(size, max(1, round(height * factor)))
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    ox, oy = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[oy : oy + new_h, ox : ox + new_w] = resized
    image = canvas.astype(np.float32) / 127.5 - 1.0
    return image, Letterbox(np.array([new_w / width, new_h / height]), np.array([ox, oy], float))


def crop_roi(frame: np.ndarray, roi: Roi, size: int = LANDMARK_INPUT) -> np.ndarray:
    """Cut a rotated square ROI to ``size`` x ``size``, values in [0, 1], black outside the frame.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB.
    Returns:
        ``(size, size, 3)`` float32.
    """
    # Crop pixel index u -> frame pixel index: centre + side * R ((u + 0.5) / size - 0.5) - 0.5.
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    linear = roi.side / size * np.array([[cos, -sin], [sin, cos]])
    origin = roi.crop_to_frame(np.array([0.5, 0.5]), size) - 0.5
    matrix = np.concatenate([linear, origin[:, None]], axis=1)
    crop = cv2.warpAffine(
        frame, matrix, (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
    )  # fmt: skip
    return crop.astype(np.float32) / 255.0


def _make_interpreter(path: os.PathLike, num_threads: int | None) -> tf.lite.Interpreter:
    if num_threads is None:
        num_threads = usable_cpus()
    # tf.lite.Interpreter's "moving to LiteRT" notice, on every interpreter. Filtered by its
    # text rather than inside warnings.catch_warnings, which swaps the process-wide filters and
    # is not safe while the demo prepares its models in another thread.
    warnings.filterwarnings(
        "ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated", category=UserWarning
    )
    try:
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
    except ValueError as err:
        raise ValueError(f"{path}: not a TFLite model TensorFlow can load ({err})") from None
    interpreter.allocate_tensors()
    return interpreter


def _output_by_shape(interpreter: tf.lite.Interpreter, path: os.PathLike, **sizes: tuple) -> dict:
    """Map output names to tensor indexes by their shapes (not by position)."""
    found = {}
    for detail in interpreter.get_output_details():
        shape = tuple(int(d) for d in detail["shape"][1:])
        for name, expected in sizes.items():
            if shape == expected and name not in found:
                found[name] = detail["index"]
                break
    missing = set(sizes) - set(found)
    if missing:
        raise ValueError(f"{path}: expected outputs of shapes {sizes}, missing {sorted(missing)}")
    return found


class PoseEstimator:
    """BlazePose on frames: detect people, read 33 landmarks each, follow them frame to frame.

    Example:
        >>> estimator = PoseEstimator()  # models from models/blazepose
        >>> people = estimator(frame)  # list[PersonPose], frame (H, W, 3) uint8 RGB

    Args:
        model_dir: folder with the two ``.tflite`` files (default ``models/blazepose``).
        max_people: most people per frame (landmark model runs once per person).
        min_detection_score: detector score threshold.
        min_presence: pose presence threshold of the landmark model.
        track: re-use the previous frame's landmark ROIs (call :meth:`reset` between videos).
        detect_every: with people followed, run the detector on one frame in this many (and
            whenever a followed person is lost); 1 runs it on every frame. Needs ``track``.
        num_threads: TFLite CPU threads; ``None``: every core this process may use
            (:func:`src.machine.usable_cpus`). TFLite's own default is one thread, which made
            pose estimation about 1.8x slower on 2 cores (docs/benchmarks.md, "Demo end to end").
    Raises:
        FileNotFoundError: the models are missing (the message gives the make command).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        max_people: int = MAX_PEOPLE,
        min_detection_score: float = MIN_DETECTION_SCORE,
        min_presence: float = MIN_PRESENCE,
        track: bool = True,
        detect_every: int = DETECT_EVERY,
        num_threads: int | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"PoseEstimator: detect_every must be >= 1, got {detect_every}")
        paths = find_models(model_dir)
        self.max_people = max_people
        self.min_detection_score = min_detection_score
        self.min_presence = min_presence
        self.track = track
        self.detect_every = detect_every
        self.anchors = ssd_anchor_centers()
        self._detector = _make_interpreter(paths.detector, num_threads)
        self._landmark = _make_interpreter(paths.landmark, num_threads)
        self._check_input(self._detector, paths.detector, DETECTOR_INPUT)
        self._check_input(self._landmark, paths.landmark, LANDMARK_INPUT)
        self._det_out = _output_by_shape(
            self._detector, paths.detector,
            boxes=(len(self.anchors), DETECTOR_COORDS), scores=(len(self.anchors), 1),
        )  # fmt: skip
        self._lm_out = _output_by_shape(
            self._landmark, paths.landmark,
            landmarks=(NUM_LANDMARK_OUTPUTS * LANDMARK_VALUES,), flag=(1,),
        )  # fmt: skip
        self._previous: list[PersonPose] = []
        self._since_detection = 0  # frames since the detector last ran

    @staticmethod
    def _check_input(interpreter: tf.lite.Interpreter, path: os.PathLike, size: int) -> None:
        shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"])
        if shape != (1, size, size, 3):
            raise ValueError(f"{path}: expected input (1, {size}, {size}, 3), got {shape}")

    def reset(self) -> None:
        """Forget the people followed so far (start of a new video)."""
        self._previous = []
        self._since_detection = 0

    def detect(self, frame: np.ndarray) -> list[PoseDetection]:
        """Run the person detector on one ``(H, W, 3)`` uint8 RGB frame (frame pixels out)."""
        image, box = letterbox(frame)
        self._detector.set_tensor(self._detector.get_input_details()[0]["index"], image[None])
        self._detector.invoke()
        raw_boxes = self._detector.get_tensor(self._det_out["boxes"])[0]
        raw_scores = self._detector.get_tensor(self._det_out["scores"])[0]
        boxes, kps, scores = decode_detections(
            raw_boxes, raw_scores, self.anchors, min_score=self.min_detection_score
        )
        out = []
        for b, k, s in weighted_nms(boxes, kps, scores):
            corners = box.to_frame(b.reshape(2, 2), DETECTOR_INPUT) - 0.5
            points = box.to_frame(k, DETECTOR_INPUT) - 0.5
            out.append(PoseDetection(corners.reshape(4), points, s))
        return out

    def landmarks(self, frame: np.ndarray, roi: Roi) -> PersonPose:
        """Run the landmark model on one ROI of a frame."""
        crop = crop_roi(frame, roi)
        self._landmark.set_tensor(self._landmark.get_input_details()[0]["index"], crop[None])
        self._landmark.invoke()
        raw = self._landmark.get_tensor(self._lm_out["landmarks"]).reshape(
            NUM_LANDMARK_OUTPUTS, LANDMARK_VALUES
        )
        flag = float(self._landmark.get_tensor(self._lm_out["flag"]).reshape(-1)[0])
        return decode_landmarks(raw, flag, roi, frame.shape[:2])

    def __call__(self, frame: np.ndarray) -> list[PersonPose]:
        """People in one ``(H, W, 3)`` uint8 RGB frame, best first."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"PoseEstimator: expected an (H, W, 3) uint8 frame, got {frame.dtype} {frame.shape}"
            )
        followed = self._previous if self.track else []
        landmarks: dict[int, PersonPose | None] = {}  # id(roi) -> pose, each ROI read once
        detect = not followed or self._since_detection + 1 >= self.detect_every
        if not detect:
            people = self._read_people(frame, [p.next_roi for p in followed], landmarks)
            detect = len(people) < len(followed)  # someone was lost: look for them again
        if detect:
            rois = [p.next_roi for p in followed] + self._new_rois(frame, followed)
            people = self._read_people(frame, rois, landmarks)
            self._since_detection = 0
        else:
            self._since_detection += 1
        self._previous = people
        return people

    def _new_rois(self, frame: np.ndarray, followed: Sequence[PersonPose]) -> list[Roi]:
        """ROIs of the detections that are not someone already followed."""
        rois = [p.next_roi for p in followed]
        new = []
        for det in self.detect(frame):
            if any(_inside(det.keypoints[0], p.box) for p in followed):
                continue  # the hip centre of someone already followed: same person (or hidden)
            roi = alignment_roi(det.keypoints[0] + 0.5, det.keypoints[1] + 0.5)  # continuous
            if all(roi_iou(roi, kept) <= ROI_SAME_PERSON_IOU for kept in rois + new):
                new.append(roi)
        return new

    def _read_people(
        self, frame: np.ndarray, rois: Sequence[Roi], cache: dict[int, PersonPose | None]
    ) -> list[PersonPose]:
        """The landmark model on the first ``max_people`` ROIs; the present, deduplicated poses.
        ``cache`` (``id(roi)`` -> pose) keeps a ROI already read on this frame from being read
        twice."""
        candidates = []
        for roi in rois[: self.max_people]:
            if id(roi) not in cache:
                cache[id(roi)] = self.landmarks(frame, roi) if roi.side >= 1.0 else None
            pose = cache[id(roi)]
            if pose is not None and pose.score >= self.min_presence:
                candidates.append(pose)
        return dedupe_people(candidates)

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[list[PersonPose]]:
        """People per frame over a video (starts from a fresh tracking state)."""
        self.reset()
        for frame in frames:
            yield self(frame)


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two ``(x1, y1, x2, y2)`` boxes over the area of the smaller one."""
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    smaller = min(np.prod(a[2:] - a[:2]), np.prod(b[2:] - b[:2]))
    return float(inter / smaller) if smaller > 0 else 1.0


def dedupe_people(poses: Sequence[PersonPose], max_overlap: float = SAME_PERSON_OVERLAP) -> list:
    """Drop a pose whose landmark box lies mostly inside a larger kept one, then sort by score.

    The detector also fires on parts of a person (a torso seen from behind reads as a smaller
    person); the whole-body reading, the larger box, is the one kept.
    """
    by_area = sorted(poses, key=lambda p: -float(np.prod(p.box[2:] - p.box[:2])))
    kept: list[PersonPose] = []
    for pose in by_area:
        if all(overlap_of_smaller(pose.box, k.box) <= max_overlap for k in kept):
            kept.append(pose)
    return sorted(kept, key=lambda p: -p.score)


def decode_landmarks(
    raw: np.ndarray, flag: float, roi: Roi, im_shape: tuple[int, int]
) -> PersonPose:
    """Landmark-model outputs -> a :class:`PersonPose` in frame pixels.

    Args:
        raw: ``(39, 5)`` x, y, z in ROI-input pixels (0..256), visibility and presence logits.
        flag: pose presence (a probability; a value outside [0, 1] is taken as a logit).
        roi: the ROI the input was cut from.
        im_shape: ``(H, W)`` of the frame.
    """
    raw = np.asarray(raw, np.float64)
    xy = roi.crop_to_frame(raw[:, :2], LANDMARK_INPUT) - 0.5  # continuous -> pixel centres
    z = raw[:, 2] / LANDMARK_INPUT * roi.side
    visibility = _sigmoid(raw[:, 3])
    presence = _sigmoid(raw[:, 4])
    score = flag if 0.0 <= flag <= 1.0 else float(_sigmoid(np.float64(flag)))
    body = xy[:NUM_LANDMARKS]
    height, width = im_shape
    low = np.clip(body.min(axis=0), 0, [width - 1, height - 1])
    high = np.clip(body.max(axis=0), 0, [width - 1, height - 1])
    next_roi = alignment_roi(xy[HIP_CENTER_AUX] + 0.5, xy[BODY_SIZE_AUX] + 0.5)
    return PersonPose(
        keypoints=np.concatenate([body, visibility[:NUM_LANDMARKS, None]], axis=1),
        presence=presence[:NUM_LANDMARKS],
        z=z[:NUM_LANDMARKS],
        score=score,
        box=np.concatenate([low, high]),
        roi=roi,
        next_roi=next_roi,
    )
