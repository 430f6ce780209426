"""Mocap -> pose+shape TFRecords for the adversarial prior (docs/original_release.md §6.3).

Reads every ``*.pkl`` (MoSh / CMU / jointLim as released with HMR: ``poses`` (N, 72), ``betas``
(10,)) and ``*.npz`` (AMASS: ``poses`` (N, 156) SMPL-H or (N, 72), ``betas`` (16,) or (10,))
and ``*.bvh`` / ``*.bvh.gz`` (motion capture, e.g. the CMU BVH releases: retargeted onto the body
model with ``src.motion``, at ``--bvh_fps``, betas zeros) under
``--data_directory/--dataset_name`` (or ``--data_directory`` itself), drops every file
whose path has an ``S9`` or ``S11`` component (the Human3.6M test subjects), shuffles all frames
together and writes ``<output_directory>/mocap_neutrMosh/neutrSMPL_<name>_000.tfrecord``, ...
with ``--num_shards`` (10,000) examples each, every example ``pose`` (72 floats) + ``shape``
(10 floats): what the trainer's discriminator reads (``src.data.mocap``).

SMPL-H / SMPL-X poses keep their 22 body joints (66 values); SMPL's two hand joints get the
identity rotation (the first 72 values would put finger joints in their place). AMASS's root
orientation is in its own world frame; the discriminator never sees the root (§5.5).

NOTE: the original's ``smpl_to_tfrecords.py`` defaulted to ``--temporal``, pose-only sequences
the trainer cannot read ("Feature: shape is required", human_dynamics #27). Here pose+shape is
the default; ``--temporal`` writes ``--length``-frame pose-only sequences (key ``pose``,
length x 72 floats, frame-major) to ``<output>/temporal/``, where the trainer does not look.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from src.constants import NUM_POSE, NUM_SHAPE
from src.data import schema
from src.data.mocap import MOCAP_DIR, MOCAP_FILE_PREFIX
from src.motion.retarget import DEFAULT_FPS, load_rest_joints, retarget_file
from tfrecords_tools import cli, common, label_files
from tfrecords_tools.common import log

EXAMPLES_PER_FILE = 10000  # the original's --num_shards
TEMPORAL_LENGTH = 50
EXCLUDED_SUBJECTS = ("S9", "S11")
NUM_BODY_POSE = 66  # 22 body joints of SMPL-H / SMPL-X (root included)
SMPLH_POSE_SIZES = (156, 165)  # SMPL-H (52 joints), SMPL-X (55 joints)
AMASS_SHAPE_FILE = "shape.npz"  # AMASS per-subject file holding betas only
TEMPORAL_DIR = "temporal"
BVH_SUFFIXES = (".bvh", ".bvh.gz")

EPILOG = """\
examples:
  # the HMR release's MoSh data (neutrSMPL_CMU/<subject>/<seq>.pkl)
  python -m tfrecords_tools.mocap --data_directory MOSH_DIR --output_directory TF_ROOT \\
      --dataset_name neutrSMPL_CMU
  # AMASS (any sub-collection of *_poses.npz files); train with --mocap_datasets AMASS
  python -m tfrecords_tools.mocap --data_directory AMASS_DIR --output_directory TF_ROOT \\
      --dataset_name AMASS
  # a folder of BVH files (e.g. CMU's, with MANIFEST.tsv beside them), retargeted at 30 fps
  python -m tfrecords_tools.mocap --data_directory BVH_DIR --output_directory TF_ROOT \\
      --dataset_name CMU_BVH
