"""Penn Action -> HMMR TFRecords (docs/original_release.md §6.4).

Input, as released: ``<data_directory>/frames/NNNN/000001.jpg ...`` and
``<data_directory>/labels/NNNN.mat`` (fields ``x``, ``y`` (N, 13) float64, ``visibility``
(N, 13) uint8, ``train`` (1, 1) int32 +1/-1, ``nframes``, ``dimensions``, ``bbox``, ``action``,
``pose``). The 13 joints go to the 25 HMMR joints by name (``src.joints.FROM_PENN13``: ankles to
23/24; heels, neck, face and toes empty).

Splits: ``train`` = videos with ``train == 1``; the others, in name order, every 10th (the 1st,
11th, ...) to ``val`` and the rest to ``test``.

- ``--split train``: clean each video (drop the first frame when it has no visible joint, cut at
  the first frame with 4 or fewer visible joints, drop videos under 40 frames), pre-crop every
  frame around its keypoint box (no smoothing), augment (§6.5), compute phi (§6.6); tracks are
  shuffled (``--seed``) and written ``--num_shards`` (50) per file, one file set per copy:
  ``train/penn_action_copyJ-0000I-of-0000K.tfrecord``.
- ``--split val`` / ``test``: one file per video, ``<split>/NNNN.tfrecord`` (§6.2): the frames
  with a visible joint, 224 crops around the smoothed box, keypoints in crop pixels.
"""

from __future__ import annotations

import argparse
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from src.data.tfrecord_lib import shard_name
from src.data.tube_augmentation import TEST_VIS_THRESHOLD, keypoint_center, keypoint_scale
from src.joints import FROM_PENN13, PENN13_NAMES, to_hmmr25
from src.video.bbox import smooth_bboxes_from_keypoints
from src.video.io import read_image
from tfrecords_tools import cli, common, label_files, track_records
from tfrecords_tools.common import log

DATASET = "penn_action"
NUM_PENN_JOINTS = len(PENN13_NAMES)
TRACKS_PER_FILE = 50  # the original's --num_shards
MIN_TRACK_FRAMES = 40
MAX_BAD_FRAME_VISIBLE = 4  # the video is cut at the first frame with this many visible or fewer
VAL_EVERY = 10  # every 10th non-training video goes to val
LABEL_KEYS = ("x", "y", "visibility", "train")
# A label file larger than this is refused before it is parsed (Penn's are ~10 kB; a compressed
# .mat inflates at most ~1000x, so this also bounds what a corrupt one can make scipy allocate).
MAX_LABEL_FILE_BYTES = 4 << 20

EPILOG = """\
examples:
  python -m tfrecords_tools.penn_action --data_directory PENN_DIR --output_directory TF_ROOT \\
      --split train --num_copy 1 --pretrained_model_path models/hmr_tf2
  python -m tfrecords_tools.penn_action --data_directory PENN_DIR --output_directory TF_ROOT \\
      --split test
"""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.base_parser("tfrecords_tools.penn_action", __doc__, EPILOG)
    cli.add_split_flag(parser)
    parser.add_argument(
        "--num_shards",
        type=int,
        default=TRACKS_PER_FILE,
        help=f"tracks per training file, as the original (default {TRACKS_PER_FILE})",
    )
    cli.add_train_flags(parser, num_copy=1)
    return parser


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PennVideo:
    """One video: ``frame_paths`` (N,) and ``kp2d`` (N, 25, 3) pixel (x, y, vis)."""

    name: str
    frame_paths: tuple[str, ...]
    kp2d: np.ndarray
    train: bool


