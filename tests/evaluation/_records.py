"""Generated test records with known answers for the evaluation CLI tests (not a test module).

A tube is built from ground truth and from "predictions" designed so that every metric has a
closed form:

- present keypoints = GT + a pixel offset (kp error = |offset|, kp_pa = 0, PCK = 1);
- present joints: ``base + t u + 0.5 a t^2 e_x`` (per-joint linear drift u, common constant
  acceleration a), GT joints: ``base + t u + t v + offset on joint 0`` (linear in t). Then
  MPJPE = |offset| / 14 (the pelvis joints 2, 3 carry no offset), accel = a, accel error
  (no alignment) = a, accel error after pelvis alignment = 0;
- past/future predictions at frame t are exactly the GT of frame t - 5 / t + 5 (errors 0 when
  the evaluation pairs them right, not 0 when it does not, since GT changes every frame).

The predictions are written into ``image/phis`` (:func:`encode_predictions`), so a fake network
(:func:`decode_predictions`) returns them from the phi it is given, as a real one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src import constants
from src.data import schema, tfrecord_lib
from src.smpl.io import save_smpl_params

NUM_KPS = constants.NUM_KPS
DELTA_T = constants.DELTA_T_VALUES  # (-5, 5)
PELVIS_FREE_JOINT = 0  # joint 0 (right ankle) carries the 3D offset; pelvis = mid of 2 and 3
IMG = constants.IMG_SIZE
HALF = IMG / 2.0

# phi layout of the fake network: (name, shape per frame)
_LAYOUT: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("joints", (NUM_KPS, 3)),
    ("kps", (NUM_KPS, 2)),
    ("theta", (constants.THETA_DIM,)),
    ("joints_delta", (len(DELTA_T), NUM_KPS, 3)),
    ("kps_delta", (len(DELTA_T), NUM_KPS, 2)),
)


def px_to_normalized(px: np.ndarray) -> np.ndarray:
    """Crop pixels -> [-1, 1] (inverse of ``(k + 1) * 112``)."""
    return np.asarray(px, np.float64) / HALF - 1.0


def encode_predictions(preds: dict[str, np.ndarray]) -> np.ndarray:
    """Per-frame predictions -> ``(N, 2048)`` float32 phi holding them."""
    n = len(preds["joints"])
    phi = np.zeros((n, constants.PHI_DIM), np.float32)
    start = 0
    for name, shape in _LAYOUT:
        size = int(np.prod(shape))
        phi[:, start : start + size] = np.asarray(preds[name]).reshape(n, size)
        start += size
    return phi


def decode_predictions(phi: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_predictions`, plus ``theta_delta`` and ``cams`` (the keys the
    cache stores)."""
    phi = np.asarray(phi, np.float32)
    n = len(phi)
    out, start = {}, 0
    for name, shape in _LAYOUT:
        size = int(np.prod(shape))
        out[name] = phi[:, start : start + size].reshape((n, *shape))
        start += size
    out["theta_delta"] = np.repeat(out["theta"][:, None], len(DELTA_T), axis=1)
    out["cams"] = out["theta"][:, constants.CAM_SLICE]
    return out


@dataclass
class Tube:
    """One generated person tube: the record's fields and the predictions in its phi."""

    track: dict
    preds: dict[str, np.ndarray]


