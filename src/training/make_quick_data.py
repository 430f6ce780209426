"""A small synthetic training set, so that ``configs/cpu_quick.cfg`` trains from a fresh clone.

    python -m src.training.make_quick_data --out data/quick

Writes, in the layout and schema of the real data (docs/original_release.md §6.1, §6.3):

- ``<out>/h36m/train/quick_h36m-0000i-of-0000n.tfrecord``: tracks with 2D keypoints, 3D joints
  and SMPL ground truth (the 3D side of the split-balanced mix);
- ``<out>/penn_action/train/...``: tracks with 2D keypoints only, some keypoints invisible;
- ``<out>/mocap_neutrMosh/neutrSMPL_CMU_00i.tfrecord``: pose + shape samples for the
  discriminator.

Each track follows a smooth pose trajectory (per joint a random offset plus a slow sinusoid) of a
random body shape, seen by a weak-perspective camera that drifts slowly; its 25 keypoints are the
body model's joints projected by that camera. ``phi`` is a fixed random linear map of
[camera | pose | shape] plus a little noise: random, yet it determines theta, so the losses can go
down. Its width is the real 2048 unless ``--phi_dim`` asks for a reduced one (train on such records
with the same ``--phi_dim``). The body model is the generated stand-in unless another file is
given. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from src import constants

QUICK_3D = "h36m"
QUICK_2D = "penn_action"
QUICK_MOCAP = "CMU"
ROOT_UPRIGHT = np.pi  # root rotation about x that makes the y-up body upright in image space
PHI_NOISE = 0.05


def _trajectory(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """(N, 72) smooth axis-angle poses: root upright with a slow sway, body joints oscillating."""
    t = np.arange(num_frames)[:, None]
    offset = rng.normal(0.0, 0.15, constants.NUM_POSE)
    amplitude = rng.normal(0.0, 0.25, constants.NUM_POSE)
    omega = rng.uniform(0.1, 0.3, constants.NUM_POSE)
    phase = rng.uniform(0.0, 2 * np.pi, constants.NUM_POSE)
    pose = offset + amplitude * np.sin(omega * t + phase)
    pose[:, :3] *= 0.3
    pose[:, 0] += ROOT_UPRIGHT
    return pose


def _cameras(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """(N, 3) weak-perspective cameras [s, tx, ty] drifting slowly."""
    t = np.linspace(0.0, 1.0, num_frames)[:, None]
    start = np.array([rng.uniform(0.8, 1.1), *rng.normal(0.0, 0.05, 2)])
    drift = np.array([rng.normal(0.0, 0.05), *rng.normal(0.0, 0.05, 2)])
    return start + drift * t


def _phi_map(seed: int, phi_dim: int = constants.PHI_DIM) -> np.ndarray:
    """(85, phi_dim) fixed random map theta -> phi."""
    rng = np.random.default_rng(seed + 7919)
    return rng.normal(0.0, 1.0 / np.sqrt(constants.THETA_DIM), (constants.THETA_DIM, phi_dim))


def _bodies(smpl, pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(N, 25, 3) joints of the body model."""
    import tensorflow as tf

    betas = np.repeat(shape[None], pose.shape[0], axis=0)
    out = smpl(tf.constant(betas, tf.float32), tf.constant(pose, tf.float32))
    return out["joints"].numpy().astype(np.float64)


def make_track(
    rng: np.random.Generator, smpl, phi_map: np.ndarray, num_frames: int, with_3d: bool
) -> dict:
    """One synthetic track in :func:`src.data.schema.make_train_example`'s dict layout; phi is
    ``(num_frames, D)`` with D the width of ``phi_map`` (85, D)."""
    pose = _trajectory(rng, num_frames)
    shape = rng.normal(0.0, 0.5, constants.NUM_SHAPE)
    cams = _cameras(rng, num_frames)
    joints = _bodies(smpl, pose, shape)
    xy = cams[:, None, :1] * (joints[:, :, :2] + cams[:, None, 1:])  # (N, 25, 2), s * (X + t)
    vis = (np.abs(xy) <= 1.0).all(axis=-1).astype(np.float64)
    if not with_3d:
        vis *= rng.uniform(size=vis.shape) > 0.1
    kp2d = np.concatenate([xy, vis[..., None]], axis=-1) * vis[..., None]
    theta = np.concatenate([cams, pose, np.repeat(shape[None], num_frames, 0)], axis=1)
    phi = theta @ phi_map + rng.normal(0.0, PHI_NOISE, (num_frames, phi_map.shape[1]))
    track = {"kp2d": kp2d, "phi": phi.astype(np.float32)}
    if with_3d:
        track.update(pose=pose, shape=shape, joints3d=joints[:, : constants.NUM_LSP_JOINTS])
    return track


