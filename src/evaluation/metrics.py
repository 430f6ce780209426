"""Evaluation metrics of HMMR as pure float64 NumPy functions
(docs/original_release.md §7.3, PEERS §2).

Every function returns one value per frame; a frame that does not count is ``NaN`` (the
original drops it from a list instead, which gives the same numbers under a nan-mean).
Units are in the names:

- ``*_px``: pixels of the 224 crop. Ground-truth keypoints of the test records are in crop
  pixels; predicted keypoints come out of the network normalised to [-1, 1] and are mapped with
  :func:`keypoints_normalized_to_px` (``(k + 1) * 0.5 * 224``) first.
- ``*_m`` / ``*_mm``: metres / millimetres (the original computes and prints metres).
- ``*_per_frame2``: per frame squared (a second difference over consecutive frames);
  :func:`to_per_s2` converts to per second squared given the frame rate.

Two acceleration quantities that the original's docs mixed up are kept apart:

- ``accel`` (:func:`accel_m_per_frame2`): magnitude of the second difference of the **predicted**
  joints alone. It measures smoothness, needs no ground truth, and is the column the original
  prints as "accel" (the paper's "acceleration error 15.2" for 3DPW is this number in mm).
- ``accel_error`` (:func:`accel_error_m_per_frame2`): magnitude of the second difference of
  (prediction - ground truth), i.e. how wrong the predicted acceleration is. The original
  computes it without any alignment (predictions have no global translation, ground truth
  does); :func:`accel_error_pelvis_aligned_m_per_frame2` is the variant of VIBE and its
  successors, where both are pelvis-aligned first.

Frame selection, as the original:

- keypoint metrics (``kp``, ``kp_pa``, ``kp_pck``): all 25 points; a frame counts when at least
  ``min_visible`` (6) points are visible.
- 3D metrics (MPJPE, PA-MPJPE, accel error, mesh): the 14 LSP joints; a frame counts when
  **more than** ``min_visible`` of the first 14 GT keypoints are visible
  (:func:`frames_with_3d`). Acceleration error also drops a frame when either neighbour does not
  count.
- ``accel``: every frame.
"""

from __future__ import annotations

import numpy as np

from src.constants import IMG_SIZE, NUM_LSP_JOINTS
from src.geometry.procrustes import similarity_procrustes
from src.geometry.projection import optimal_camera_np
from src.joints import PELVIS_JOINTS

MIN_VISIBLE = 6  # the original's --min_visible default
PCK_ALPHA = 0.05  # PCK threshold as a fraction of the crop size: 0.05 * 224 = 11.2 px
PCK_THRESHOLD_PX = PCK_ALPHA * IMG_SIZE
M_TO_MM = 1000.0

# Per-frame result keys (the original's names) and their units, as computed by frame_errors.
METRIC_UNITS: dict[str, str] = {
    "accel": "m/frame^2",
    "accel_error": "m/frame^2",
    "accel_error_pelvis": "m/frame^2",
    "kp": "px",
    "kp_pa": "px",
    "kp_pck": "fraction",
    "joints": "m",
    "joints_pa": "m",
    "mesh_posed": "m",
    "mesh_tpose": "m",
}


# --------------------------------------------------------------------------------------------
# Input checks and small helpers


def _as_points(name: str, array: np.ndarray, min_joints: int, channels: int) -> np.ndarray:
    """Check ``array`` is ``(N, J >= min_joints, >= channels)`` and return it as float64."""
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 3 or out.shape[1] < min_joints or out.shape[2] < channels:
        raise ValueError(
            f"{name}: expected shape (N, >={min_joints}, >={channels}), got {np.shape(array)}"
        )
    return out


def _check_same_frames(**arrays: np.ndarray) -> int:
    """Return the common number of frames of the arrays, or raise naming the mismatch."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"expected the same number of frames, got {lengths}")
    return next(iter(lengths.values()))


def _frame_mask(valid: np.ndarray | None, num_frames: int) -> np.ndarray:
    """``(N,)`` bool mask; ``None`` means every frame counts."""
    if valid is None:
        return np.ones(num_frames, dtype=bool)
    mask = np.asarray(valid).astype(bool).reshape(-1)
    if mask.shape != (num_frames,):
        raise ValueError(f"valid: expected shape ({num_frames},), got {np.shape(valid)}")
    return mask


def to_per_s2(value_per_frame2: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Convert an acceleration from per frame^2 to per second^2: ``value * fps^2``.

    Example: 0.01532 m/frame^2 at 25 fps is 9.575 m/s^2.
    """
    if fps <= 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    return value_per_frame2 * float(fps) ** 2