def make_tube(
    rng: np.random.Generator,
    n: int,
    kp_offset_px: tuple[float, float] = (3.0, 4.0),
    joint0_offset_m: float = 0.14,
    accel_m: float = 0.01,
    num_gt_joints: int = constants.NUM_LSP_JOINTS,
    with_3d: bool = True,
    hidden_frames: tuple[int, ...] = (),
    theta: np.ndarray | None = None,
    smpl_gt: tuple[np.ndarray, np.ndarray] | None = None,
) -> Tube:
    """A tube of ``n`` frames with the known answers of the module docstring.

    Args:
        hidden_frames: frames where only 3 keypoints are visible (fewer than min_visible 6) and
            the predicted keypoints are 100 px off: they must not count.
        theta: ``(n, 85)`` predicted theta (default zeros).
        smpl_gt: ``(pose (n, 72), shape (10,))`` SMPL ground truth for the record.
    """
    t = np.arange(n, dtype=np.float64)
    kp_gt = np.ones((n, NUM_KPS, 3))
    kp_gt[..., :2] = rng.uniform(30.0, 190.0, size=(n, NUM_KPS, 2))
    kp_pred_px = kp_gt[..., :2] + np.asarray(kp_offset_px)
    for frame in hidden_frames:
        kp_gt[frame, 3:, :] = 0.0  # 3 visible points left
        kp_pred_px[frame] += 100.0
    base = rng.normal(scale=0.3, size=(NUM_KPS, 3))
    drift = rng.normal(scale=0.02, size=(NUM_KPS, 3))  # per-joint velocity u
    pred_joints = base + t[:, None, None] * drift
    pred_joints[..., 0] += 0.5 * accel_m * t[:, None] ** 2
    gt_joints = base + t[:, None, None] * drift + t[:, None, None] * np.array([0.0, 0.01, 0.0])
    gt_joints[:, PELVIS_FREE_JOINT, 0] += joint0_offset_m
    preds = {
        "joints": pred_joints,
        "kps": px_to_normalized(kp_pred_px),
        "theta": np.zeros((n, constants.THETA_DIM)) if theta is None else theta,
        "joints_delta": np.zeros((n, len(DELTA_T), NUM_KPS, 3)),
        "kps_delta": np.zeros((n, len(DELTA_T), NUM_KPS, 2)),
    }
    for index, dt in enumerate(DELTA_T):
        frames = np.arange(n)
        ok = (frames + dt >= 0) & (frames + dt < n)
        preds["joints_delta"][ok, index] = gt_joints[frames[ok] + dt]
        preds["kps_delta"][ok, index] = px_to_normalized(kp_gt[frames[ok] + dt, :, :2])
    track = {"kp2d": kp_gt, "phi": encode_predictions(preds), "time_pts": np.array([0, n])}
    if with_3d:
        gt = np.zeros((n, num_gt_joints, 3))
        gt[:, : constants.NUM_LSP_JOINTS] = gt_joints[:, : constants.NUM_LSP_JOINTS]
        track["joints3d"] = gt
    if smpl_gt is not None:
        track["pose"], track["shape"] = smpl_gt
    return Tube(track, preds)


def write_file(path: Path, tubes: list[Tube]) -> Path:
    """One test file (one record per tube)."""
    tfrecord_lib.write_records(path, [schema.serialize_sequence_example(t.track) for t in tubes])
    return path


def tiny_body_model(rng: np.random.Generator, num_verts: int = 40) -> dict[str, np.ndarray]:
    """A small random but valid body model with the 25-joint regressor."""
    weights = rng.uniform(size=(num_verts, 24)) ** 4
    j_reg = rng.uniform(size=(24, num_verts))
    reg = rng.uniform(size=(NUM_KPS, num_verts))
    parents = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18,
                        19, 20, 21])  # fmt: skip
    return {
        "v_template": rng.normal(scale=0.3, size=(num_verts, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(num_verts, 3, constants.NUM_SHAPE)),
        "posedirs": rng.normal(scale=0.01, size=(num_verts, 3, constants.POSE_FEATURE_DIM)),
        "J_regressor": j_reg / j_reg.sum(axis=1, keepdims=True),
        "weights": weights / weights.sum(axis=1, keepdims=True),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "f": np.array([[0, 1, 2], [2, 3, 4]]),
        "joint_regressor": reg / reg.sum(axis=1, keepdims=True),
    }


def write_body_model(path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    """Write :func:`tiny_body_model` as ``.npz``; returns the path and the arrays."""
    params = tiny_body_model(rng)
    save_smpl_params(params, path)
    return path, params
