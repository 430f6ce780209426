"""Errors of one person tube and the values of one dataset (docs/original_release.md §7.3):

1. per-frame metrics of the present prediction under the original's keys
   (:mod:`src.evaluation.metrics`), and the mesh errors where the caller asks for them;
2. the past/future predictions from a single frame are scored as the original's frame alignment
   (§5.4): the prediction made at frame t for offset dt against the ground truth at t + dt; in
   const mode also the present prediction used as the past and the future (``_const`` keys, the
   paper's Table 5 baseline);
3. the scores of a dataset (:mod:`src.evaluation.aggregate`) become values with units: each
   metric in the original's unit, also in millimetres, and the accelerations per frame^2 and per
   s^2 at the dataset's frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from src import constants
from src.data.schema import MISSING_SMPL_VALUE
from src.evaluation.aggregate import DECIMALS
from src.evaluation.metrics import (
    M_TO_MM,
    METRIC_UNITS,
    frame_errors,
    frames_with_3d,
    pve_m,
    to_per_s2,
)
from src.evaluation.predictions import BodyModel

DELTA_METRICS = ("kp", "kp_pa", "kp_pck", "joints", "joints_pa")  # scored for past/future
CONST_SUFFIX = "_const"
MM_DECIMALS = 3
MESH_CHUNK = 256  # frames per body-model call for the mesh errors

# --------------------------------------------------------------------------------------------
# Errors of one tube


def delta_suffixes(delta_t_values: Sequence[int]) -> list[str]:
    """Result-key suffix per offset: ``_past`` / ``_future`` (``_past10`` ... when several)."""
    num_past = sum(dt < 0 for dt in delta_t_values)
    num_future = sum(dt > 0 for dt in delta_t_values)
    out = []
    for dt in delta_t_values:
        word, count = ("past", num_past) if dt < 0 else ("future", num_future)
        out.append(f"_{word}" if count == 1 else f"_{word}{abs(dt)}")
    return out


def _aligned_frames(num_frames: int, dt: int) -> tuple[slice, slice]:
    """(prediction frames, GT frames) pairing the prediction made at t with the GT at t + dt."""
    if dt >= 0:
        return slice(0, max(num_frames - dt, 0)), slice(dt, num_frames)
    return slice(-dt, num_frames), slice(0, max(num_frames + dt, 0))


def delta_errors(
    kp_gt_px: np.ndarray,
    joints_gt: np.ndarray | None,
    kps_delta: np.ndarray,
    joints_delta: np.ndarray,
    delta_t_values: Sequence[int],
    min_visible: int,
    img_size: int,
    suffix: str = "",
) -> dict[str, np.ndarray]:
    """Errors of the past/future predictions, the prediction made at frame t for offset dt
    against the GT of frame t + dt (the original's §5.4 alignment).

    Args:
        kp_gt_px: ``(N, 25, 3)`` GT keypoints in crop pixels.
        joints_gt: ``(N, >=14, 3)`` GT joints in metres, or ``None`` (no 3D).
        kps_delta: ``(N, len(dt), 25, 2)`` normalised keypoints predicted at each frame.
        joints_delta: ``(N, len(dt), 25, 3)`` joints predicted at each frame, metres.
        suffix: appended to the keys (``_const`` for the constant baseline).
    Returns:
        ``<metric>_<past|future><suffix>`` -> ``(N - |dt|,)`` for the :data:`DELTA_METRICS`
        (nothing for an offset longer than the tube).
    """
    num_frames = len(kp_gt_px)
    out = {}
    for index, (dt, name) in enumerate(
        zip(delta_t_values, delta_suffixes(delta_t_values), strict=True)
    ):
        pred, gt = _aligned_frames(num_frames, dt)
        if pred.stop - pred.start <= 0:
            continue
        errors = frame_errors(
            kp_gt_px[gt],
            kps_delta[pred, index],
            joints_delta[pred, index],
            None if joints_gt is None else joints_gt[gt],
            min_visible=min_visible,
            img_size=img_size,
        )
        out.update({f"{key}{name}{suffix}": errors[key] for key in DELTA_METRICS if key in errors})
    return out


def mesh_errors(
    body: BodyModel,
    pose_gt: np.ndarray,
    shape_gt: np.ndarray,
    theta_pred: np.ndarray,
    valid: np.ndarray,
) -> dict[str, np.ndarray]:
    """Posed and T-pose vertex errors (metres, no alignment), as the original: the neutral body
    model with the GT pose and the record's (neutral) betas against the predicted pose and betas.

    Args:
        pose_gt: ``(N, 72)``; shape_gt: ``(10,)``; theta_pred: ``(N, 85)``; valid: ``(N,)``.
    Returns:
        ``mesh_posed``, ``mesh_tpose``: ``(N,)`` m, NaN where not ``valid``.
    """
    posed, tpose = [], []
    for start in range(0, len(theta_pred), MESH_CHUNK):
        rows = slice(start, start + MESH_CHUNK)
        theta = np.asarray(theta_pred[rows], np.float64)
        num = len(theta)
        betas_gt = np.tile(np.asarray(shape_gt, np.float64).reshape(1, -1), (num, 1))
        betas_pred = theta[:, constants.SHAPE_SLICE]
        zeros = np.zeros((num, constants.NUM_POSE))
        gt = body.vertices(betas_gt, pose_gt[rows])
        pred = body.vertices(betas_pred, theta[:, constants.POSE_SLICE])
        posed.append(pve_m(gt, pred, valid[rows]))
        tpose.append(
            pve_m(body.vertices(betas_gt, zeros), body.vertices(betas_pred, zeros), valid[rows])
        )
    return {"mesh_posed": np.concatenate(posed), "mesh_tpose": np.concatenate(tpose)}


@dataclass
class TubeSettings:
    """What the per-tube scoring needs besides the tube and its predictions."""

    has_3d: bool
    with_mesh: bool
    min_visible: int
    img_size: int
    delta_t_values: tuple[int, ...]
    const: bool
    body: BodyModel | None = None


def tube_errors(
    tube: Mapping[str, Any], preds: Mapping[str, np.ndarray], settings: TubeSettings
) -> dict[str, np.ndarray]:
    """Per-frame errors of one tube under the original's keys (present), plus the past/future
    keys (and their ``_const`` twins in const mode)."""
    kp_gt = np.asarray(tube["kp2d"], np.float64)
    # 3D scores on the original's 3D datasets, and on any other whose tubes carry 3D joints
    has_3d = settings.has_3d or bool(tube.get("has_3d_joints"))
    joints_gt = np.asarray(tube["joints3d"], np.float64) if has_3d else None
    errors = frame_errors(
        kp_gt,
        preds["kps"],
        preds["joints"],
        joints_gt,
        min_visible=settings.min_visible,
        img_size=settings.img_size,
    )
    has_smpl_gt = not np.all(np.asarray(tube["pose"]) == MISSING_SMPL_VALUE)
    if settings.with_mesh and has_smpl_gt and settings.body is not None:
        valid = frames_with_3d(kp_gt, settings.min_visible)
        errors.update(
            mesh_errors(
                settings.body,
                np.asarray(tube["pose"], np.float64),
                tube["shape"],
                preds["theta"],
                valid,
            )
        )
    common = dict(
        delta_t_values=settings.delta_t_values,
        min_visible=settings.min_visible,
        img_size=settings.img_size,
    )
    errors.update(
        delta_errors(kp_gt, joints_gt, preds["kps_delta"], preds["joints_delta"], **common)
    )
    if settings.const:
        num_dt = len(settings.delta_t_values)
        kps = np.repeat(np.asarray(preds["kps"])[:, None], num_dt, axis=1)
        joints = np.repeat(np.asarray(preds["joints"])[:, None], num_dt, axis=1)
        errors.update(delta_errors(kp_gt, joints_gt, kps, joints, suffix=CONST_SUFFIX, **common))
    return errors


# --------------------------------------------------------------------------------------------
# Values and units of one dataset


def base_metric(key: str) -> str:
    """The :data:`METRIC_UNITS` metric a result key derives from (longest prefix match)."""
    matches = [m for m in METRIC_UNITS if key == m or key.startswith(m + "_")]
    return max(matches, key=len) if matches else key


def dataset_results(
    scores: Mapping[str, float], fps: float | None
) -> tuple[dict[str, float], dict[str, str]]:
    """Values and units of one dataset: each metric in the original's unit (rounded to 5
    decimals as the original), metre metrics also as ``<key>_mm``, accelerations also as
    ``<key>_mm_per_frame2`` and ``<key>_mm_per_s2`` (NaN without a frame rate).

    Args:
        scores: metric -> unrounded dataset score in :data:`METRIC_UNITS` units.
        fps: frame rate of the dataset's test records, or ``None``.
    """
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    for key, value in scores.items():
        unit = METRIC_UNITS.get(base_metric(key), "?")
        values[key], units[key] = _round(value, DECIMALS), unit
        if unit == "m":
            values[f"{key}_mm"], units[f"{key}_mm"] = _round(value * M_TO_MM, MM_DECIMALS), "mm"
        elif unit == "m/frame^2":
            mm = value * M_TO_MM
            values[f"{key}_mm_per_frame2"] = _round(mm, MM_DECIMALS)
            per_s2 = to_per_s2(mm, fps) if fps else math.nan
            values[f"{key}_mm_per_s2"] = _round(per_s2, MM_DECIMALS)
            units[f"{key}_mm_per_frame2"], units[f"{key}_mm_per_s2"] = "mm/frame^2", "mm/s^2"
    return values, units


def _round(value: float, decimals: int) -> float:
    return value if math.isnan(value) else round(float(value), decimals)