def read_labels(path: Path) -> dict[str, np.ndarray]:
    """``x``, ``y``, ``visibility`` (N, 13) and ``train`` (bool) of one ``labels/NNNN.mat``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Penn Action label file not found")
    size = path.stat().st_size
    if size > MAX_LABEL_FILE_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than a label file ({MAX_LABEL_FILE_BYTES})")
    try:  # from memory: scipy then never reads more than the file holds
        mat = scipy.io.loadmat(io.BytesIO(path.read_bytes()), variable_names=LABEL_KEYS)
    except RecursionError:
        raise ValueError(f"{path}: not a readable .mat file (nested too deeply)") from None
    except Exception as err:  # noqa: BLE001 - scipy raises many types on corrupt files
        message = " ".join(str(err).split())[:200]
        raise ValueError(
            f"{path}: not a readable .mat file ({type(err).__name__}: {message})"
        ) from None
    with label_files.reading(path):
        label_files.require_keys(mat, LABEL_KEYS, path, "Penn Action label")
        x = label_files.as_array(mat["x"], path, "x", (None, NUM_PENN_JOINTS))
        y = label_files.as_array(mat["y"], path, "y", (x.shape[0], NUM_PENN_JOINTS))
        vis = label_files.as_array(
            mat["visibility"], path, "visibility", (x.shape[0], NUM_PENN_JOINTS)
        )
        train = np.asarray(mat["train"]).reshape(-1)
    if train.size != 1:
        raise ValueError(f"{path}: 'train' should hold one value, got {train.size}")
    return {
        "x": x,
        "y": y,
        "visibility": (vis > 0).astype(np.float64),
        "train": bool(np.all(train == 1)),
    }


def load_video(root: Path, name: str) -> PennVideo:
    """Labels and frame list of video ``name``; keypoints in the 25-joint order."""
    labels = read_labels(root / "labels" / f"{name}.mat")
    folder = root / "frames" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: frame folder of Penn Action video {name} not found")
    frames = sorted(folder.glob("*.jpg"))
    n = len(labels["x"])
    if len(frames) < n:
        raise ValueError(
            f"{folder}: {len(frames)} frames but {n} labelled rows in labels/{name}.mat"
        )
    kp13 = np.stack([labels["x"], labels["y"], labels["visibility"]], axis=-1)
    return PennVideo(
        name, tuple(str(p) for p in frames[:n]), to_hmmr25(kp13, FROM_PENN13), bool(labels["train"])
    )


def list_videos(root: Path) -> list[str]:
    """Sorted video names (``labels/*.mat`` stems)."""
    labels = root / "labels"
    if not labels.is_dir():
        raise FileNotFoundError(
            f"{labels}: Penn Action labels folder not found (expected "
            "<data_directory>/labels/NNNN.mat and frames/NNNN/)"
        )
    names = sorted(p.stem for p in labels.glob("*.mat"))
    if not names:
        raise ValueError(f"{labels}: expected NNNN.mat label files, found none")
    return names


def split_names(names: Sequence[str], train_flags: Sequence[bool]) -> dict[str, list[str]]:
    """``train`` by flag; the rest, in name order, every 10th to ``val``, others ``test``."""
    ordered = sorted(zip(names, train_flags, strict=True))
    held_out = [n for n, is_train in ordered if not is_train]
    return {
        "train": [n for n, is_train in ordered if is_train],
        "val": held_out[::VAL_EVERY],
        "test": [n for i, n in enumerate(held_out) if i % VAL_EVERY],
    }


def clean_range(visible: np.ndarray) -> tuple[int, int] | None:
    """The frames kept for training (§6.4), or None when under 40 remain.

    Args:
        visible: ``(N,)`` visible joints per frame.
    Returns:
        ``(start, end)``: start is 1 when the first frame has no visible joint; end is the first
        later frame with <= 4 visible joints (or N).
    """
    start = 1 if len(visible) and visible[0] == 0 else 0
    bad = np.nonzero(visible[start:] <= MAX_BAD_FRAME_VISIBLE)[0]
    end = start + int(bad[0]) if len(bad) else len(visible)
    return (start, end) if end - start >= MIN_TRACK_FRAMES else None


# ---------------------------------------------------------------------------------------------
# Building (worker side)
# ---------------------------------------------------------------------------------------------


def _read_frames(paths: Iterable[str]) -> Iterable[np.ndarray]:
    for path in paths:
        yield read_image(path)


def _precrop(video: PennVideo) -> dict[str, np.ndarray]:
    """Per-frame keypoint-box pre-crops (no smoothing, as the original for Penn Action)."""
    try:
        centers = np.stack([keypoint_center(kp) for kp in video.kp2d])
        scales = np.array([keypoint_scale(kp) for kp in video.kp2d])
    except ValueError as err:
        raise ValueError(f"Penn Action video {video.name}: {err}") from None
    return track_records.precrop_track(_read_frames(video.frame_paths), video.kp2d, centers, scales)


def build_train_file(payload: tuple) -> Iterable[bytes]:
    """Records of one training file: ``payload = (videos, settings, seed, shard, copy)``."""
    videos, settings, seed, shard, copy = payload
    rng = common.rng_for(seed, shard, copy)
    for video in videos:
        track = track_records.build_train_track(
            _precrop(video), settings, rng, extra={"filenames": list(video.frame_paths)}
        )
        yield from track_records.serialize([track])


def build_test_file(video: PennVideo) -> Iterable[bytes]:
    """The one record of a val/test file (§6.2)."""
    try:
        boxes = smooth_bboxes_from_keypoints(video.kp2d, vis_thresh=TEST_VIS_THRESHOLD)
    except ValueError as err:
        raise ValueError(f"Penn Action video {video.name}: {err}") from None
    kept = slice(boxes.start, boxes.end)
    track = track_records.build_test_track(
        _read_frames(video.frame_paths[kept]), video.kp2d[kept], boxes
    )
    track["filenames"] = list(video.frame_paths[kept])
    yield from track_records.serialize([track])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def clean_video(video: PennVideo) -> PennVideo | None:
    """The training range of ``video`` (:func:`clean_range`), or None to drop it."""
    kept = clean_range(track_records.visible_count(video.kp2d))
    if kept is None:
        return None
    start, end = kept
    return PennVideo(video.name, video.frame_paths[start:end], video.kp2d[start:end], video.train)


def train_tasks(
    videos: Sequence[PennVideo],
    out_dir: Path,
    args: argparse.Namespace,
    settings: track_records.TrainSettings,
) -> common.Plan:
    """Shuffled tracks, ``--num_shards`` per file, one file set per copy."""
    tracks = [v for v in (clean_video(v) for v in videos) if v is not None]
    log.info("%d of %d training videos kept after cleaning", len(tracks), len(videos))
    counts = {"tracks_kept": len(tracks), "tracks_dropped_short": len(videos) - len(tracks)}
    if not tracks:
        raise ValueError(
            f"{args.data_directory}: no training video has {MIN_TRACK_FRAMES} usable frames"
        )
    order = np.random.default_rng(args.seed).permutation(len(tracks))
    tracks = [tracks[i] for i in order]
    groups = [tracks[i : i + args.num_shards] for i in range(0, len(tracks), args.num_shards)]
    tasks = [
        (
            out_dir / shard_name(f"{DATASET}_copy{copy}", shard, len(groups)),
            (group, settings, args.seed, shard, copy),
        )
        for copy in range(args.num_copy)
        for shard, group in enumerate(groups)
    ]
    return common.Plan(tasks, counts)


def plan_files(
    videos: list[PennVideo],
    args: argparse.Namespace,
    out_dir: Path,
    settings: track_records.TrainSettings | None,
) -> common.Plan:
    """The split's videos (by their label files' ``train`` flag) -> the files to write."""
    split = split_names([v.name for v in videos], [v.train for v in videos])[args.split]
    by_name = {v.name: v for v in videos}
    log.info("%s: %d video(s) -> %s", args.split, len(split), out_dir)
    if not split:
        raise ValueError(f"{args.data_directory}: no video belongs to split '{args.split}'")
    if settings is not None:
        return train_tasks([by_name[n] for n in split], out_dir, args, settings)
    tasks = [(out_dir / f"{n}.tfrecord", by_name[n]) for n in split]
    return common.Plan(tasks, {"tracks_kept": len(tasks)})


def conversion(args: argparse.Namespace) -> common.Conversion:
    """Inputs: every labelled video (its label file says which split it is in)."""
    if args.num_shards < 1:
        raise ValueError(f"--num_shards (tracks per file) must be >= 1, got {args.num_shards}")
    root = Path(args.data_directory)
    names = list_videos(root)
    out_dir = common.split_dir(args.output_directory, DATASET, args.split)
    train = args.split == "train"
    settings = cli.train_settings(args) if train else None
    return common.Conversion(
        desc=f"{DATASET} {args.split}",
        output=out_dir,
        inputs=names,
        read=functools.partial(load_video, root),
        plan=functools.partial(plan_files, args=args, out_dir=out_dir, settings=settings),
        build=build_train_file if train else build_test_file,
        setup=track_records.encoder_setup(settings),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli.run_cli(build_parser(), conversion, argv)


if __name__ == "__main__":
    # run the module under its importable name: Beam workers unpickle its classes by that name
    from tfrecords_tools.penn_action import main as _main

    raise SystemExit(_main())
