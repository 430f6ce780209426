"""Step 1 of the demo: person tracks, from BlazePose on every decoded frame or from a given
tracks file (OpenPose folder / JSON, AlphaPose / PoseFlow JSON, box CSV), linked and sorted by
length (:mod:`src.video.tracks`); then each track's smoothed crop boxes (:mod:`src.video.bbox`).
With a :class:`~src.demo.stream.StreamingCropper`, the BlazePose pass also cuts every track's
crops from the same decoded frames (:mod:`src.demo.stream`)."""

from __future__ import annotations

import os
from pathlib import Path

from src.demo.options import DemoError, DemoOptions, frame_limit, limited, open_input
from src.demo.stream import StreamingCropper
from src.demo.timing import StageTimer, progress_bar
from src.video import tracks as tracks_lib
from src.video.bbox import SmoothBBoxes, smooth_bboxes_from_boxes, smooth_bboxes_from_keypoints
from src.video.blazepose import PoseEstimator
from src.video.io import VideoInfo


def detect_people_blazepose(
    path: Path,
    options: DemoOptions,
    info: VideoInfo,
    timer: StageTimer,
    cropper: StreamingCropper | None = None,
) -> list[tracks_lib.FrameDetections]:
    """BlazePose on every frame (streaming); returns the people per frame. With ``cropper``,
    the people are also linked frame by frame and each track's crops cut from the same frames."""
    estimator = PoseEstimator(detect_every=options.detect_every)
    linker = tracks_lib.TrackLinker()
    limit = frame_limit(options)
    total = min(info.num_frames, limit) if limit else info.num_frames
    detections: list[tracks_lib.FrameDetections] = []
    with (
        open_input(path, options) as reader,
        progress_bar(options.progress, total, "tracking people") as bar,
    ):
        frames = timer.timed_iter("decode", limited(reader, limit))
        estimator.reset()
        for index, frame in enumerate(frames):
            with timer.stage("pose", frames=1):
                people = estimator(frame)
            detections.append(tracks_lib.detections_from_poses(people))
            if cropper is not None:
                with timer.stage("crop"):
                    ids = linker.add_frame(detections[-1])
                    cropper.add_frame(index, frame, detections[-1], ids)
            bar.update(1)
    if cropper is not None:
        with timer.stage("crop"):
            cropper.finish()
        timer.add_frames("crop", cropper.num_crops)
    return detections


def read_track_file(
    path: str | os.PathLike, fmt: str, num_frames: int | None
) -> list[tracks_lib.FrameDetections]:
    """People per frame from a given tracks file (``fmt`` one of
    :data:`src.demo.options.TRACK_FORMATS`)."""
    path = Path(path)
    if fmt == "openpose":
        if path.is_dir():
            return tracks_lib.read_openpose_folder(path, num_frames)
        frames = [tracks_lib.read_openpose_json(path)]
        return frames + [[] for _ in range((num_frames or 1) - 1)]
    if fmt == "alphapose":
        return tracks_lib.read_alphapose_json(path, num_frames)
    if fmt == "boxes":
        return tracks_lib.read_box_file(path, num_frames)
    return tracks_lib.read_detections(path, num_frames)


def effective_min_track_frames(options: DemoOptions, num_frames: int) -> int:
    """The original keeps tracks seen in >= 20 frames; a short clip needs only half its frames."""
    return max(1, min(options.min_track_frames, num_frames // 2 or 1))


def find_tracks(
    path: Path,
    options: DemoOptions,
    info: VideoInfo,
    timer: StageTimer,
    cropper: StreamingCropper | None = None,
) -> list[tracks_lib.Track]:
    """Tracks sorted by length (longest first), from BlazePose or the given file; ``cropper``:
    see :func:`detect_people_blazepose` (unused with a tracks file)."""
    limit = frame_limit(options, info.num_frames)
    if options.tracks_json:
        frames = read_track_file(options.tracks_json, options.tracks_format, info.num_frames)
    else:
        frames = detect_people_blazepose(path, options, info, timer, cropper)
    if limit is not None:
        frames = frames[:limit]
    if not frames:
        raise DemoError(f"{path}: no frames to process")
    min_frames = effective_min_track_frames(options, len(frames))
    try:
        return tracks_lib.build_tracks(frames, min_frames=min_frames)
    except ValueError as err:
        raise DemoError(f"{path}: {err}") from None


def track_bboxes(track: tracks_lib.Track) -> SmoothBBoxes:
    """The original's smoothed crop parameters (keypoints when the source has them)."""
    if track.has_keypoints:
        try:
            return smooth_bboxes_from_keypoints(track.keypoints_per_frame())
        except ValueError:
            pass  # no confident keypoints: fall back on the boxes
    return smooth_bboxes_from_boxes(track.boxes_per_frame())
