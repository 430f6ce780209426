"""Horizontal-flip augmentation: pose reflection, keypoint flip, 3D joint reflection (§4.5, §6.5).

NumPy versions (the tube augmentation runs in NumPy) and ``*_tf`` twins for tf.data graphs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from src.constants import NUM_KPS, NUM_LSP_JOINTS, NUM_POSE, NUM_SMPL_JOINTS
from src.joints import HMMR_FLIP_PERM, LSP_FLIP_PERM, SMPL_FLIP_PERM

# Reflection x -> -x turns the axis-angle w into (w_x, -w_y, -w_z) (M R(w) M = R(det(M) M w)).
AXIS_ANGLE_REFLECTION: tuple[float, float, float] = (1.0, -1.0, -1.0)
_FLIP_PERMS = {NUM_KPS: HMMR_FLIP_PERM, NUM_LSP_JOINTS: LSP_FLIP_PERM}


def _flip_perm(num_joints: int, name: str) -> tuple[int, ...]:
    """The 25- or 14-joint flip permutation, or a ValueError naming the caller."""
    if num_joints not in _FLIP_PERMS:
        raise ValueError(
            f"{name}: expected {NUM_KPS} (HMMR) or {NUM_LSP_JOINTS} (LSP) joints, got {num_joints}"
        )
    return _FLIP_PERMS[num_joints]


def _check_pose(shape: tuple, name: str) -> None:
    if len(shape) < 1 or shape[-1] != NUM_POSE:
        raise ValueError(f"{name}: expected pose of shape (..., {NUM_POSE}), got {tuple(shape)}")


def reflect_pose(pose: np.ndarray) -> np.ndarray:
    """Mirror an SMPL pose: swap the L/R joints' 3-vectors, multiply all by (1, -1, -1).

    Args:
        pose: ``(..., 72)`` axis-angle, root first.
    Returns:
        ``(..., 72)`` reflected pose, same dtype.
    """
    pose = np.asarray(pose)
    _check_pose(pose.shape, "reflect_pose")
    joints = pose.reshape(pose.shape[:-1] + (NUM_SMPL_JOINTS, 3))
    flipped = joints[..., list(SMPL_FLIP_PERM), :] * np.asarray(AXIS_ANGLE_REFLECTION, pose.dtype)
    return flipped.reshape(pose.shape)


def reflect_pose_tf(pose: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`reflect_pose`: ``(..., 72) -> (..., 72)``."""
    pose = tf.convert_to_tensor(pose)
    _check_pose(tuple(pose.shape), "reflect_pose_tf")
    shape = tf.shape(pose)
    joints = tf.reshape(pose, tf.concat([shape[:-1], [NUM_SMPL_JOINTS, 3]], axis=0))
    flipped = tf.gather(joints, SMPL_FLIP_PERM, axis=-2)
    flipped = flipped * tf.constant(AXIS_ANGLE_REFLECTION, pose.dtype)
    return tf.reshape(flipped, shape)


def flip_keypoints(kp: np.ndarray, img_width: float | None = None) -> np.ndarray:
    """Mirror 2D keypoints horizontally and swap left/right joints.

    Args:
        kp: ``(..., J, C)`` with x in channel 0 (C = 2 or 3, e.g. x, y, vis); J = 25 (HMMR) or
            14 (LSP).
        img_width: ``None`` for normalised [-1, 1] coordinates (x -> -x), or the image width W in
            pixels (x -> W - 1 - x, as the original; applied to invisible rows too).
    Returns:
        ``(..., J, C)`` flipped keypoints, same dtype.
    """
    kp = np.asarray(kp)
    perm = _flip_perm(kp.shape[-2] if kp.ndim >= 2 else -1, "flip_keypoints")
    out = kp[..., list(perm), :].copy()
    out[..., 0] = -out[..., 0] if img_width is None else (img_width - 1) - out[..., 0]
    return out


def flip_keypoints_tf(kp: tf.Tensor, img_width: float | None = None) -> tf.Tensor:
    """TensorFlow twin of :func:`flip_keypoints`: ``(..., J, C) -> (..., J, C)``."""
    kp = tf.convert_to_tensor(kp)
    perm = _flip_perm(
        kp.shape[-2] if kp.shape.rank and kp.shape.rank >= 2 else -1, "flip_keypoints_tf"
    )
    out = tf.gather(kp, perm, axis=-2)
    x = -out[..., :1] if img_width is None else (img_width - 1) - out[..., :1]
    return tf.concat([x, out[..., 1:]], axis=-1)


def reflect_joints3d(joints: np.ndarray) -> np.ndarray:
    """Mirror 3D joints as the original: permute L/R, negate x, subtract the joint mean.

    Args:
        joints: ``(..., 14, 3)`` LSP joints (25 HMMR joints also accepted).
    Returns:
        ``(..., J, 3)`` mirrored joints, centred on their mean (so reflecting twice gives the
        input minus its mean).
    """
    joints = np.asarray(joints)
    perm = _flip_perm(joints.shape[-2] if joints.ndim >= 2 else -1, "reflect_joints3d")
    out = joints[..., list(perm), :].copy()
    out[..., 0] = -out[..., 0]
    return out - out.mean(axis=-2, keepdims=True)


def reflect_joints3d_tf(joints: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`reflect_joints3d`: ``(..., J, 3) -> (..., J, 3)``."""
    joints = tf.convert_to_tensor(joints)
    rank = joints.shape.rank
    perm = _flip_perm(joints.shape[-2] if rank and rank >= 2 else -1, "reflect_joints3d_tf")
    out = tf.gather(joints, perm, axis=-2)
    out = out * tf.constant([-1.0, 1.0, 1.0], joints.dtype)
    return out - tf.reduce_mean(out, axis=-2, keepdims=True)
