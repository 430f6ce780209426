"""Video in the wild (InstaVariety, VLOG, your own videos) + 2D keypoints -> HMMR TFRecords.

The paper's InstaVariety path (docs/original_release.md §6.4), and the way to train or evaluate on
your own
videos. Input, per video ``NAME`` (names may contain ``/``, e.g. InstaVariety's ``tag/video_id``)::

    <data_directory>/videos/NAME.mp4                     the video (anything OpenCV reads) ...
    <data_directory>/frames/NAME/000001.jpg ...          ... or its frames (natural name order)
    <data_directory>/openpose/NAME/*_keypoints.json      per-frame OpenPose JSON, BODY_25 or
                                                         COCO-18 (``--write_json`` output) ...
    <data_directory>/alphapose/NAME.json                 ... or AlphaPose results / PoseFlow's
                                                         tracked JSON (COCO-17 keypoints)

People are linked across frames into tracks with a Hungarian assignment on box overlap and
keypoint distance (``src.video.tracks``; PoseFlow ids are kept). Keypoints go to the 25 HMMR
joints by name (head top always missing); visible = confidence >= 0.1. Each track is cleaned as
InstaVariety was: the per-frame visible count is median-filtered (5); leading frames are skipped
until it exceeds 6; the track is cut at the first frame where it is 4 or less; tracks under
``--min_track_frames`` (40) frames are dropped, as are "face/shoulder only" tracks (40% or more
of the frames without a visible point other than face, neck and shoulders); tracks are cut to
``--max_track_frames`` (500).

- ``--split train``: smoothed-box (§8 step 5) 300-px pre-crops, augmentation (§6.5) and phi
  (§6.6); tracks shuffled (``--seed``), ``--num_shards`` (50) per file, one file set per copy:
  ``<dataset>/train/<dataset>_copyJ-0000I-of-0000K.tfrecord``.
- ``--split test`` (or ``val``): one file per video, ``<dataset>/<split>/NAME.tfrecord`` (``/``
  -> ``_``), one record per track (§6.2).

Pseudo-labelling your own videos (the paper's recipe for unlabelled video): with ``--blazepose``,
a video without keypoint files gets its 2D keypoints from the built-in BlazePose
(``src.video.blazepose``, 33 landmarks mapped to the 25 joints, visibility as confidence), and
then goes through the same tracking and cleaning. ``--runner DirectRunner`` (or any Beam runner)
does this at scale, a video per worker at a time (``tfrecords_tools.beam``).

Which videos: the names listed in ``--video_list`` (one per line; ``{}`` in the path is replaced
by the split, as the original's ``insta_variety_{}.txt``), else every video with keypoints (and,
with ``--blazepose``, every video in ``videos/`` and frame folder in ``frames/``).
"""

from __future__ import annotations

import argparse
import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.tfrecord_lib import shard_name
from src.data.tube_augmentation import TEST_VIS_THRESHOLD
from src.joints import HMMR_JOINT_INDEX
from src.video import tracks as tracking
from src.video.bbox import SmoothBBoxes, smooth_bboxes_from_keypoints, zero_padded_medfilt
from src.video.io import IMAGE_EXTENSIONS, FrameFolderReader, VideoReader, read_image
from tfrecords_tools import cli, common, track_records
from tfrecords_tools.common import log

DATASET = "insta_variety"
TRACKS_PER_FILE = 50
VIS_THRESHOLD = 0.1  # OpenPose confidence counted as visible (>=)
COUNT_MEDIAN_KERNEL = 5
MIN_START_VISIBLE = 6  # leading frames are skipped until the filtered count exceeds this
MAX_BAD_VISIBLE = 4  # the track is cut where the filtered count is this or less
MIN_TRACK_FRAMES = 40
MAX_TRACK_FRAMES = 500
MAX_FACE_ONLY_FRACTION = 0.4
FACE_AND_SHOULDERS = (
    "neck",
    "head_top",
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
)
BODY_JOINTS = tuple(i for n, i in HMMR_JOINT_INDEX.items() if n not in FACE_AND_SHOULDERS)
VIDEO_DIR, FRAMES_DIR, OPENPOSE_DIR, ALPHAPOSE_DIR = "videos", "frames", "openpose", "alphapose"