def make_quick_data(
    out: str | os.PathLike,
    num_tracks: int = 12,
    num_frames: int = 40,
    num_shards: int = 2,
    num_mocap: int = 2000,
    seed: int = 0,
    smpl_model_path: str | os.PathLike | None = None,
    phi_dim: int = constants.PHI_DIM,
) -> dict[str, list[Path]]:
    """Write the quick data set under ``out`` (see the module docstring).

    Args:
        num_tracks: tracks per side (3D and 2D).
        num_frames: frames per track.
        num_shards: files per side (>= the number of workers that will read it).
        num_mocap: mocap samples, over two files.
        seed: everything is deterministic given it.
        smpl_model_path: body model; default the generated stand-in.
        phi_dim: floats per frame in ``image/phis`` (train with the same ``--phi_dim``).
    Returns:
        dataset name -> files written.
    """
    from src.data import schema, tfrecord_lib
    from src.smpl import SMPL
    from src.smpl.standin import default_standin_path

    smpl = SMPL(smpl_model_path or default_standin_path())
    if phi_dim < 1:
        raise ValueError(f"phi_dim must be >= 1, got {phi_dim}")
    phi_map = _phi_map(seed, phi_dim)
    out = Path(out)
    written = {}
    for index, (name, with_3d) in enumerate(((QUICK_3D, True), (QUICK_2D, False))):
        rng = np.random.default_rng(seed * 1000 + index)
        records = [
            schema.serialize_sequence_example(make_track(rng, smpl, phi_map, num_frames, with_3d))
            for _ in range(num_tracks)
        ]
        written[name] = tfrecord_lib.write_sharded(
            records, out / name / "train", f"quick_{name}", num_shards
        )
    rng = np.random.default_rng(seed * 1000 + 99)
    poses = np.concatenate([_trajectory(rng, 50) for _ in range(-(-num_mocap // 50))])[:num_mocap]
    shapes = rng.normal(0.0, 0.5, (num_mocap, constants.NUM_SHAPE))
    rng.shuffle(poses)
    mocap_files = []
    halves = np.array_split(np.arange(num_mocap), 2)
    for i, rows in enumerate(halves):
        path = out / "mocap_neutrMosh" / f"neutrSMPL_{QUICK_MOCAP}_{i:03d}.tfrecord"
        tfrecord_lib.write_records(
            path,
            (schema.make_mocap_example(poses[j], shapes[j]).SerializeToString() for j in rows),
        )
        mocap_files.append(path)
    written["mocap"] = mocap_files
    return written


def has_records(data_dir: str | os.PathLike) -> bool:
    """True when ``data_dir`` already holds any ``*.tfrecord``."""
    return any(Path(data_dir).glob("*/train/*.tfrecord"))


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/quick", help="output root (a --data_dir)")
    parser.add_argument("--num_tracks", type=int, default=12, help="tracks per side")
    parser.add_argument("--num_frames", type=int, default=40, help="frames per track")
    parser.add_argument("--num_shards", type=int, default=2, help="files per side")
    parser.add_argument("--num_mocap", type=int, default=2000, help="mocap samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smpl_model_path", default=None, help="default: the stand-in")
    parser.add_argument(
        "--phi_dim",
        type=int,
        default=constants.PHI_DIM,
        help="floats per frame in image/phis (train with the same --phi_dim)",
    )
    args = parser.parse_args(argv)
    try:
        written = make_quick_data(
            args.out,
            args.num_tracks,
            args.num_frames,
            args.num_shards,
            args.num_mocap,
            args.seed,
            args.smpl_model_path,
            args.phi_dim,
        )
    except (OSError, ValueError) as err:
        print(f"make_quick_data: {err}", file=sys.stderr)
        return 1
    for name, files in written.items():
        print(f"{name}: {len(files)} file(s) under {files[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