def keypoints_normalized_to_px(kp_norm: np.ndarray, img_size: int = IMG_SIZE) -> np.ndarray:
    """Map keypoints from [-1, 1] crop coordinates to crop pixels: ``(k + 1) * 0.5 * img_size``.

    Args:
        kp_norm: ``(..., 2)`` normalised points (extra channels are not accepted).
    Returns:
        ``(..., 2)`` float64 pixel coordinates.
    """
    return (np.asarray(kp_norm, dtype=np.float64) + 1.0) * 0.5 * img_size


def align_by_pelvis(joints: np.ndarray) -> np.ndarray:
    """Subtract the pelvis (midpoint of the hips, joints 2 and 3) from every joint.

    Args:
        joints: ``(N, J, 3)`` with ``J >= 4`` in the HMMR/LSP order.
    Returns:
        ``(N, J, 3)`` float64.
    """
    joints = np.asarray(joints, dtype=np.float64)
    pelvis = 0.5 * (joints[:, PELVIS_JOINTS[0]] + joints[:, PELVIS_JOINTS[1]])  # (N, 3)
    return joints - pelvis[:, None, :]


def frames_with_3d(kp_gt: np.ndarray, min_visible: int = MIN_VISIBLE) -> np.ndarray:
    """Frames that count for the 3D metrics: more than ``min_visible`` of the first 14 GT
    keypoints are visible (the original's ``sum(vis[:14]) > min_visible``).

    Args:
        kp_gt: ``(N, K >= 14, 3)`` GT keypoints ``(x, y, vis)``.
    Returns:
        ``(N,)`` bool.
    """
    kp_gt = _as_points("kp_gt", kp_gt, NUM_LSP_JOINTS, 3)
    return np.sum(kp_gt[:, :NUM_LSP_JOINTS, 2] > 0, axis=1) > min_visible


def frames_with_keypoints(kp_gt: np.ndarray, min_visible: int = MIN_VISIBLE) -> np.ndarray:
    """Frames that count for the 2D keypoint metrics: at least ``min_visible`` visible points
    (and at least one).

    Args:
        kp_gt: ``(N, K, 3)`` GT keypoints ``(x, y, vis)``.
    Returns:
        ``(N,)`` bool.
    """
    kp_gt = _as_points("kp_gt", kp_gt, 1, 3)
    num_vis = np.sum(kp_gt[:, :, 2] > 0, axis=1)
    return (num_vis >= min_visible) & (num_vis > 0)


# --------------------------------------------------------------------------------------------
# 2D keypoints


