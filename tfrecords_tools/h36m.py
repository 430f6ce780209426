"""Human3.6M -> HMMR TFRecords (docs/original_release.md §6.4).

Input: the layout the original's ``read_human36m`` writes (25 fps frames of every camera)::

    <data_directory>/S{s}/{Action}_{trial}/cam_{c}/frame0000.png ...
                                               .../gt_poses.pkl    {'2d': (N, 17, 2) px,
                                                                    '3d': (N, 17, 3) mm, camera}
                                               .../camera_wext.pkl {'f', 'c', 'k', 'rt', 't'}

(the 32-joint arrays are accepted too). The 14 LSP joints come from the 17 by name
(``src.joints.FROM_H36M17``: ankles -> 0/5, thorax -> neck, head -> head top), all visible; 3D
in metres; face, toe and OpenPose-ankle points empty.

Subjects: train S1, S6, S7, S8; val S5; test S9, S11 (S11 trial 1 of Directions and Phoning
skipped, as the original).

- ``--split train``: per camera sequence and copy, every frame pre-cropped around its keypoint
  box, the whole video augmented with one flip and per-frame jitter (§6.5), phi computed (§6.6)
  and cut into records of ``--max_sequence_length`` (150) frames, the last one being the last
  150 frames; ``has_3d_joints`` = 1, no SMPL. File ``train/train_cam0C_S{s}_{act}_{trial}_copyJ
  .tfrecord``.
- ``--split val|test``: one file per camera sequence, ``<split>/S{s}_{act}_{trial}_cam0C
  .tfrecord`` (§6.2; evaluation reads only ``*cam03*``).

Records go to ``<output_directory>/h36m/<split>/``. The original wrote to ``human36m_nomosh``
while its loader read ``h36m``; an ``--output_directory`` ending in ``h36m``, ``human36m`` or
``human36m_nomosh`` is used as is, and the training pipeline reads all three names.
``image/cams`` holds ``[f, px, py]`` carried into each crop.
"""

from __future__ import annotations

import argparse
import functools
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.constants import IMG_SIZE, NUM_LSP_JOINTS
from src.data.features import chunk_track
from src.data.tube_augmentation import (
    PRECROP_PX,
    TEST_VIS_THRESHOLD,
    TubeJitter,
    keypoint_center,
    keypoint_scale,
)
from src.joints import FROM_H36M17, FROM_H36M32, H36M17_NAMES, H36M32_NUM_JOINTS, to_hmmr25
from src.video.bbox import smooth_bboxes_from_keypoints
from src.video.io import read_image
from tfrecords_tools import cli, common, label_files, track_records
from tfrecords_tools.common import log

DATASET = "h36m"
DIR_ALIASES = ("human36m", "human36m_nomosh")
SPLIT_SUBJECTS = {"train": (1, 6, 7, 8), "val": (5,), "test": (9, 11)}
SKIPPED = {(11, "Directions", 1), (11, "Phoning", 1)}  # (subject, action, trial)
MAX_SEQUENCE_LENGTH = 150
MM_PER_M = 1000.0
GT_FILE = "gt_poses.pkl"
CAMERA_FILE = "camera_wext.pkl"
JOINT_MAPS = {len(H36M17_NAMES): FROM_H36M17, H36M32_NUM_JOINTS: FROM_H36M32}

EPILOG = """\
examples:
  python -m tfrecords_tools.h36m --data_directory H36M_DIR --output_directory TF_ROOT \\
      --split train --num_copy 5 --pretrained_model_path models/hmr_tf2
  python -m tfrecords_tools.h36m --data_directory H36M_DIR --output_directory TF_ROOT --split val
"""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.base_parser("tfrecords_tools.h36m", __doc__, EPILOG)
    cli.add_split_flag(parser)
    parser.add_argument(
        "--max_sequence_length",
        type=int,
        default=MAX_SEQUENCE_LENGTH,
        help=f"frames per training record (default {MAX_SEQUENCE_LENGTH}; <= 0 keeps whole videos)",
    )
    cli.add_train_flags(parser, num_copy=1)
    return parser


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sequence36:
    """One camera view of one trial of one action."""

    subject: int
    action: str
    trial: int
    cam: int
    folder: Path

    @property
    def test_name(self) -> str:
        return f"S{self.subject}_{self.action}_{self.trial}_cam{self.cam:02d}"

    @property
    def train_name(self) -> str:
        return f"train_cam{self.cam:02d}_S{self.subject}_{self.action}_{self.trial}"


