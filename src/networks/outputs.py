"""theta (85) -> body: SMPL mesh, joints, rotations and projected 2D keypoints (§3.8, §4.4).

theta = [camera 3 | pose 72 | shape 10]; camera = weak perspective [s, tx, ty] over the
normalised [-1, 1] crop.
"""

from __future__ import annotations

import tensorflow as tf

from src import constants
from src.geometry.projection import project_weak_perspective


def theta_to_body(
    smpl, theta: tf.Tensor, cam: tf.Tensor | None = None, with_vertices: bool = True
) -> dict[str, tf.Tensor]:
    """Run SMPL on theta of any leading shape and project its joints.

    Args:
        smpl: a :class:`src.smpl.SMPL` layer: ``smpl(betas (N, 10), thetas (N, 72))``, and
            ``smpl(betas, thetas, joints_only=True)`` when ``with_vertices`` is False.
        theta: (..., 85).
        cam: (..., 3) camera to project with (e.g. the present frame's camera for the delta
            predictions), or None to use theta's own camera ``theta[..., :3]``.
        with_vertices: False runs the body model's joints-only pass (same joints, rotations and
            keypoints up to round-off, several times cheaper) and leaves ``vertices`` out.
    Returns:
        dict with ``cam`` (..., 3) the camera used, ``pose`` (..., 72), ``shape`` (..., 10),
        ``rotmats`` (..., 24, 3, 3), ``vertices`` (..., V, 3) (only ``with_vertices``),
        ``joints`` (..., K, 3), ``kp2d`` (..., K, 2).
    """
    theta = tf.convert_to_tensor(theta)
    if theta.shape[-1] != constants.THETA_DIM:
        raise ValueError(
            f"theta_to_body: expected theta (..., {constants.THETA_DIM}), got {theta.shape}"
        )
    lead = tf.shape(theta)[:-1]
    flat = tf.reshape(theta, [-1, constants.THETA_DIM])
    pose = flat[:, constants.POSE_SLICE]
    shape = flat[:, constants.SHAPE_SLICE]
    if cam is None:
        cam_flat = flat[:, constants.CAM_SLICE]
    else:
        cam_flat = tf.reshape(tf.cast(cam, theta.dtype), [-1, constants.NUM_CAM])
    body = smpl(shape, pose) if with_vertices else smpl(shape, pose, joints_only=True)
    joints = tf.cast(body["joints"], theta.dtype)
    out = {
        "cam": cam_flat,
        "pose": pose,
        "shape": shape,
        "rotmats": tf.cast(body["rotmats"], theta.dtype),
        "joints": joints,
        "kp2d": project_weak_perspective(joints, cam_flat),
    }
    if with_vertices:
        out["vertices"] = tf.cast(body["vertices"], theta.dtype)
    return {key: _restore_lead(value, lead) for key, value in out.items()}


def _restore_lead(value: tf.Tensor, lead: tf.Tensor) -> tf.Tensor:
    """(N, ...) -> (*lead, ...)."""
    return tf.reshape(value, tf.concat([lead, tf.shape(value)[1:]], axis=0))
