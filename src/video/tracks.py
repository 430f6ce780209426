"""Person tracks: per-frame detections from several sources, linked over time.

docs/original_release.md §8 steps 2-4 ran AlphaPose and PoseFlow; here the per-frame people come
from the
built-in BlazePose (``src.video.blazepose``) or from files a user already has:

- OpenPose JSON, one file per frame (``*_000000000012_keypoints.json``): BODY_25
  ``people[].pose_keypoints_2d`` or the older COCO-18 ``people[].pose_keypoints`` (told apart by
  the number of values, 75 or 54);
- AlphaPose / PoseFlow JSON: the tracked ``alphapose-results-forvis-tracked.json`` (image name ->
  list of ``{"keypoints", "idx"}``) or the plain AlphaPose list ``[{"image_id", "keypoints",
  "score", "idx"?}]``; COCO-17 keypoints (Halpe-26/136 files: their first 17 points, which are
  COCO's);
- a box file, CSV, one line per person and frame (``#`` starts a comment, an optional header line
  starting with ``frame`` is skipped)::

      frame,track_id,x1,y1,x2,y2[,score]

  ``frame`` counts from 0; ``track_id`` is any integer (``-1``: unknown, link by boxes).

Every source becomes, per frame, a list of :class:`Detection` with the 25 HMMR keypoints ``(x, y,
confidence)`` in frame pixels (``src.joints.to_hmmr25``). Sources with track ids keep them;
otherwise :func:`link_detections` joins frames with the Hungarian algorithm on a cost mixing box IoU
(of a constant-velocity prediction) and normalised keypoint distance. Gaps up to ``max_gap`` frames
are bridged, tracks may start late and end early, frames with nobody are fine. As in the original,
tracks seen in fewer than ``min_frames`` frames (20) are dropped and the rest sorted by the number
of frames seen, longest first; ``--track_id k`` picks the k-th (clamped), ``--all_tracks`` all.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from src.constants import NUM_KPS
from src.joints import (
    FROM_BLAZEPOSE33,
    FROM_COCO17,
    FROM_OPENPOSE18,
    FROM_OPENPOSE25,
    SOURCE_NUM_JOINTS,
    to_hmmr25,
)

log = logging.getLogger(__name__)

MIN_TRACK_FRAMES = 20  # the original keeps tracks seen in at least 20 frames
MAX_GAP_FRAMES = 10  # missing frames bridged inside one track
MIN_LINK_IOU = 0.1  # a link needs this box IoU ...
MAX_LINK_KP_DIST = 0.5  # ... or a mean keypoint distance under this fraction of the box diagonal
MIN_COMMON_KPS = 3  # keypoints seen in both frames needed for a keypoint distance
_NO_LINK = 1e6
# Largest frame number a tracks file may name: the readers allocate a list of frames up to it,
# so a corrupt number (1e12) is refused instead (a day of 25 fps video is 2.2M frames).
MAX_FRAME_INDEX = 10_000_000


@dataclass
class Detection:
    """One person in one frame.

    Attributes:
        keypoints: ``(25, 3)`` float64 HMMR-order ``(x, y, confidence)`` in frame pixels; missing
            joints are all zero. All zero for box-only sources.
        box: ``(4,)`` float64 ``(x1, y1, x2, y2)`` in frame pixels.
        score: detection confidence.
        track_id: identity given by the source (PoseFlow ``idx``, box file), else ``None``.
        has_keypoints: ``False`` for box-only sources.
    """

    keypoints: np.ndarray
    box: np.ndarray
    score: float = 1.0
    track_id: int | None = None
    has_keypoints: bool = True


FrameDetections = list[Detection]


@dataclass
class Track:
    """One person over the frames where they were found.

    Attributes:
        track_id: the source's id, or the linker's (order of appearance).
        frame_ids: ``(N,)`` int64 increasing frame indices (gaps allowed).
        keypoints: ``(N, 25, 3)`` float64 HMMR keypoints, pixels.
        boxes: ``(N, 4)`` float64 ``(x1, y1, x2, y2)``.
        scores: ``(N,)`` float64.
        has_keypoints: ``False`` when the source gave boxes only.
    """

    track_id: int
    frame_ids: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    has_keypoints: bool = True

    def __len__(self) -> int:
        """Number of frames in which the person was found."""
        return int(len(self.frame_ids))

    @property
    def first_frame(self) -> int:
        return int(self.frame_ids[0])

    @property
    def last_frame(self) -> int:
        return int(self.frame_ids[-1])

    def _per_frame(self, values: np.ndarray) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * (self.last_frame - self.first_frame + 1)
        for frame, value in zip(self.frame_ids, values, strict=True):
            out[int(frame) - self.first_frame] = value
        return out

    def keypoints_per_frame(self) -> list[np.ndarray | None]:
        """``(25, 3)`` or ``None`` for every frame from ``first_frame`` to ``last_frame``."""
        return self._per_frame(self.keypoints)

    def boxes_per_frame(self) -> list[np.ndarray | None]:
        """``(4,)`` or ``None`` for every frame from ``first_frame`` to ``last_frame``."""
        return self._per_frame(self.boxes)


# ------------------------------------------------------------------------------------------------
# Detections from keypoints


def box_of_points(points: np.ndarray, min_conf: float = 0.0) -> np.ndarray | None:
    """``(x1, y1, x2, y2)`` of the points with confidence above ``min_conf``, or ``None``.

    Args:
        points: ``(J, 3)`` x, y, confidence.
    """
    seen = points[:, 2] > min_conf
    if not np.any(seen):
        return None
    xy = points[seen, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def detection_from_keypoints(
    points: np.ndarray,
    mapping: Sequence[int | None],
    track_id: int | None = None,
    score: float | None = None,
) -> Detection | None:
    """A :class:`Detection` from source keypoints ``(J, 3)``; ``None`` if no point is seen.

    The box spans every seen source point (face and hands included), the default score is the mean
    confidence of the seen points.
    """
    points = np.asarray(points, dtype=np.float64)
    box = box_of_points(points)
    if box is None:
        return None
    seen = points[:, 2] > 0
    keypoints = to_hmmr25(points, mapping)
    if score is None:
        score = float(points[seen, 2].mean())
    return Detection(keypoints, box, float(score), track_id)


def detections_from_poses(poses: Iterable) -> FrameDetections:
    """BlazePose people of one frame (``src.video.blazepose.PersonPose``) -> detections.

    Each pose needs ``keypoints`` ``(33, 3)`` (x, y, visibility), ``box`` ``(4,)``, ``score``.
    """
    out = []
    for pose in poses:
        keypoints = to_hmmr25(np.asarray(pose.keypoints, dtype=np.float64), FROM_BLAZEPOSE33)
        out.append(Detection(keypoints, np.asarray(pose.box, np.float64), float(pose.score)))
    return out


# ------------------------------------------------------------------------------------------------
# Readers


def _file_errors(read: Callable) -> Callable:
    """Readers of outside files fail with one line naming the file: whatever a malformed file
    raises deep inside (a string where numbers belong, a JSON nested too deeply, a CSV field
    over the csv module's limit) becomes a ``ValueError`` starting with the path (the first
    argument); missing files stay ``FileNotFoundError``."""

    @functools.wraps(read)
    def reader(path, *args, **kwargs):
        try:
            return read(path, *args, **kwargs)
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to read") from None
        except (
            TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError, csv.Error
        ) as err:  # fmt: skip
            message = " ".join(str(err).split())
            if message.startswith(str(path)) and type(err) is ValueError:
                raise
            raise ValueError(
                f"{path}: unexpected content ({type(err).__name__}: {message[:200]})"
            ) from None

    return reader


def _load_json(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: keypoint file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _reshape_points(values: object, path: Path, what: str) -> np.ndarray:
    try:
        points = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: {what} must be a list of numbers") from None
    if points.size % 3:
        raise ValueError(f"{path}: {what} must hold (x, y, confidence) triples, got {points.size}")
    return points.reshape(-1, 3)


_OPENPOSE_MAPS = {
    SOURCE_NUM_JOINTS["openpose25"]: FROM_OPENPOSE25,
    SOURCE_NUM_JOINTS["openpose18"]: FROM_OPENPOSE18,
}


def parse_openpose(data: object, path: Path) -> FrameDetections:
    """People of one OpenPose frame (already-loaded JSON)."""
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise ValueError(f"{path}: expected OpenPose JSON with a 'people' list")
    out = []
    for person in data["people"]:
        if not isinstance(person, dict):
            raise ValueError(f"{path}: expected each person as a JSON object")
        key = "pose_keypoints_2d" if "pose_keypoints_2d" in person else "pose_keypoints"
        if key not in person:
            raise ValueError(f"{path}: person without pose_keypoints_2d / pose_keypoints")
        points = _reshape_points(person[key], path, key)
        if len(points) == 0:
            continue
        if len(points) not in _OPENPOSE_MAPS:
            raise ValueError(
                f"{path}: expected 25 (BODY_25) or 18 (COCO) OpenPose keypoints, got {len(points)}"
            )
        det = detection_from_keypoints(points, _OPENPOSE_MAPS[len(points)])
        if det is not None:
            out.append(det)
    return out


@_file_errors
def read_openpose_json(path: str | os.PathLike) -> FrameDetections:
    """People of one OpenPose per-frame JSON file."""
    path = Path(path)
    return parse_openpose(_load_json(path), path)


def frame_index_from_name(name: str) -> int | None:
    """The frame number in a file name: OpenPose's ``_<n>_keypoints``, else the last digit run."""
    stem = Path(name).name
    match = re.search(r"_(\d+)_keypoints", stem) or re.search(r"(\d+)(?!.*\d)", stem)
    return int(match.group(1)) if match else None