def find_sequences(root: Path, subjects: Sequence[int]) -> list[Sequence36]:
    """Every ``S{s}/{Action}_{trial}/cam_{c}`` folder of the subjects, minus :data:`SKIPPED`."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: Human3.6M folder not found")
    found = []
    for subject in subjects:
        subject_dir = root / f"S{subject}"
        if not subject_dir.is_dir():
            log.warning("%s: subject folder missing, skipped", subject_dir)
            continue
        for cam_dir in sorted(subject_dir.glob("*_*/cam_*")):
            action, _, trial = cam_dir.parent.name.rpartition("_")
            cam = cam_dir.name.removeprefix("cam_")
            if not (trial.isdigit() and cam.isdigit()) or not cam_dir.is_dir():
                log.warning("%s: not an {Action}_{trial}/cam_{c} folder, skipped", cam_dir)
                continue
            if (subject, action, int(trial)) not in SKIPPED:
                found.append(Sequence36(subject, action, int(trial), int(cam), cam_dir))
    if not found:
        raise ValueError(
            f"{root}: expected S{{s}}/{{Action}}_{{trial}}/cam_{{c}}/ folders for "
            f"subjects {list(subjects)} (the output of read_human36m), found none"
        )
    return found


def _joints(value: object, path: Path, key: str, dims: int) -> np.ndarray:
    """``(N, J, dims)`` from ``(N, J, dims)`` or ``(N, J * dims)``, J = 17 or 32."""
    arr = np.asarray(value, np.float64)
    if arr.ndim == 2 and arr.shape[1] in (17 * dims, H36M32_NUM_JOINTS * dims):
        arr = arr.reshape(len(arr), -1, dims)
    if arr.ndim != 3 or arr.shape[1] not in JOINT_MAPS or arr.shape[2] != dims:
        raise ValueError(
            f"{path}: '{key}' has shape {arr.shape}, expected (N, 17, {dims}) or (N, 32, {dims})"
        )
    return arr


def read_labels(seq: Sequence36) -> dict[str, np.ndarray]:
    """Frames and labels of one sequence.

    Returns:
        ``frames`` (N,) paths, ``kp2d`` (N, 25, 3) pixels (all mapped joints visible),
        ``joints3d`` (N, 14, 3) metres, ``cam`` (3,) ``[f, px, py]`` (zeros when the camera file
        is absent).
    """
    path = seq.folder / GT_FILE
    gt = label_files.load_pickle(path, "Human3.6M pose file")
    with label_files.reading(path):
        label_files.require_keys(gt, ("2d", "3d"), path, "Human3.6M pose")
        pts2d, pts3d = _joints(gt["2d"], path, "2d", 2), _joints(gt["3d"], path, "3d", 3)
    frames = sorted(seq.folder.glob("frame*.png")) or sorted(seq.folder.glob("frame*.jpg"))
    if not frames:
        raise ValueError(f"{seq.folder}: expected frame%04d.png images, found none")
    n = min(len(frames), len(pts2d), len(pts3d))
    if len({len(frames), len(pts2d), len(pts3d)}) > 1:
        log.warning(
            "%s: %d frames, %d 2D and %d 3D poses; using the first %d",
            seq.folder,
            len(frames),
            len(pts2d),
            len(pts3d),
            n,
        )
    ones = np.ones(pts2d.shape[:2] + (1,))
    kp2d = to_hmmr25(np.concatenate([pts2d, ones], axis=2), JOINT_MAPS[pts2d.shape[1]])
    joints3d = to_hmmr25(pts3d, JOINT_MAPS[pts3d.shape[1]])[:, :NUM_LSP_JOINTS] / MM_PER_M
    return {
        "frames": [str(p) for p in frames[:n]],
        "kp2d": kp2d[:n],
        "joints3d": joints3d[:n],
        "cam": read_camera(seq.folder),
    }


def read_camera(folder: Path) -> np.ndarray:
    """``[f, px, py]`` (mean focal length, principal point) from ``camera_wext.pkl``."""
    path = folder / CAMERA_FILE
    if not path.is_file():
        log.warning("%s: no %s; image/cams left at zero", folder, CAMERA_FILE)
        return np.zeros(3)
    cam = label_files.load_pickle(path, "Human3.6M camera file")
    with label_files.reading(path):
        label_files.require_keys(cam, ("f", "c"), path, "camera")
        f, c = np.asarray(cam["f"], np.float64).ravel(), np.asarray(cam["c"], np.float64).ravel()
    if f.size != 2 or c.size != 2:
        raise ValueError(f"{path}: expected 'f' and 'c' with 2 values each, got {f.size}, {c.size}")
    return np.array([f.mean(), c[0], c[1]])


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def map_intrinsics(cam: np.ndarray, factors: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``[f, px, py]`` through a resize by ``factors`` (N, 2) and a crop starting at ``starts``
    (N, 2): ``f * mean(factors)``, ``p * factors - start``. Returns (N, 3)."""
    cam = np.broadcast_to(np.asarray(cam, np.float64), (len(factors), 3))
    out = np.empty((len(factors), 3))
    out[:, 0] = cam[:, 0] * np.asarray(factors).mean(axis=1)
    out[:, 1:] = cam[:, 1:] * factors - starts
    return out