"""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.base_parser("tfrecords_tools.mocap", __doc__, EPILOG)
    parser.add_argument(
        "--dataset_name",
        default="neutrSMPL_CMU",
        help="input sub-folder and output name; files are named "
        "neutrSMPL_<name>_NNN.tfrecord (default neutrSMPL_CMU)",
    )
    parser.add_argument(
        "--num_shards",
        type=int,
        default=EXAMPLES_PER_FILE,
        help=f"examples per file, as the original (default {EXAMPLES_PER_FILE})",
    )
    parser.add_argument(
        "--exclude",
        default=",".join(EXCLUDED_SUBJECTS),
        help="comma-separated path components to skip (default S9,S11)",
    )
    cli.add_bool_flag(
        parser,
        "temporal",
        False,
        "write pose-only sequences instead (the original's trap; the trainer cannot use them)",
    )
    parser.add_argument(
        "--length",
        type=int,
        default=TEMPORAL_LENGTH,
        help=f"--temporal: frames per sequence (default {TEMPORAL_LENGTH})",
    )
    parser.add_argument(
        "--max_subsample_rate",
        type=int,
        default=1,
        help="--temporal: frame step drawn from 1..this per sequence (default 1)",
    )
    parser.add_argument(
        "--bvh_fps",
        type=float,
        default=DEFAULT_FPS,
        help=f"BVH input: frame rate to retarget at (default {DEFAULT_FPS:g})",
    )
    parser.add_argument(
        "--smpl_model_path",
        default=None,
        help="BVH input: body model whose skeleton the motion is retargeted "
        "onto (default: SMPL if present, else the generated stand-in)",
    )
    return parser


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def output_name(dataset_name: str) -> str:
    """``neutrSMPL_<name>`` (the prefix the trainer's loader globs for)."""
    name = Path(dataset_name).name
    return name if name.startswith(MOCAP_FILE_PREFIX) else MOCAP_FILE_PREFIX + name


def is_excluded(path: Path, root: Path, excluded: Sequence[str]) -> bool:
    """True when a component of ``path`` below ``root`` is, or starts with, an excluded subject
    followed by a non-digit (``S9``, ``S9_Walking.pkl``, ``S11-x``; not ``S91``)."""
    parts = path.relative_to(root).parts
    patterns = [re.compile(rf"^{re.escape(s)}(?!\d)") for s in excluded if s]
    return any(p.match(part) for part in parts for p in patterns)


def is_bvh(path: Path) -> bool:
    return path.name.endswith(BVH_SUFFIXES)


def find_mocap_files(root: Path, excluded: Sequence[str]) -> list[Path]:
    """Sorted ``*.pkl`` / ``*.npz`` / ``*.bvh`` / ``*.bvh.gz`` below ``root`` minus the excluded
    subjects and AMASS's betas-only ``shape.npz``."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: mocap folder not found")
    files = sorted(
        p for p in root.rglob("*") if (p.suffix in (".pkl", ".npz") or is_bvh(p)) and p.is_file()
    )
    kept = [p for p in files if p.name != AMASS_SHAPE_FILE and not is_excluded(p, root, excluded)]
    log.info(
        "%s: %d mocap file(s), %d excluded (%s)",
        root,
        len(kept),
        len(files) - len(kept),
        ",".join(excluded),
    )
    if not kept:
        raise ValueError(
            f"{root}: expected mocap *.pkl or *.npz files (with 'poses' and "
            "'betas') or *.bvh / *.bvh.gz files, found none"
        )
    return kept


def body_pose72(poses: np.ndarray, path: Path) -> np.ndarray:
    """``(N, 72)`` SMPL pose from SMPL ``(N, 72)`` or SMPL-H/X ``(N, 156|165)`` poses."""
    if poses.ndim != 2:
        raise ValueError(f"{path}: 'poses' has shape {poses.shape}, expected (N, 72) or (N, 156)")
    if poses.shape[1] == NUM_POSE:
        return poses
    if poses.shape[1] in SMPLH_POSE_SIZES:
        out = np.zeros((len(poses), NUM_POSE), poses.dtype)
        out[:, :NUM_BODY_POSE] = poses[:, :NUM_BODY_POSE]
        return out
    raise ValueError(
        f"{path}: 'poses' has {poses.shape[1]} values per frame, expected "
        f"{NUM_POSE} (SMPL) or {' / '.join(map(str, SMPLH_POSE_SIZES))} (SMPL-H/X)"
    )


@functools.lru_cache(maxsize=4)
def _body_rest(smpl_model_path: str | None) -> np.ndarray:
    return load_rest_joints(smpl_model_path)


def read_bvh_file(
    path: Path, fps: float, smpl_model_path: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(poses (N, 72), shapes (N, 10) zeros)`` float32 of one BVH clip, retargeted."""
    clip = retarget_file(path, fps=fps, body_rest=_body_rest(smpl_model_path))
    poses = clip["poses"]
    return poses, np.zeros((len(poses), NUM_SHAPE), np.float32)


def read_mocap_file(
    path: Path, bvh_fps: float = DEFAULT_FPS, smpl_model_path: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(poses (N, 72), shapes (N, 10))`` float32 of one MoSh pkl, AMASS npz or BVH clip."""
    if is_bvh(path):
        return read_bvh_file(path, bvh_fps, smpl_model_path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files if k in ("poses", "betas")}
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable .npz ({err})") from None
    else:
        data = label_files.load_pickle(path, "mocap pickle")
    label_files.require_keys(data, ("poses", "betas"), path, "mocap")
    poses = body_pose72(np.asarray(data["poses"], np.float64), path)
    betas = np.asarray(data["betas"], np.float64)
    if betas.ndim == 1 and betas.size >= NUM_SHAPE:
        shapes = np.tile(betas[:NUM_SHAPE], (len(poses), 1))
    elif betas.ndim == 2 and betas.shape[0] == len(poses) and betas.shape[1] >= NUM_SHAPE:
        shapes = betas[:, :NUM_SHAPE]
    else:
        raise ValueError(
            f"{path}: 'betas' has shape {betas.shape}, expected ({NUM_SHAPE},) or "
            f"(N, {NUM_SHAPE}) (more coefficients are cut to {NUM_SHAPE})"
        )
    if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(shapes))):
        raise ValueError(f"{path}: 'poses' or 'betas' holds NaN/inf")
    return poses.astype(np.float32), shapes.astype(np.float32)


def temporal_windows(
    poses_per_file: Iterable[np.ndarray],
    length: int,
    max_rate: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Non-overlapping ``(length, 72)`` windows of every file, each with a frame step drawn from
    ``1..max_rate`` (the original's temporal format)."""
    windows = []
    for poses in poses_per_file:
        rate = int(rng.integers(1, max_rate + 1))
        sub = poses[::rate]
        for start in range(0, len(sub) - length + 1, length):
            windows.append(sub[start : start + length])
    return windows


# ---------------------------------------------------------------------------------------------
# Writing (worker side)
# ---------------------------------------------------------------------------------------------


def build_pose_shape_file(payload: tuple[np.ndarray, np.ndarray]) -> Iterable[bytes]:
    """Records of one file: one ``pose`` + ``shape`` Example per frame."""
    poses, shapes = payload
    for pose, shape in zip(poses, shapes, strict=True):
        yield schema.make_mocap_example(pose, shape).SerializeToString(deterministic=True)


def build_temporal_file(windows: np.ndarray) -> Iterable[bytes]:
    """Records of one ``--temporal`` file: ``pose`` = length x 72 floats per Example."""
    for window in windows:
        flat = np.asarray(window, np.float32).reshape(-1)
        feature = tf.train.Feature(float_list=tf.train.FloatList(value=flat))
        example = tf.train.Example(
            features=tf.train.Features(feature={schema.MOCAP_KEY_POSE: feature})
        )
        yield example.SerializeToString(deterministic=True)


def file_tasks(
    out_dir: Path, name: str, items: np.ndarray | list, per_file: int, payload_of
) -> list[tuple[Path, object]]:
    """``(out_dir/<name>_NNN.tfrecord, payload)`` for consecutive blocks of ``per_file`` items."""
    count = -(-len(items) // per_file)
    return [
        (out_dir / f"{name}_{i:03d}.tfrecord", payload_of(slice(i * per_file, (i + 1) * per_file)))
        for i in range(count)
    ]


def _read_poses(path: Path, bvh_fps: float, smpl_model_path: str | None) -> np.ndarray:
    return read_mocap_file(path, bvh_fps, smpl_model_path)[0]


def plan_temporal(
    per_file: list[np.ndarray], args: argparse.Namespace, out_dir: Path, root: Path
) -> common.Plan:
    """``--temporal``: windows of every file (in file order), shuffled, ``--num_shards`` a file."""
    rng = np.random.default_rng(args.seed)
    windows = temporal_windows(per_file, args.length, args.max_subsample_rate, rng)
    if not windows:
        raise ValueError(f"{root}: no file has {args.length} frames for --temporal")
    windows = np.stack(windows)[rng.permutation(len(windows))]
    name = output_name(args.dataset_name)
    tasks = file_tasks(out_dir, name, windows, args.num_shards, lambda s: windows[s])
    return common.Plan(tasks, {"clips": len(per_file), "windows": len(windows)})


def plan_pose_shape(
    per_file: list[tuple[np.ndarray, np.ndarray]], args: argparse.Namespace, out_dir: Path
) -> common.Plan:
    """Every frame of every file (in file order), shuffled, ``--num_shards`` a file."""
    poses = np.concatenate([p for p, _ in per_file])
    shapes = np.concatenate([s for _, s in per_file])
    order = np.random.default_rng(args.seed).permutation(len(poses))
    poses, shapes = poses[order], shapes[order]
    name = output_name(args.dataset_name)
    tasks = file_tasks(out_dir, name, poses, args.num_shards, lambda s: (poses[s], shapes[s]))
    log.info("%d mocap frames -> %d file(s) in %s", len(poses), len(tasks), out_dir)
    return common.Plan(tasks, {"clips": len(per_file), "frames": len(poses)})


def conversion(args: argparse.Namespace) -> common.Conversion:
    """Inputs: the mocap files, each read (and a BVH retargeted) on its own."""
    if args.num_shards < 1:
        raise ValueError(f"--num_shards (examples per file) must be >= 1, got {args.num_shards}")
    data_dir = Path(args.data_directory)
    source = data_dir / args.dataset_name
    root = source if source.is_dir() else data_dir
    excluded = [s.strip() for s in args.exclude.split(",") if s.strip()]
    files = find_mocap_files(root, excluded)
    out_dir = common.dataset_dir(args.output_directory, MOCAP_DIR)
    name = output_name(args.dataset_name)
    if not args.temporal:
        return common.Conversion(
            desc=name,
            output=out_dir,
            inputs=files,
            read=functools.partial(
                read_mocap_file, bvh_fps=args.bvh_fps, smpl_model_path=args.smpl_model_path
            ),
            plan=functools.partial(plan_pose_shape, args=args, out_dir=out_dir),
            build=build_pose_shape_file,
        )
    if args.length < 1 or args.max_subsample_rate < 1:
        raise ValueError("--length and --max_subsample_rate must be >= 1")
    log.warning(
        "--temporal: writing pose-only sequences to %s; the trainer needs the "
        "default pose+shape records",
        out_dir / TEMPORAL_DIR,
    )
    return common.Conversion(
        desc=f"{name} (temporal)",
        output=out_dir / TEMPORAL_DIR,
        inputs=files,
        read=functools.partial(
            _read_poses, bvh_fps=args.bvh_fps, smpl_model_path=args.smpl_model_path
        ),
        plan=functools.partial(plan_temporal, args=args, out_dir=out_dir / TEMPORAL_DIR, root=root),
        build=build_temporal_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli.run_cli(build_parser(), conversion, argv)


if __name__ == "__main__":
    # run the module under its importable name: Beam workers unpickle its classes by that name
    from tfrecords_tools.mocap import main as _main

    raise SystemExit(_main())