def _frames_from_named(
    named: dict[str, FrameDetections], num_frames: int | None, where: Path
) -> list[FrameDetections]:
    """Order per-image detections into a frame list (by the number in the name, else by name)."""
    indices = {name: frame_index_from_name(name) for name in named}
    if any(i is None for i in indices.values()) or len(set(indices.values())) != len(indices):
        log.warning("%s: frame numbers not found in every name; using sorted name order", where)
        indices = {name: i for i, name in enumerate(sorted(named))}
    length = max(indices.values(), default=-1) + 1
    if length - 1 > MAX_FRAME_INDEX:
        raise ValueError(f"{where}: frame number {length - 1} is over {MAX_FRAME_INDEX}")
    if num_frames is not None:
        length = max(length, num_frames)
    frames: list[FrameDetections] = [[] for _ in range(length)]
    for name, dets in named.items():
        frames[indices[name]] = dets
    return frames


@_file_errors
def read_openpose_folder(
    folder: str | os.PathLike, num_frames: int | None = None
) -> list[FrameDetections]:
    """Detections per frame from a folder of OpenPose ``*_keypoints.json`` (or ``*.json``) files.

    Args:
        folder: the ``--write_json`` folder.
        num_frames: pad the list with empty frames to this length.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: OpenPose JSON folder not found")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ValueError(f"{folder}: expected OpenPose *_keypoints.json files, found none")
    named = {f.name: read_openpose_json(f) for f in files}
    return _frames_from_named(named, num_frames, folder)


def _alphapose_detection(person: dict, path: Path, score_key: str) -> Detection | None:
    if not isinstance(person, dict) or "keypoints" not in person:
        raise ValueError(f"{path}: AlphaPose person without 'keypoints'")
    points = _reshape_points(person["keypoints"], path, "keypoints")
    coco = SOURCE_NUM_JOINTS["coco17"]
    if len(points) < coco:
        raise ValueError(f"{path}: expected at least {coco} (COCO) keypoints, got {len(points)}")
    track_id = person.get("idx")
    if isinstance(track_id, list):  # AlphaPose writes [[id]] in some versions
        track_id = np.asarray(track_id).ravel()[0] if np.size(track_id) else None
    score = person.get(score_key)
    score = float(np.mean(score)) if score is not None else None
    return detection_from_keypoints(
        points[:coco], FROM_COCO17, None if track_id is None else int(track_id), score
    )


@_file_errors
def read_alphapose_json(
    path: str | os.PathLike, num_frames: int | None = None
) -> list[FrameDetections]:
    """Detections per frame from AlphaPose results or PoseFlow's tracked ``forvis`` JSON.

    Args:
        path: ``alphapose-results-forvis-tracked.json`` (dict image -> people) or
            ``alphapose-results.json`` (list of people with ``image_id``).
        num_frames: pad the list with empty frames to this length.
    """
    path = Path(path)
    data = _load_json(path)
    named: dict[str, FrameDetections] = {}
    if isinstance(data, dict):
        for image, people in data.items():
            if not isinstance(people, list):
                raise ValueError(f"{path}: expected a list of people for image {image}")
            dets = [_alphapose_detection(p, path, "scores") for p in people]
            named[image] = [d for d in dets if d is not None]
    elif isinstance(data, list):
        for person in data:
            if not isinstance(person, dict) or "image_id" not in person:
                raise ValueError(f"{path}: expected AlphaPose entries with 'image_id'")
            det = _alphapose_detection(person, path, "score")
            named.setdefault(str(person["image_id"]), [])
            if det is not None:
                named[str(person["image_id"])].append(det)
    else:
        raise ValueError(f"{path}: expected an AlphaPose list or a PoseFlow image -> people dict")
    return _frames_from_named(named, num_frames, path)


def _parse_box_row(row: list[str], path: Path, line: int) -> tuple[int, Detection]:
    if len(row) not in (6, 7):
        raise ValueError(f"{path}:{line}: expected frame,track_id,x1,y1,x2,y2[,score], got {row}")
    try:
        frame, track = int(row[0]), int(row[1])
        values = [float(v) for v in row[2:]]
    except ValueError:
        raise ValueError(f"{path}:{line}: expected numbers in frame,track_id,x1,y1,x2,y2") from None
    box = np.asarray(values[:4])
    if not np.isfinite(values).all():
        raise ValueError(f"{path}:{line}: expected finite numbers, got {row}")
    if not 0 <= frame <= MAX_FRAME_INDEX or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(
            f"{path}:{line}: expected 0 <= frame <= {MAX_FRAME_INDEX} and x2 > x1, y2 > y1, "
            f"got {row}"
        )
    score = values[4] if len(values) == 5 else 1.0
    det = Detection(np.zeros((NUM_KPS, 3)), box, score, track if track >= 0 else None, False)
    return frame, det


@_file_errors
def read_box_file(path: str | os.PathLike, num_frames: int | None = None) -> list[FrameDetections]:
    """Detections per frame from a ``frame,track_id,x1,y1,x2,y2[,score]`` CSV (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: box file not found")
    rows: list[tuple[int, Detection]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            row = [v.strip() for v in row]
            if not row or not row[0] or row[0].startswith("#") or row[0].lower() == "frame":
                continue
            rows.append(_parse_box_row(row, path, line))
    if not rows:
        raise ValueError(f"{path}: expected lines frame,track_id,x1,y1,x2,y2[,score], found none")
    length = max(max(f for f, _ in rows) + 1, num_frames or 0)
    frames: list[FrameDetections] = [[] for _ in range(length)]
    for frame, det in rows:
        frames[frame].append(det)
    return frames


@_file_errors
def read_detections(
    path: str | os.PathLike, num_frames: int | None = None
) -> list[FrameDetections]:
    """Any supported source: an OpenPose folder, an OpenPose / AlphaPose JSON, or a box CSV."""
    path = Path(path)
    if path.is_dir():
        return read_openpose_folder(path, num_frames)
    if not path.exists():
        raise FileNotFoundError(f"{path}: detections file or folder not found")
    if path.suffix.lower() == ".json":
        data = _load_json(path)
        if isinstance(data, dict) and "people" in data:
            frames = [parse_openpose(data, path)]
            return frames + [[] for _ in range((num_frames or 1) - 1)]
        return read_alphapose_json(path, num_frames)
    if path.suffix.lower() in (".csv", ".txt"):
        return read_box_file(path, num_frames)
    raise ValueError(f"{path}: expected an OpenPose folder, a .json or a .csv/.txt box file")


# ------------------------------------------------------------------------------------------------
# Linking


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes."""
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _OpenTrack:
    """A track being built: its detections and a constant-velocity motion estimate."""

    track_id: int
    frames: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    def predict_shift(self, frame: int) -> np.ndarray:
        """``(4,)`` box displacement expected from the last detection to ``frame``."""
        if len(self.frames) < 2:
            return np.zeros(4)
        gap = self.frames[-1] - self.frames[-2]
        velocity = (self.detections[-1].box - self.detections[-2].box) / gap
        return velocity * (frame - self.frames[-1])


def keypoint_distance(a: Detection, b: Detection, shift: np.ndarray) -> float | None:
    """Mean distance of keypoints seen in both, over the diagonal of ``a``'s box.

    Args:
        shift: ``(2,)`` displacement applied to ``a``'s keypoints first (motion prediction).
    Returns:
        the distance, or ``None`` with fewer than 3 common keypoints.
    """
    if not (a.has_keypoints and b.has_keypoints):
        return None
    both = (a.keypoints[:, 2] > 0) & (b.keypoints[:, 2] > 0)
    if both.sum() < MIN_COMMON_KPS:
        return None
    diagonal = max(float(np.linalg.norm(a.box[2:] - a.box[:2])), 1.0)
    diff = a.keypoints[both, :2] + shift - b.keypoints[both, :2]
    return float(np.linalg.norm(diff, axis=1).mean() / diagonal)


def link_cost(
    track: _OpenTrack, det: Detection, frame: int, min_iou: float, max_kp_dist: float
) -> float:
    """Cost of extending ``track`` with ``det`` at ``frame``; ``1e6`` when not allowed.

    ``1 - IoU`` of the predicted box, averaged with the keypoint distance (capped at 1) when
    there is one. A link needs IoU >= ``min_iou`` or keypoint distance <= ``max_kp_dist``.
    """
    last = track.detections[-1]
    shift = track.predict_shift(frame)
    iou = box_iou(last.box + shift, det.box)
    kp_dist = keypoint_distance(last, det, shift[:2])
    if iou < min_iou and (kp_dist is None or kp_dist > max_kp_dist):
        return _NO_LINK
    if kp_dist is None:
        return 1.0 - iou
    return 0.5 * (1.0 - iou) + 0.5 * min(kp_dist, 1.0)


class TrackLinker:
    """:func:`link_detections` one frame at a time (for a single pass over a video): the
    Hungarian assignment frame by frame, gaps up to ``max_gap`` frames bridged.

    Example:
        >>> linker = TrackLinker()
        >>> ids = linker.add_frame(detections)  # the track id of each detection of this frame
        >>> tracks = linker.tracks()  # in order of appearance, unsorted, unfiltered

    Args:
        max_gap: a track missing for more than this many consecutive frames is closed.
        min_iou, max_kp_dist: gates of :func:`link_cost`.
    """

    def __init__(
        self,
        max_gap: int = MAX_GAP_FRAMES,
        min_iou: float = MIN_LINK_IOU,
        max_kp_dist: float = MAX_LINK_KP_DIST,
    ) -> None:
        self.max_gap = max_gap
        self.min_iou = min_iou
        self.max_kp_dist = max_kp_dist
        self.num_frames = 0
        self._open: list[_OpenTrack] = []
        self._closed: list[_OpenTrack] = []
        self._next_id = 0

    def add_frame(self, dets: Sequence[Detection]) -> list[int]:
        """Link the next frame's detections; returns the track id of each."""
        t = self.num_frames
        self.num_frames += 1
        alive = [tr for tr in self._open if t - tr.frames[-1] - 1 <= self.max_gap]
        self._closed += [tr for tr in self._open if t - tr.frames[-1] - 1 > self.max_gap]
        self._open = alive
        ids: list[int | None] = [None] * len(dets)
        if alive and dets:
            cost = np.array(
                [
                    [link_cost(tr, d, t, self.min_iou, self.max_kp_dist) for d in dets]
                    for tr in alive
                ]
            )
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[r, c] < _NO_LINK:
                    alive[r].frames.append(t)
                    alive[r].detections.append(dets[c])
                    ids[c] = alive[r].track_id
        for c in range(len(dets)):
            if ids[c] is None:
                self._open.append(_OpenTrack(self._next_id, [t], [dets[c]]))
                ids[c] = self._next_id
                self._next_id += 1
        return ids

    def tracks(self) -> list[Track]:
        """Every track so far, in order of appearance (unsorted, unfiltered)."""
        every = sorted(self._closed + self._open, key=lambda tr: tr.track_id)
        return [_to_track(tr) for tr in every]


def link_detections(
    frames: Sequence[Sequence[Detection]],
    max_gap: int = MAX_GAP_FRAMES,
    min_iou: float = MIN_LINK_IOU,
    max_kp_dist: float = MAX_LINK_KP_DIST,
) -> list[Track]:
    """Join per-frame detections into tracks (Hungarian assignment frame by frame).

    Args:
        frames: per frame, the people found (may be empty).
        max_gap: a track missing for more than this many consecutive frames is closed.
        min_iou, max_kp_dist: gates of :func:`link_cost`.
    Returns:
        tracks in order of appearance (unsorted, unfiltered).
    """
    linker = TrackLinker(max_gap, min_iou, max_kp_dist)
    for dets in frames:
        linker.add_frame(dets)
    return linker.tracks()


def _to_track(open_track: _OpenTrack) -> Track:
    dets = open_track.detections
    return Track(
        track_id=open_track.track_id,
        frame_ids=np.asarray(open_track.frames, dtype=np.int64),
        keypoints=np.stack([d.keypoints for d in dets]).astype(np.float64),
        boxes=np.stack([d.box for d in dets]).astype(np.float64),
        scores=np.asarray([d.score for d in dets], dtype=np.float64),
        has_keypoints=all(d.has_keypoints for d in dets),
    )


def group_by_track_id(frames: Sequence[Sequence[Detection]]) -> list[Track]:
    """Tracks from source-given ids (PoseFlow ``idx``, box file); the best-scoring detection wins
    when an id appears twice in one frame."""
    by_id: dict[int, _OpenTrack] = {}
    for t, dets in enumerate(frames):
        for det in sorted(dets, key=lambda d: -d.score):
            if det.track_id is None:
                raise ValueError(f"frame {t}: detection without a track id")
            track = by_id.setdefault(det.track_id, _OpenTrack(det.track_id))
            if track.frames and track.frames[-1] == t:
                continue
            track.frames.append(t)
            track.detections.append(det)
    return [_to_track(tr) for _, tr in sorted(by_id.items())]


def build_tracks(
    frames: Sequence[Sequence[Detection]],
    min_frames: int = MIN_TRACK_FRAMES,
    max_gap: int = MAX_GAP_FRAMES,
) -> list[Track]:
    """Per-frame detections -> tracks, filtered and sorted by length (longest first).

    Source ids are used when every detection has one, otherwise people are linked.

    Args:
        frames: per frame, the people found.
        min_frames: drop tracks found in fewer frames (the original's 20; the demo lowers it to
            the video length for short clips).
    Raises:
        ValueError: nobody was found, or no track is long enough (the message says how long the
            longest one is).
    """
    all_dets = [d for dets in frames for d in dets]
    if not all_dets:
        raise ValueError(f"no person found in any of the {len(frames)} frames")
    if all(d.track_id is not None for d in all_dets):
        tracks = group_by_track_id(frames)
    else:
        tracks = link_detections(frames, max_gap=max_gap)
    kept = sort_tracks([tr for tr in tracks if len(tr) >= min_frames])
    if not kept:
        longest = max(len(tr) for tr in tracks)
        raise ValueError(
            f"no person track spans at least {min_frames} frames (the longest has {longest}); "
            "lower the minimum track length to keep shorter ones"
        )
    return kept


def sort_tracks(tracks: Iterable[Track]) -> list[Track]:
    """Longest first (frames seen), then earliest start, then id."""
    return sorted(tracks, key=lambda tr: (-len(tr), tr.first_frame, tr.track_id))


def select_tracks(
    tracks: Sequence[Track], track_id: int = 0, all_tracks: bool = False
) -> list[Track]:
    """The ``track_id``-th longest track (clamped to the last, as the original), or all of them.

    Args:
        tracks: sorted tracks (:func:`build_tracks`).
        track_id: rank in the sorted list (0 = longest).
        all_tracks: return every track.
    Raises:
        ValueError: no tracks, or a negative ``track_id``.
    """
    if not tracks:
        raise ValueError("no person track to select from")
    if all_tracks:
        return list(tracks)
    if track_id < 0:
        raise ValueError(f"track_id must be >= 0, got {track_id}")
    if track_id >= len(tracks):
        log.warning(
            "track_id %d asked but only %d tracks found; using the last one", track_id, len(tracks)
        )
        track_id = len(tracks) - 1
    return [tracks[track_id]]
