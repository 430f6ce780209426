"""Similarity Procrustes alignment with an explicit ``(N, J, 3)`` contract (PA-MPJPE, §7.3).

For each sample n, find scale c, rotation R (det +1) and translation t minimising
``sum_j || c R x_j + t - y_j ||^2`` (Umeyama's closed form: SVD of the cross-covariance with the
reflection fix). Layout is never guessed from the shape: the input must be ``(N, J, 3)``, so
N = 1, 2, 3 behave like any other batch size.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_MIN_VARIANCE = 1e-12  # a source collapsed to one point keeps scale finite (0)


def _check_pair(source_shape: tuple, target_shape: tuple, name: str) -> None:
    """Raise ValueError unless both shapes are the same ``(N, J, 3)``."""
    if (
        len(source_shape) != 3
        or source_shape[-1] != 3
        or tuple(source_shape) != tuple(target_shape)
    ):
        raise ValueError(
            f"{name}: expected source and target of the same shape (N, J, 3), got "
            f"{tuple(source_shape)} and {tuple(target_shape)}"
        )


def similarity_transform(
    source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample similarity transform taking ``source`` onto ``target`` (float64).

    Args:
        source: ``(N, J, 3)`` points to move.
        target: ``(N, J, 3)`` reference points.
    Returns:
        ``scale (N,)``, ``rot (N, 3, 3)`` and ``trans (N, 3)`` with
        ``aligned = scale * source @ rot^T + trans``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    _check_pair(source.shape, target.shape, "similarity_transform")
    mu_s = source.mean(axis=1, keepdims=True)  # (N, 1, 3)
    mu_t = target.mean(axis=1, keepdims=True)
    xs = source - mu_s
    xt = target - mu_t
    var_s = np.sum(xs**2, axis=(1, 2))  # (N,)
    cross = np.swapaxes(xs, 1, 2) @ xt  # (N, 3, 3) = sum_j x_j y_j^T
    u, sing, vt = np.linalg.svd(cross)
    v = np.swapaxes(vt, 1, 2)
    ut = np.swapaxes(u, 1, 2)
    det_sign = np.sign(np.linalg.det(v @ ut))
    det_sign = np.where(det_sign == 0, 1.0, det_sign)
    fix = np.ones((source.shape[0], 3))
    fix[:, 2] = det_sign
    rot = v @ (fix[:, :, None] * ut)  # (N, 3, 3) = V diag(1, 1, d) U^T
    scale = np.sum(sing * fix, axis=1) / np.maximum(var_s, _MIN_VARIANCE)
    trans = mu_t[:, 0] - scale[:, None] * np.einsum("nij,nj->ni", rot, mu_s[:, 0])
    return scale, rot, trans


def similarity_procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Align ``source`` onto ``target`` per sample (float64 NumPy).

    Args:
        source: ``(N, J, 3)`` e.g. predicted joints.
        target: ``(N, J, 3)`` e.g. GT joints.
    Returns:
        ``(N, J, 3)`` aligned source.
    """
    scale, rot, trans = similarity_transform(source, target)
    source = np.asarray(source, dtype=np.float64)
    return scale[:, None, None] * source @ np.swapaxes(rot, 1, 2) + trans[:, None, :]


def similarity_procrustes_tf(source: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """TensorFlow version of :func:`similarity_procrustes`.

    Args:
        source: ``(N, J, 3)`` points to move (float32 or float64).
        target: ``(N, J, 3)`` reference points.
    Returns:
        ``(N, J, 3)`` aligned source, dtype of ``source``.
    """
    source = tf.convert_to_tensor(source)
    target = tf.cast(target, source.dtype)
    if source.shape.rank is not None and target.shape.rank is not None:
        _check_pair(tuple(source.shape), tuple(target.shape), "similarity_procrustes_tf")
    mu_s = tf.reduce_mean(source, axis=1, keepdims=True)
    mu_t = tf.reduce_mean(target, axis=1, keepdims=True)
    xs = source - mu_s
    xt = target - mu_t
    var_s = tf.reduce_sum(tf.square(xs), axis=[1, 2])  # (N,)
    cross = tf.matmul(xs, xt, transpose_a=True)  # (N, 3, 3)
    sing, u, v = tf.linalg.svd(cross)  # cross = u diag(sing) v^T
    det_sign = tf.sign(tf.linalg.det(tf.matmul(v, u, transpose_b=True)))
    det_sign = tf.where(tf.equal(det_sign, 0), tf.ones_like(det_sign), det_sign)
    ones = tf.ones_like(det_sign)
    fix = tf.stack([ones, ones, det_sign], axis=1)  # (N, 3)
    rot = tf.matmul(v * fix[:, tf.newaxis, :], u, transpose_b=True)  # V diag(fix) U^T
    min_var = tf.constant(_MIN_VARIANCE, source.dtype)
    scale = tf.reduce_sum(sing * fix, axis=1) / tf.maximum(var_s, min_var)  # (N,)
    rotated = tf.matmul(source, rot, transpose_b=True)  # (N, J, 3)
    trans = mu_t - scale[:, None, None] * tf.matmul(mu_s, rot, transpose_b=True)
    return scale[:, None, None] * rotated + trans