EPILOG = """\
examples:
  # InstaVariety-style training records from OpenPose tracks
  python -m tfrecords_tools.in_the_wild --data_directory INSTA_DIR --output_directory TF_ROOT \\
      --split train --video_list INSTA_DIR/insta_variety_{}.txt \\
      --pretrained_model_path models/hmr_tf2
  # your own videos: put them in MY_DIR/videos/, run OpenPose with --write_json
  # MY_DIR/openpose/<video name>/ (or AlphaPose into MY_DIR/alphapose/<video name>.json), then
  python -m tfrecords_tools.in_the_wild --data_directory MY_DIR --output_directory TF_ROOT \\
      --dataset_name my_videos --split train
  # and train with --datasets h36m,penn_action,insta_variety,my_videos
  # no keypoints? pseudo-label MY_DIR/videos/* with BlazePose, on two local workers with Beam
  python -m tfrecords_tools.in_the_wild --data_directory MY_DIR --output_directory TF_ROOT \\
      --dataset_name my_videos --split train --blazepose \\
      --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing
"""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.base_parser("tfrecords_tools.in_the_wild", __doc__, EPILOG)
    cli.add_split_flag(parser)
    parser.add_argument(
        "--dataset_name",
        default=DATASET,
        help=f"output folder under the TFRecord root (default {DATASET})",
    )
    parser.add_argument(
        "--video_list",
        default=None,
        help="text file of video names, one per line; {} becomes the split",
    )
    parser.add_argument(
        "--num_shards",
        type=int,
        default=TRACKS_PER_FILE,
        help=f"tracks per training file (default {TRACKS_PER_FILE})",
    )
    parser.add_argument(
        "--min_track_frames",
        type=int,
        default=MIN_TRACK_FRAMES,
        help=f"shortest track kept after cleaning (default {MIN_TRACK_FRAMES})",
    )
    parser.add_argument(
        "--max_track_frames",
        type=int,
        default=MAX_TRACK_FRAMES,
        help=f"longer tracks are cut to this (default {MAX_TRACK_FRAMES})",
    )
    cli.add_bool_flag(
        parser,
        "blazepose",
        False,
        "pseudo-label videos that have no OpenPose/AlphaPose files with BlazePose "
        "(models from make blazepose)",
    )
    cli.add_train_flags(parser, num_copy=1)
    return parser


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInput:
    """Where one video's frames and keypoints are."""

    name: str
    frames: Path  # a video file or a frame folder
    keypoints: Path | None  # an OpenPose folder or an AlphaPose JSON; None: run BlazePose


def _names_with_keypoints(root: Path) -> list[str]:
    names = set()
    openpose = root / OPENPOSE_DIR
    if openpose.is_dir():
        names |= {p.parent.relative_to(openpose).as_posix() for p in openpose.rglob("*.json")}
    alphapose = root / ALPHAPOSE_DIR
    if alphapose.is_dir():
        names |= {
            p.relative_to(alphapose).with_suffix("").as_posix() for p in alphapose.rglob("*.json")
        }
    return sorted(names)


def _names_with_frames(root: Path) -> list[str]:
    """Videos in ``videos/`` (any name with a non-image, non-JSON suffix) and frame folders in
    ``frames/`` (folders holding images)."""
    names = set()
    videos = root / VIDEO_DIR
    if videos.is_dir():
        names |= {
            p.relative_to(videos).with_suffix("").as_posix()
            for p in videos.rglob("*")
            if p.is_file() and p.suffix and p.suffix.lower() not in IMAGE_EXTENSIONS + (".json",)
        }
    frames = root / FRAMES_DIR
    if frames.is_dir():
        names |= {
            p.parent.relative_to(frames).as_posix()
            for p in frames.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS
        }
    return sorted(names)