def chunk_ranges(num_frames: int, max_length: int) -> list[np.ndarray]:
    """Frame indices of each training record, by the rule of ``src.data.features.chunk_track``
    (consecutive blocks, the last one ending at the last frame)."""
    return [c["kp2d"] for c in chunk_track({"kp2d": np.arange(num_frames)}, max_length)]


def sequence_key(seq: Sequence36) -> int:
    """A stable integer per sequence, to seed its augmentation."""
    return zlib.crc32(seq.train_name.encode())


# ---------------------------------------------------------------------------------------------
# Building (worker side)
# ---------------------------------------------------------------------------------------------


def _read_frames(paths: Iterable[str]) -> Iterable[np.ndarray]:
    for path in paths:
        yield read_image(path)


def build_train_file(payload: tuple) -> Iterable[bytes]:
    """Records of one (sequence, copy): the augmented video cut into chunks."""
    seq, settings, seed, copy, max_length = payload
    labels = read_labels(seq)
    kp2d = labels["kp2d"]
    centers = np.stack([keypoint_center(kp) for kp in kp2d])
    scales = np.array([keypoint_scale(kp) for kp in kp2d])
    pre = track_records.precrop_track(_read_frames(labels["frames"]), kp2d, centers, scales)
    rng = common.rng_for(seed, sequence_key(seq), copy)
    augmenter = settings.augmenter()
    jitter = augmenter.sample_jitter(len(kp2d), rng)
    pre_starts = pre["crop_pts"] - PRECROP_PX
    pre_cams = map_intrinsics(labels["cam"], pre["scale_factors"], pre_starts)
    for index in chunk_ranges(len(kp2d), max_length):
        if not settings.precomputed_phi:
            chunk = {k: v[index] for k, v in pre.items()}
            track = track_records.build_train_track(
                chunk,
                settings,
                rng,
                joints3d=labels["joints3d"][index],
                extra={
                    "filenames": [labels["frames"][i] for i in index],
                    "has_3d_joints": 1,
                    "cams": pre_cams[index],
                },
            )
            yield from track_records.serialize([track])
            continue
        part = TubeJitter(jitter.flip, jitter.translations[index], jitter.scale_exponents[index])
        aug = augmenter(
            pre["frames"][index],
            pre["kp2d"][index],
            joints3d=labels["joints3d"][index],
            jitter=part,
        )
        track = {
            "kp2d": aug["kp2d"],
            "phi": settings.extractor()(aug["images"]),
            "joints3d": aug["joints3d"],
            "has_3d_joints": 1,
            "centers": aug["centers"],
            "filenames": [labels["frames"][i] for i in index],
            "scale_factors": pre["scale_factors"][index],
            "crop_pts": pre["crop_pts"][index],
            "cams": _augmented_cams(pre_cams[index], part, aug["centers"], settings.img_size),
        }
        if settings.save_img:
            track["images"] = aug["crops"]
        yield from track_records.serialize([track])


