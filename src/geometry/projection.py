"""Weak-perspective projection and the closed-form optimal 2D camera
(docs/original_release.md §4.4, §5.3).

A camera is ``[s, tx, ty]``: a 3D point X projects to ``s * (X_xy + t)`` in normalised crop
coordinates ([-1, 1] over the 224 crop; pixel = (x + 1) * 112). z is dropped.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from src.constants import NUM_CAM

OPTCAM_RIDGE = 1e-6  # A = X^T X + 1e-6 I, as the original
OPTCAM_SCALE_CLIP: tuple[float, float] = (0.7, 10.0)  # keeps s away from 0 for mirrored fits
_MIN_ABS_SCALE = 1e-8  # only used to keep t finite when an unclipped fit gives s = 0


def project_weak_perspective(points3d: tf.Tensor, cam: tf.Tensor) -> tf.Tensor:
    """Weak-perspective projection ``s * (X_xy + t)``.

    Args:
        points3d: ``(..., K, 3)`` points (only x, y are used).
        cam: ``(..., 3)`` cameras ``[s, tx, ty]``, one per leading index.
    Returns:
        ``(..., K, 2)`` projected points, dtype of ``points3d``.
    """
    points3d = tf.convert_to_tensor(points3d)
    cam = tf.cast(cam, points3d.dtype)
    scale = cam[..., 0:1, tf.newaxis]  # (..., 1, 1)
    trans = cam[..., tf.newaxis, 1:NUM_CAM]  # (..., 1, 2)
    return scale * (points3d[..., :2] + trans)


def project_weak_perspective_np(points3d: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`project_weak_perspective`: ``(..., K, 3), (..., 3) -> (..., K, 2)``."""
    points3d = np.asarray(points3d)
    cam = np.asarray(cam)
    return cam[..., 0, None, None] * (points3d[..., :2] + cam[..., None, 1:NUM_CAM])


def optimal_camera(
    pred_xy: tf.Tensor,
    gt_kp: tf.Tensor,
    clip: tuple[float, float] | None = OPTCAM_SCALE_CLIP,
) -> tf.Tensor:
    """Closed-form scale and translation fitting raw 2D points to visible GT keypoints (§5.3).

    With v the visibility (``gt vis > 0``), mu the visible means, X = v (x - mu_x) and
    Y = v (y - mu_y): ``A = X^T X + 1e-6 I``, ``s = trace(A^-1 X^T Y) / 2``, s clipped to
    ``clip``, ``t = mu_y / s - mu_x``. The gradient is stopped on the result.

    Guard (not in the original, which gives NaN): a sample with no visible point gets the
    identity camera ``[1, 0, 0]``. Unclipped fits with |s| <= 1e-8 (e.g. a single visible
    point gives s = 0) return s = 1e-8, so ``s * (x + t)`` still lands on the visible mean.

    Args:
        pred_xy: ``(N, K, 2)`` predicted raw points (first two coordinates of 3D joints); any
            number of leading dims works.
        gt_kp: ``(N, K, 3)`` GT keypoints ``(x, y, vis)``.
        clip: ``(low, high)`` bounds for s, or ``None`` for no clipping.
    Returns:
        ``(N, 3)`` cameras ``[s, tx, ty]``, dtype of ``pred_xy``, without gradient.
    """
    pred_xy = tf.stop_gradient(tf.convert_to_tensor(pred_xy))
    dtype = pred_xy.dtype
    gt_kp = tf.stop_gradient(tf.cast(gt_kp, dtype))
    vis = tf.cast(gt_kp[..., 2:3] > 0, dtype)  # (N, K, 1)
    num_vis = tf.reduce_sum(vis, axis=-2)  # (N, 1)
    has_vis = num_vis > 0
    denom = tf.maximum(num_vis, tf.ones_like(num_vis))
    gt_xy = gt_kp[..., :2]
    mu_x = tf.reduce_sum(vis * pred_xy, axis=-2) / denom  # (N, 2)
    mu_y = tf.reduce_sum(vis * gt_xy, axis=-2) / denom  # (N, 2)
    x_c = vis * (pred_xy - mu_x[..., tf.newaxis, :])  # (N, K, 2)
    y_c = vis * (gt_xy - mu_y[..., tf.newaxis, :])
    a_mat = tf.matmul(x_c, x_c, transpose_a=True) + OPTCAM_RIDGE * tf.eye(2, dtype=dtype)
    b_mat = tf.matmul(x_c, y_c, transpose_a=True)  # (N, 2, 2)
    scale = tf.linalg.trace(tf.linalg.solve(a_mat, b_mat))[..., tf.newaxis] / 2.0  # (N, 1)
    scale = tf.where(has_vis, scale, tf.ones_like(scale))
    if clip is not None:
        scale = tf.clip_by_value(scale, clip[0], clip[1])
    tiny = tf.constant(_MIN_ABS_SCALE, dtype)
    scale = tf.where(tf.abs(scale) > tiny, scale, tiny * tf.ones_like(scale))
    trans = mu_y / scale - mu_x
    trans = tf.where(has_vis, trans, tf.zeros_like(trans))
    return tf.stop_gradient(tf.concat([scale, trans], axis=-1))


def optimal_camera_np(
    pred_xy: np.ndarray, gt_xy: np.ndarray, vis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 NumPy version of the optimal camera, without clipping (the ``kp_pa`` metric, §7.3).

    Args:
        pred_xy: ``(..., K, 2)`` predicted points.
        gt_xy: ``(..., K, 2)`` GT points.
        vis: ``(..., K)`` visibility; a point counts when ``vis > 0``.
    Returns:
        ``(scale (...,), trans (..., 2))`` so that ``scale * (pred_xy + trans)`` fits ``gt_xy``.
        No visible point gives ``(1, [0, 0])``; see :func:`optimal_camera` for s = 0.
    """
    pred_xy = np.asarray(pred_xy, dtype=np.float64)
    gt_xy = np.asarray(gt_xy, dtype=np.float64)
    v = (np.asarray(vis) > 0).astype(np.float64)[..., None]  # (..., K, 1)
    if pred_xy.shape != gt_xy.shape or pred_xy.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            "optimal_camera_np: expected pred_xy, gt_xy (..., K, 2) and vis (..., K), got "
            f"{pred_xy.shape}, {gt_xy.shape}, {np.shape(vis)}"
        )
    num_vis = v.sum(axis=-2)  # (..., 1)
    has_vis = num_vis[..., 0] > 0
    denom = np.maximum(num_vis, 1.0)
    mu_x = (v * pred_xy).sum(axis=-2) / denom
    mu_y = (v * gt_xy).sum(axis=-2) / denom
    x_c = v * (pred_xy - mu_x[..., None, :])
    y_c = v * (gt_xy - mu_y[..., None, :])
    a_mat = np.swapaxes(x_c, -1, -2) @ x_c + OPTCAM_RIDGE * np.eye(2)
    b_mat = np.swapaxes(x_c, -1, -2) @ y_c
    scale = np.trace(np.linalg.solve(a_mat, b_mat), axis1=-2, axis2=-1) / 2.0
    scale = np.where(has_vis, scale, 1.0)
    scale = np.where(np.abs(scale) > _MIN_ABS_SCALE, scale, _MIN_ABS_SCALE)
    trans = mu_y / scale[..., None] - mu_x
    trans = np.where(has_vis[..., None], trans, 0.0)
    return scale, trans
