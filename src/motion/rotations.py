"""Rotation helpers for retargeting, numpy, vectorised over frames (all float64).

- ``swing(u, v)``: the smallest rotation taking direction ``u`` to ``v``;
- ``kabsch(src, dst)``: the rotation best aligning several directions (least squares);
- ``resample``: global rotations and positions at a new frame rate.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

EPS = 1e-9
INTEGRAL_RATIO_TOL = 1e-3  # 120.0048 fps (a 0.0083333 s frame time) -> 30 fps counts as 4:1


def normalize(v: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors (zero vectors stay zero)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, EPS)


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3, 3) smallest rotation R with R · u/|u| = v/|v|, for (..., 3) ``u`` and ``v``.

    Opposite directions get a half turn about an axis perpendicular to ``u``.
    """
    u, v = np.broadcast_arrays(normalize(u), normalize(v))
    axis = np.cross(u, v)
    cos = np.sum(u * v, axis=-1)
    k = _skew(axis)
    scale = 1.0 / np.maximum(1.0 + cos, EPS)
    rot = np.eye(3) + k + (k @ k) * scale[..., None, None]
    opposite = cos < -1.0 + 1e-8
    if np.any(opposite):
        uo = u[opposite]
        helper = np.where(np.abs(uo[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        perp = normalize(np.cross(uo, helper))
        rot[opposite] = 2.0 * perp[:, :, None] * perp[:, None, :] - np.eye(3)
    return rot


def kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(..., 3, 3) rotation R minimising sum_k w_k |R src_k - dst_k|^2.

    Args:
        src, dst: (..., K, 3) directions (K >= 2, not all parallel, for a unique answer).
        weights: (K,) or None (all ones).
    """
    src, dst = np.broadcast_arrays(src, dst)
    w = np.ones(src.shape[-2]) if weights is None else np.asarray(weights, np.float64)
    cov = np.einsum("...ka,...kb,k->...ab", dst, src, w)  # sum w dst src^T
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(u.shape[:-1])
    fix[..., 2] = np.where(d == 0, 1.0, d)
    return (u * fix[..., None, :]) @ vt


def output_times(num_frames: int, src_fps: float, fps: float) -> np.ndarray:
    """Times (s) of the output frames: 0, 1/fps, ... up to the last source frame."""
    duration = (num_frames - 1) / src_fps
    count = int(np.floor(duration * fps + 1e-6)) + 1
    return np.arange(count) / fps


def resample(
    positions: np.ndarray, rotations: np.ndarray, src_fps: float, fps: float
) -> tuple[np.ndarray, np.ndarray, str]:
    """Global positions (N, J, 3) and rotations (N, J, 3, 3) at ``fps``.

    When ``src_fps / fps`` is a whole number k (within 0.1 %) every k-th frame is kept (exact
    samples); otherwise rotations are slerped and positions interpolated linearly between the
    two nearest source frames.

    Returns:
        (positions (M, J, 3), rotations (M, J, 3, 3), method) with method "every_kth" or "slerp".
    """
    n = positions.shape[0]
    ratio = src_fps / fps
    step = round(ratio)
    if step >= 1 and abs(ratio - step) <= INTEGRAL_RATIO_TOL * ratio:
        return positions[::step], rotations[::step], "every_kth"
    if n < 2:
        return positions, rotations, "every_kth"
    src_t = np.arange(n) / src_fps
    dst_t = np.minimum(output_times(n, src_fps, fps), src_t[-1])
    pos = np.stack(
        [
            np.interp(dst_t, src_t, positions[:, j, a])
            for j in range(positions.shape[1])
            for a in range(3)
        ],
        axis=-1,
    ).reshape(len(dst_t), positions.shape[1], 3)
    rot = np.empty((len(dst_t),) + rotations.shape[1:])
    for j in range(rotations.shape[1]):
        rot[:, j] = Slerp(src_t, Rotation.from_matrix(rotations[:, j]))(dst_t).as_matrix()
    return pos, rot, "slerp"