def _kp_distances_px(
    kp_gt_px: np.ndarray, kp_pred_px: np.ndarray, aligned: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K)`` Euclidean distances in px (optionally after the optimal scale + translation)
    and the ``(N, K)`` bool visibility of the GT points."""
    gt = _as_points("kp_gt_px", kp_gt_px, 1, 3)
    pred = _as_points("kp_pred_px", kp_pred_px, gt.shape[1], 2)[:, : gt.shape[1], :2]
    _check_same_frames(kp_gt_px=gt, kp_pred_px=pred)
    if aligned:
        scale, trans = optimal_camera_np(pred, gt[..., :2], gt[..., 2])  # (N,), (N, 2)
        pred = scale[:, None, None] * (pred + trans[:, None, :])
    return np.linalg.norm(gt[..., :2] - pred, axis=-1), gt[..., 2] > 0


def _masked_frame_mean(values: np.ndarray, point_mask: np.ndarray, frame_ok: np.ndarray):
    """Mean of ``values`` over masked points per frame; NaN where ``frame_ok`` is False."""
    counts = np.maximum(point_mask.sum(axis=1), 1)
    means = np.where(point_mask, values, 0.0).sum(axis=1) / counts
    return np.where(frame_ok, means, np.nan)


def kp_error_px(
    kp_gt_px: np.ndarray, kp_pred_px: np.ndarray, min_visible: int = MIN_VISIBLE
) -> np.ndarray:
    """Mean Euclidean 2D error over the visible GT keypoints, in crop pixels (``kp``).

    Args:
        kp_gt_px: ``(N, K, 3)`` GT ``(x, y, vis)`` in crop pixels.
        kp_pred_px: ``(N, K, 2)`` predictions in crop pixels (see
            :func:`keypoints_normalized_to_px`).
        min_visible: a frame with fewer visible points is NaN.
    Returns:
        ``(N,)`` px.
    """
    dist, vis = _kp_distances_px(kp_gt_px, kp_pred_px, aligned=False)
    return _masked_frame_mean(dist, vis, frames_with_keypoints(kp_gt_px, min_visible))


def kp_error_pa_px(
    kp_gt_px: np.ndarray, kp_pred_px: np.ndarray, min_visible: int = MIN_VISIBLE
) -> np.ndarray:
    """2D error after the optimal scale + translation of the prediction onto the visible GT
    points (§5.3 closed form, no clipping), in crop pixels (``kp_pa``).

    Args/Returns: as :func:`kp_error_px`.
    """
    dist, vis = _kp_distances_px(kp_gt_px, kp_pred_px, aligned=True)
    return _masked_frame_mean(dist, vis, frames_with_keypoints(kp_gt_px, min_visible))


def kp_pck(
    kp_gt_px: np.ndarray,
    kp_pred_px: np.ndarray,
    threshold_px: float = PCK_THRESHOLD_PX,
    min_visible: int = MIN_VISIBLE,
) -> np.ndarray:
    """Fraction of visible points closer than ``threshold_px`` (11.2 px = 0.05 * 224) after the
    optimal 2D alignment of :func:`kp_error_pa_px` (``kp_pck``, unitless in [0, 1]).

    Args/Returns: as :func:`kp_error_px`.
    """
    dist, vis = _kp_distances_px(kp_gt_px, kp_pred_px, aligned=True)
    hits = (dist < threshold_px).astype(np.float64)
    return _masked_frame_mean(hits, vis, frames_with_keypoints(kp_gt_px, min_visible))


# --------------------------------------------------------------------------------------------
# 3D joints


def _lsp_pair(joints_gt: np.ndarray, joints_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First 14 joints of GT and prediction as float64 ``(N, 14, 3)``, checked."""
    gt = _as_points("joints_gt", joints_gt, NUM_LSP_JOINTS, 3)[:, :NUM_LSP_JOINTS, :3]
    pred = _as_points("joints_pred", joints_pred, NUM_LSP_JOINTS, 3)[:, :NUM_LSP_JOINTS, :3]
    _check_same_frames(joints_gt=gt, joints_pred=pred)
    return gt, pred


def _mean_joint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N,)`` mean over joints of ``||a - b||``."""
    return np.mean(np.linalg.norm(a - b, axis=-1), axis=-1)


def mpjpe_m(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Mean per-joint position error after pelvis alignment on the 14 LSP joints, metres
    (``joints``).

    Args:
        joints_gt: ``(N, >=14, 3)`` GT joints in metres.
        joints_pred: ``(N, >=14, 3)`` predicted joints (e.g. the 25 HMMR joints) in metres.
        valid: ``(N,)`` frames that count (e.g. :func:`frames_with_3d`); others are NaN.
    Returns:
        ``(N,)`` m.
    """
    gt, pred = _lsp_pair(joints_gt, joints_pred)
    err = _mean_joint_distance(align_by_pelvis(gt), align_by_pelvis(pred))
    return np.where(_frame_mask(valid, len(gt)), err, np.nan)