def _augmented_cams(
    pre_cams: np.ndarray, jitter: TubeJitter, centers: np.ndarray, img_size: int
) -> np.ndarray:
    """Intrinsics in the 224 crops: the pre-crop ones through the jitter resize and crop."""
    side = np.maximum(np.floor(PRECROP_PX * 2.0**jitter.scale_exponents), 1.0)  # as resize_by
    factors = np.repeat((side / PRECROP_PX)[:, None], 2, axis=1)
    cams = map_intrinsics(pre_cams, factors, centers - img_size // 2)
    if jitter.flip:
        cams[:, 1] = img_size - 1 - cams[:, 1]
    return cams


def build_test_file(seq: Sequence36) -> Iterable[bytes]:
    """The one record of a val/test file (§6.2), with 3D joints and intrinsics."""
    labels = read_labels(seq)
    boxes = smooth_bboxes_from_keypoints(labels["kp2d"], vis_thresh=TEST_VIS_THRESHOLD)
    kept = slice(boxes.start, boxes.end)
    frames = labels["frames"][kept]
    track = track_records.build_test_track(_read_frames(frames), labels["kp2d"][kept], boxes)
    starts = track["centers"] - IMG_SIZE // 2
    track.update(
        joints3d=labels["joints3d"][kept],
        has_3d_joints=1,
        filenames=frames,
        cams=map_intrinsics(labels["cam"], track["scale_factors"], starts),
    )
    yield from track_records.serialize([track])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def plan_files(
    sequences: list[Sequence36],
    args: argparse.Namespace,
    out_dir: Path,
    settings: track_records.TrainSettings | None,
) -> common.Plan:
    """One file per (sequence, copy) for training, one per sequence for val/test."""
    counts = {"sequences": len(sequences)}
    if settings is None:
        tasks = [(out_dir / f"{seq.test_name}.tfrecord", seq) for seq in sequences]
        return common.Plan(tasks, counts)
    tasks = [
        (
            out_dir / f"{seq.train_name}_copy{copy}.tfrecord",
            (seq, settings, args.seed, copy, args.max_sequence_length),
        )
        for seq in sequences
        for copy in range(args.num_copy)
    ]
    return common.Plan(tasks, counts)


def conversion(args: argparse.Namespace) -> common.Conversion:
    """Inputs: the split's camera sequences; their labels are read where their file is built."""
    root = Path(args.data_directory)
    sequences = find_sequences(root, SPLIT_SUBJECTS[args.split])
    out_dir = common.split_dir(args.output_directory, DATASET, args.split, DIR_ALIASES)
    log.info(
        "%s: %d camera sequence(s) of subjects %s -> %s",
        args.split,
        len(sequences),
        SPLIT_SUBJECTS[args.split],
        out_dir,
    )
    train = args.split == "train"
    settings = cli.train_settings(args) if train else None
    return common.Conversion(
        desc=f"{DATASET} {args.split}",
        output=out_dir,
        inputs=sequences,
        read=common.identity,
        plan=functools.partial(plan_files, args=args, out_dir=out_dir, settings=settings),
        build=build_train_file if train else build_test_file,
        name_of=_sequence_name,
        setup=track_records.encoder_setup(settings),
    )


def _sequence_name(seq: Sequence36) -> str:
    return seq.test_name


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli.run_cli(build_parser(), conversion, argv)


if __name__ == "__main__":
    # run the module under its importable name: Beam workers unpickle its classes by that name
    from tfrecords_tools.h36m import main as _main

    raise SystemExit(_main())