def read_video_list(path_pattern: str, split: str) -> list[str]:
    """Names listed in the file (``{}`` -> split); blank lines and ``#`` comments ignored."""
    path = Path(path_pattern.replace("{}", split))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video list not found")
    names = [line.strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise ValueError(f"{path}: expected one video name per line, found none")
    return names


def locate(root: Path, name: str, blazepose: bool = False) -> VideoInput:
    """The frame source and keypoint source of ``name`` (see the module docstring); without
    keypoint files and with ``blazepose``, the keypoints will come from BlazePose."""
    keypoints: Path | None = root / OPENPOSE_DIR / name
    if not keypoints.is_dir():
        keypoints = root / ALPHAPOSE_DIR / f"{name}.json"
    if not keypoints.exists() and blazepose:
        keypoints = None
    elif not keypoints.exists():
        raise FileNotFoundError(
            f"{root}: no keypoints for video '{name}' (expected "
            f"{OPENPOSE_DIR}/{name}/*.json or {ALPHAPOSE_DIR}/{name}.json)"
        )
    frames = root / FRAMES_DIR / name
    if not frames.is_dir():
        videos = sorted((root / VIDEO_DIR / name).parent.glob(f"{Path(name).name}.*"))
        videos = [v for v in videos if v.suffix.lower() not in IMAGE_EXTENSIONS + (".json",)]
        if not videos:
            raise FileNotFoundError(
                f"{root}: no frames for video '{name}' (expected "
                f"{VIDEO_DIR}/{name}.<ext> or {FRAMES_DIR}/{name}/)"
            )
        frames = videos[0]
    return VideoInput(name, frames, keypoints)


def read_detections(video: VideoInput) -> list[tracking.FrameDetections]:
    """People per frame, from the keypoint files or (none given) BlazePose on every frame."""
    if video.keypoints is None:
        return blazepose_detections(video.frames)
    if video.keypoints.is_dir():
        return tracking.read_openpose_folder(video.keypoints)
    return tracking.read_alphapose_json(video.keypoints)


_ESTIMATORS = threading.local()  # one BlazePose per thread (a Beam worker may run several)


def blazepose_detections(source: Path) -> list[tracking.FrameDetections]:
    """BlazePose people on every frame of a video file or frame folder."""
    from src.video.blazepose import PoseEstimator

    estimator = getattr(_ESTIMATORS, "estimator", None)
    if estimator is None:
        estimator = _ESTIMATORS.estimator = PoseEstimator()
    estimator.reset()
    reader = FrameFolderReader(source) if source.is_dir() else VideoReader(source)
    with reader:
        return [tracking.detections_from_poses(estimator(frame)) for frame in reader]


def frame_range(source: Path, start: int, end: int) -> Iterator[np.ndarray]:
    """Frames ``start .. end - 1`` of a video file or frame folder, one at a time.

    Raises:
        ValueError: the source has fewer frames (named).
    """
    if source.is_dir():
        files = FrameFolderReader(source).files
        if end > len(files):
            raise ValueError(f"{source}: needs frame {end - 1} but has {len(files)} images")
        for path in files[start:end]:
            yield read_image(path)
        return
    count = 0
    with VideoReader(source) as reader:
        for index, frame in enumerate(reader):
            count = index + 1
            if index >= start:
                yield frame
            if count >= end:
                return
    raise ValueError(f"{source}: needs frame {end - 1} but the video has {count} frames")


# ---------------------------------------------------------------------------------------------
# Cleaning (§6.4, InstaVariety)
# ---------------------------------------------------------------------------------------------


def dense_keypoints(track: tracking.Track) -> np.ndarray:
    """``(L, 25, 3)`` pixel (x, y, confidence) from the first to the last frame; gaps are zero."""
    rows = track.keypoints_per_frame()
    return np.stack([np.zeros((len(track.keypoints[0]), 3)) if r is None else r for r in rows])


def clean_range(
    conf_kp: np.ndarray, min_frames: int = MIN_TRACK_FRAMES, max_frames: int = MAX_TRACK_FRAMES
) -> tuple[int, int] | None:
    """The frames of a track kept by the InstaVariety rules, or None to drop it.

    Args:
        conf_kp: ``(L, 25, 3)`` pixel (x, y, confidence).
    Returns:
        ``(start, end)`` indices into the track.
    """
    visible = conf_kp[..., 2] >= VIS_THRESHOLD
    count = zero_padded_medfilt(visible.sum(axis=1), COUNT_MEDIAN_KERNEL)
    good = np.nonzero(count > MIN_START_VISIBLE)[0]
    if not len(good):
        return None
    start = int(good[0])
    bad = np.nonzero(count[start:] <= MAX_BAD_VISIBLE)[0]
    end = start + int(bad[0]) if len(bad) else len(count)
    if end - start < min_frames:
        return None
    body_seen = visible[start:end][:, list(BODY_JOINTS)].any(axis=1)
    if np.mean(~body_seen) >= MAX_FACE_ONLY_FRACTION:
        return None
    return start, min(end, start + max_frames)


@dataclass(frozen=True)
class TrackSpec:
    """One cleaned track: frames ``first .. first + N - 1`` of ``source``."""

    video: str
    source: Path
    first: int
    kp2d: np.ndarray  # (N, 25, 3) pixel (x, y, confidence)
    boxes: SmoothBBoxes  # smoothed crop parameters of these N frames

    @property
    def frames(self) -> Iterator[np.ndarray]:
        return frame_range(self.source, self.first, self.first + len(self.kp2d))

    def filenames(self) -> list[str]:
        if self.source.is_dir():
            files = FrameFolderReader(self.source).files
            return [str(f) for f in files[self.first : self.first + len(self.kp2d)]]
        return [f"{self.source}#{self.first + i}" for i in range(len(self.kp2d))]


def video_tracks(
    video: VideoInput, args: argparse.Namespace, for_test: bool
) -> tuple[list[TrackSpec], int]:
    """The cleaned tracks of one video (longest first; none when nobody usable is found) and
    the number of tracks before cleaning."""
    detections = read_detections(video)
    try:
        tracks = tracking.build_tracks(detections, min_frames=1)
    except ValueError as err:
        log.warning("%s: skipped (%s)", video.name, err)
        return [], 0
    specs = []
    for track in tracks:
        kp = dense_keypoints(track)
        kept = clean_range(kp, args.min_track_frames, args.max_track_frames)
        if kept is None:
            continue
        kp = kp[kept[0] : kept[1]]
        if not for_test:  # training: visibility 0/1, invisible points zeroed
            kp = kp.copy()
            kp[..., 2] = kp[..., 2] >= VIS_THRESHOLD
            kp *= kp[..., 2:]
        boxes = smooth_bboxes_from_keypoints(kp, vis_thresh=TEST_VIS_THRESHOLD if for_test else 0.0)
        first = track.first_frame + kept[0] + boxes.start
        specs.append(TrackSpec(video.name, video.frames, first, kp[boxes.start : boxes.end], boxes))
    log.debug("%s: %d of %d track(s) kept", video.name, len(specs), len(tracks))
    return specs, len(tracks)


# ---------------------------------------------------------------------------------------------
# Building (worker side)
# ---------------------------------------------------------------------------------------------


def build_train_file(payload: tuple) -> Iterator[bytes]:
    """Records of one training file: ``payload = (tracks, settings, seed, shard, copy)``."""
    specs, settings, seed, shard, copy = payload
    rng = common.rng_for(seed, shard, copy)
    for spec in specs:
        pre = track_records.precrop_track(
            spec.frames, spec.kp2d, spec.boxes.centers, spec.boxes.scales
        )
        track = track_records.build_train_track(
            pre, settings, rng, extra={"filenames": spec.filenames()}
        )
        yield from track_records.serialize([track])


def build_test_file(specs: Sequence[TrackSpec]) -> Iterator[bytes]:
    """Records of one video's test file: one per track (§6.2)."""
    for spec in specs:
        track = track_records.build_test_track(spec.frames, spec.kp2d, spec.boxes)
        track["time_pts"] = np.array([spec.first, spec.first + len(spec.kp2d)], np.int64)
        track["filenames"] = spec.filenames()
        yield from track_records.serialize([track])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def list_names(args: argparse.Namespace) -> list[str]:
    """The videos to convert (see the module docstring)."""
    root = Path(args.data_directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data directory not found")
    if args.video_list:
        return read_video_list(args.video_list, args.split)
    names = _names_with_keypoints(root)
    if args.blazepose:
        names = sorted(set(names) | set(_names_with_frames(root)))
    if not names:
        wanted = f"{OPENPOSE_DIR}/<video>/*.json or {ALPHAPOSE_DIR}/<video>.json"
        if args.blazepose:
            wanted += f", or (--blazepose) {VIDEO_DIR}/<video>.<ext> or {FRAMES_DIR}/<video>/"
        raise ValueError(f"{root}: no keypoints found (expected {wanted})")
    return names


@dataclass(frozen=True)
class VideoTracks:
    """One video's cleaned tracks and how many tracks it had before cleaning."""

    name: str
    specs: list[TrackSpec]
    found: int


def read_video(name: str, args: argparse.Namespace) -> VideoTracks:
    """Locate one video, read or detect its people, link and clean its tracks."""
    video = locate(Path(args.data_directory), name, args.blazepose)
    specs, found = video_tracks(video, args, args.split != "train")
    return VideoTracks(name, specs, found)


def plan_files(
    videos: list[VideoTracks],
    args: argparse.Namespace,
    out_dir: Path,
    settings: track_records.TrainSettings | None,
) -> common.Plan:
    """Test: a file per video with tracks. Train: every track of every video (in name order),
    shuffled by ``--seed``, ``--num_shards`` a file, one file set per copy."""
    total = sum(len(v.specs) for v in videos)
    found = sum(v.found for v in videos)
    counts = {
        "videos": len(videos),
        "videos_without_tracks": sum(not v.specs for v in videos),
        "tracks_kept": total,
        "tracks_dropped_cleaning": found - total,
    }
    log.info("%d video(s), %d usable track(s) -> %s", len(videos), total, out_dir)
    if not total:
        raise ValueError(
            f"{args.data_directory}: no track survives the cleaning (at least "
            f"{args.min_track_frames} frames with enough visible keypoints)"
        )
    if settings is None:
        tasks = [
            (out_dir / f"{common.safe_name(v.name)}.tfrecord", v.specs) for v in videos if v.specs
        ]
        return common.Plan(tasks, counts)
    by_name = {v.name: v.specs for v in videos}
    specs = [s for name in sorted(by_name) for s in by_name[name]]
    specs = [specs[i] for i in np.random.default_rng(args.seed).permutation(len(specs))]
    groups = [specs[i : i + args.num_shards] for i in range(0, len(specs), args.num_shards)]
    tasks = [
        (
            out_dir / shard_name(f"{args.dataset_name}_copy{copy}", shard, len(groups)),
            (group, settings, args.seed, shard, copy),
        )
        for copy in range(args.num_copy)
        for shard, group in enumerate(groups)
    ]
    return common.Plan(tasks, counts)


def conversion(args: argparse.Namespace) -> common.Conversion:
    """Inputs: video names; each is read (keypoints or BlazePose, tracking, cleaning) alone."""
    if args.num_shards < 1 or args.min_track_frames < 1 or args.max_track_frames < 1:
        raise ValueError("--num_shards, --min_track_frames and --max_track_frames must be >= 1")
    names = list_names(args)
    out_dir = common.split_dir(args.output_directory, args.dataset_name, args.split)
    train = args.split == "train"
    settings = cli.train_settings(args) if train else None
    return common.Conversion(
        desc=f"{args.dataset_name} {args.split}",
        output=out_dir,
        inputs=names,
        read=functools.partial(read_video, args=args),
        plan=functools.partial(plan_files, args=args, out_dir=out_dir, settings=settings),
        build=build_train_file if train else build_test_file,
        setup=track_records.encoder_setup(settings),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli.run_cli(build_parser(), conversion, argv)


if __name__ == "__main__":
    # run the module under its importable name: Beam workers unpickle its classes by that name
    from tfrecords_tools.in_the_wild import main as _main

    raise SystemExit(_main())