def mpjpe_mm(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """:func:`mpjpe_m` in millimetres: ``(N,)`` mm."""
    return M_TO_MM * mpjpe_m(joints_gt, joints_pred, valid)


def pa_mpjpe_m(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """MPJPE after the similarity Procrustes alignment (rotation without reflection, isotropic
    scale, translation) of the prediction onto GT, per frame, metres (``joints_pa``).

    Args/Returns: as :func:`mpjpe_m`.
    """
    gt, pred = _lsp_pair(joints_gt, joints_pred)
    gt, pred = align_by_pelvis(gt), align_by_pelvis(pred)
    mask = _frame_mask(valid, len(gt))
    err = np.full(len(gt), np.nan)
    if mask.any():
        aligned = similarity_procrustes(pred[mask], gt[mask])  # (M, 14, 3)
        err[mask] = _mean_joint_distance(np.asarray(aligned, dtype=np.float64), gt[mask])
    return err


def pa_mpjpe_mm(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """:func:`pa_mpjpe_m` in millimetres: ``(N,)`` mm."""
    return M_TO_MM * pa_mpjpe_m(joints_gt, joints_pred, valid)


# --------------------------------------------------------------------------------------------
# Acceleration (prediction only) and acceleration error (against GT)


def _second_difference(joints: np.ndarray) -> np.ndarray:
    """``X[t-1] - 2 X[t] + X[t+1]``: ``(N, J, 3) -> (max(N - 2, 0), J, 3)``."""
    return joints[:-2] - 2.0 * joints[1:-1] + joints[2:]


def accel_m_per_frame2(joints_pred: np.ndarray) -> np.ndarray:
    """Predicted acceleration (NOT an error; the original's printed ``accel``): mean over the
    14 LSP joints of ``||X[t-1] - 2 X[t] + X[t+1]||`` of the predicted joints as they come
    (SMPL model space, no alignment), for the middle frames t = 1 .. N-2.

    Args:
        joints_pred: ``(N, >=14, 3)`` predicted joints in metres.
    Returns:
        ``(max(N - 2, 0),)`` m/frame^2.
    """
    pred = _as_points("joints_pred", joints_pred, NUM_LSP_JOINTS, 3)[:, :NUM_LSP_JOINTS, :3]
    return np.mean(np.linalg.norm(_second_difference(pred), axis=-1), axis=-1)


def accel_mm_per_frame2(joints_pred: np.ndarray) -> np.ndarray:
    """:func:`accel_m_per_frame2` in millimetres: ``(max(N - 2, 0),)`` mm/frame^2."""
    return M_TO_MM * accel_m_per_frame2(joints_pred)


def _triplet_mask(valid: np.ndarray | None, num_frames: int) -> np.ndarray:
    """``(N - 2,)`` True where frames t-1, t and t+1 all count."""
    mask = _frame_mask(valid, num_frames)
    return mask[:-2] & mask[1:-1] & mask[2:]


def _accel_error(gt: np.ndarray, pred: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``(N - 2,)`` mean joint norm of the second difference of ``pred - gt``, masked."""
    err = np.mean(np.linalg.norm(_second_difference(pred - gt), axis=-1), axis=-1)
    return np.where(_triplet_mask(valid, len(gt)), err, np.nan)


def accel_error_m_per_frame2(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Acceleration error as the original computes it: mean over the 14 LSP joints of
    ``||accel_pred - accel_gt||`` with no alignment (GT keeps its global trajectory, the
    prediction has none), for the middle frames t = 1 .. N-2. A frame is NaN when any of
    t-1, t, t+1 is not in ``valid``.

    Args:
        joints_gt: ``(N, >=14, 3)`` GT joints in metres.
        joints_pred: ``(N, >=14, 3)`` predicted joints in metres.
        valid: ``(N,)`` frames that count (e.g. :func:`frames_with_3d`); ``None``: all.
    Returns:
        ``(max(N - 2, 0),)`` m/frame^2.
    """
    gt, pred = _lsp_pair(joints_gt, joints_pred)
    return _accel_error(gt, pred, valid)


def accel_error_mm_per_frame2(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """:func:`accel_error_m_per_frame2` in millimetres: ``(max(N - 2, 0),)`` mm/frame^2."""
    return M_TO_MM * accel_error_m_per_frame2(joints_gt, joints_pred, valid)


def accel_error_pelvis_aligned_m_per_frame2(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Acceleration error after pelvis-aligning GT and prediction per frame (the protocol of
    VIBE, TCMR, MPS-Net, GLoT; not the original's). Otherwise as
    :func:`accel_error_m_per_frame2`.

    Returns:
        ``(max(N - 2, 0),)`` m/frame^2.
    """
    gt, pred = _lsp_pair(joints_gt, joints_pred)
    return _accel_error(align_by_pelvis(gt), align_by_pelvis(pred), valid)


def accel_error_pelvis_aligned_mm_per_frame2(
    joints_gt: np.ndarray, joints_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """:func:`accel_error_pelvis_aligned_m_per_frame2` in millimetres (mm/frame^2)."""
    return M_TO_MM * accel_error_pelvis_aligned_m_per_frame2(joints_gt, joints_pred, valid)


# --------------------------------------------------------------------------------------------
# Mesh (per-vertex error)


def pve_m(
    verts_gt: np.ndarray, verts_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Mean per-vertex Euclidean error with no alignment, metres.

    Args:
        verts_gt: ``(N, V, 3)`` GT vertices in metres.
        verts_pred: ``(N, V, 3)`` predicted vertices in metres.
        valid: ``(N,)`` frames that count; others are NaN.
    Returns:
        ``(N,)`` m.
    """
    gt = _as_points("verts_gt", verts_gt, 1, 3)
    pred = _as_points("verts_pred", verts_pred, 1, 3)
    if gt.shape != pred.shape:
        raise ValueError(f"verts: expected equal shapes (N, V, 3), got {gt.shape}, {pred.shape}")
    return np.where(_frame_mask(valid, len(gt)), _mean_joint_distance(gt, pred), np.nan)


def pve_posed_mm(
    verts_gt: np.ndarray, verts_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Posed mesh error (``mesh_posed``), no alignment, millimetres. The caller builds the
    vertices: the original poses the neutral SMPL with the GT pose and GT betas versus the
    predicted pose and betas.

    Args/Returns: as :func:`pve_m`, in mm.
    """
    return M_TO_MM * pve_m(verts_gt, verts_pred, valid)


def pve_tpose_mm(
    verts_gt: np.ndarray, verts_pred: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """T-pose mesh error (``mesh_tpose``, a shape-only error), no alignment, millimetres. The
    caller builds both meshes with a zero pose and the GT / predicted betas.

    Args/Returns: as :func:`pve_m`, in mm.
    """
    return M_TO_MM * pve_m(verts_gt, verts_pred, valid)


# --------------------------------------------------------------------------------------------
# One tube, all metrics, the original's keys and units


def frame_errors(
    kp_gt_px: np.ndarray,
    kp_pred_norm: np.ndarray,
    joints_pred: np.ndarray,
    joints_gt: np.ndarray | None = None,
    verts_posed: tuple[np.ndarray, np.ndarray] | None = None,
    verts_tpose: tuple[np.ndarray, np.ndarray] | None = None,
    min_visible: int = MIN_VISIBLE,
    img_size: int = IMG_SIZE,
) -> dict[str, np.ndarray]:
    """Per-frame errors of one tube under the original's keys and units (:data:`METRIC_UNITS`).

    Args:
        kp_gt_px: ``(N, 25, 3)`` GT keypoints in crop pixels.
        kp_pred_norm: ``(N, 25, 2)`` predicted keypoints normalised to [-1, 1].
        joints_pred: ``(N, >=14, 3)`` predicted joints, metres.
        joints_gt: ``(N, >=14, 3)`` GT joints, metres; ``None`` when the dataset has no 3D.
        verts_posed, verts_tpose: optional ``(gt (N, V, 3), pred (N, V, 3))`` vertex pairs.
    Returns:
        dict: ``accel`` ``(N-2,)``, ``kp``, ``kp_pa``, ``kp_pck`` ``(N,)``; with ``joints_gt``
        also ``joints``, ``joints_pa`` ``(N,)``, ``accel_error``, ``accel_error_pelvis``
        ``(N-2,)``; with vertices ``mesh_posed`` / ``mesh_tpose`` ``(N,)``. NaN = not counted.
    """
    kp_pred_px = keypoints_normalized_to_px(np.asarray(kp_pred_norm)[..., :2], img_size)
    out = {
        "accel": accel_m_per_frame2(joints_pred),
        "kp": kp_error_px(kp_gt_px, kp_pred_px, min_visible),
        "kp_pa": kp_error_pa_px(kp_gt_px, kp_pred_px, min_visible),
        "kp_pck": kp_pck(kp_gt_px, kp_pred_px, PCK_ALPHA * img_size, min_visible),
    }
    if joints_gt is None:
        return out
    valid = frames_with_3d(kp_gt_px, min_visible)
    out["joints"] = mpjpe_m(joints_gt, joints_pred, valid)
    out["joints_pa"] = pa_mpjpe_m(joints_gt, joints_pred, valid)
    out["accel_error"] = accel_error_m_per_frame2(joints_gt, joints_pred, valid)
    out["accel_error_pelvis"] = accel_error_pelvis_aligned_m_per_frame2(
        joints_gt, joints_pred, valid
    )
    if verts_posed is not None:
        out["mesh_posed"] = pve_m(verts_posed[0], verts_posed[1], valid)
    if verts_tpose is not None:
        out["mesh_tpose"] = pve_m(verts_tpose[0], verts_tpose[1], valid)
    return out
