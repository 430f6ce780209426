"""Each HMMR loss term as a pure tf function, reduced exactly as the original
(docs/original_release.md §5).

TF1's ``tf.losses.*`` divide the weighted sum of the element losses by the number of non-zero
weights after broadcasting, and return 0 when there is none (§5.1). Under ``tf.distribute`` that
count must be the GLOBAL one, so every term here returns a :class:`Ratio`: a vector of numerators
and a vector of denominators (one entry per part; most terms have one part, ``smpl`` and the
discriminator term have two). Its value is ``sum_p numerator_p / denominator_p`` with 0 for a part
whose denominator is 0. A trainer that all-reduces (sums) both vectors over replicas before dividing
gets the single-device loss; :func:`ratio_value` does the division, NaN-free, with finite gradients.

Every ``*_sum_count`` function has a twin without the suffix that returns the scalar value.

Shapes: ``...`` is any leading batch shape (e.g. ``(B, T)``); K = 25 keypoints, J = 14 joints.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from src.geometry.projection import optimal_camera, project_weak_perspective
from src.joints import PELVIS_JOINTS

_HALF = 0.5  # the original multiplies its 3D and constancy MSEs by 0.5


class Ratio(NamedTuple):
    """A loss term as ``sum_p numerator[p] / denominator[p]`` (parts with denominator 0 give 0).

    Attributes:
        numerator: ``(P,)`` weighted sums of element losses.
        denominator: ``(P,)`` numbers of non-zero weights (same dtype as ``numerator``).
    """

    numerator: tf.Tensor
    denominator: tf.Tensor


def ratio_value(ratio: Ratio, denominator: tf.Tensor | None = None) -> tf.Tensor:
    """Scalar value of a term; 0 for parts with nothing to average, finite gradients.

    Args:
        ratio: the term.
        denominator: optional ``(P,)`` replacement for ``ratio.denominator``, e.g. the denominators
            summed over all replicas, so that summing the replicas' values gives the global loss.
    Returns:
        ``()`` the term's value.
    """
    den = ratio.denominator if denominator is None else tf.cast(denominator, ratio.numerator.dtype)
    return tf.reduce_sum(tf.math.divide_no_nan(ratio.numerator, den))


def add_ratios(*ratios: Ratio) -> Ratio:
    """Sum of terms (the original's ``losses[key] += ...``): the parts are concatenated."""
    if not ratios:
        raise ValueError("add_ratios: expected at least one Ratio")
    dtype = ratios[0].numerator.dtype
    return Ratio(
        tf.concat([tf.cast(r.numerator, dtype) for r in ratios], axis=0),
        tf.concat([tf.cast(r.denominator, dtype) for r in ratios], axis=0),
    )


def zero_ratio(dtype: tf.DType = tf.float32) -> Ratio:
    """A term that is 0 (the original's ``tf.constant(0.)`` placeholders), one part."""
    return Ratio(tf.zeros([1], dtype), tf.zeros([1], dtype))


def weighted_sum_count(losses: tf.Tensor, weights: tf.Tensor | float = 1.0) -> Ratio:
    """TF1 ``SUM_BY_NONZERO_WEIGHTS`` reduction as one part.

    Elements whose weight is 0 are excluded with ``tf.where`` (not multiplied by 0) so that a
    non-finite value there cannot leak into the sum or its gradient.

    Args:
        losses: ``(...)`` element losses.
        weights: broadcastable to ``losses``.
    Returns:
        Ratio with numerator ``sum(w * losses)`` and denominator ``count(w != 0)``, shapes ``(1,)``.
    """
    losses = tf.convert_to_tensor(losses)
    weights = tf.broadcast_to(tf.cast(weights, losses.dtype), tf.shape(losses))
    present = tf.not_equal(weights, 0)
    total = tf.reduce_sum(tf.where(present, weights * losses, tf.zeros_like(losses)))
    count = tf.reduce_sum(tf.cast(present, losses.dtype))
    return Ratio(tf.reshape(total, [1]), tf.reshape(count, [1]))


def _sample_weights(mask: tf.Tensor, rank: int, dtype: tf.DType) -> tf.Tensor:
    """``(...)`` per-sample mask -> ``(..., 1 x rank)`` weights broadcastable over element axes."""
    mask = tf.cast(mask, dtype)
    return tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([rank], tf.int32)], axis=0))


# ----------------------------------------------------------------------------------------------
# 2D keypoints


def keypoint_l1_sum_count(kp_gt: tf.Tensor, kp_pred: tf.Tensor) -> Ratio:
    """Keypoint L1 weighted by visibility: ``sum_vis (|dx| + |dy|) / (2 #visible)`` (§5.1).

    Args:
        kp_gt: ``(..., K, 3)`` GT ``(x, y, vis)`` normalised to [-1, 1].
        kp_pred: ``(..., K, 2)`` predicted projections.
    Returns:
        Ratio with one part.
    """
    kp_pred = tf.convert_to_tensor(kp_pred)
    kp_gt = tf.cast(kp_gt, kp_pred.dtype)
    residual = tf.abs(kp_gt[..., :2] - kp_pred)  # (..., K, 2)
    return weighted_sum_count(residual, kp_gt[..., 2:3])


def keypoint_l1(kp_gt: tf.Tensor, kp_pred: tf.Tensor) -> tf.Tensor:
    """Value of :func:`keypoint_l1_sum_count`, ``()``."""
    return ratio_value(keypoint_l1_sum_count(kp_gt, kp_pred))


def optcam_keypoint_l1_sum_count(
    kp_gt: tf.Tensor, pred_joints: tf.Tensor
) -> tuple[Ratio, tf.Tensor]:
    """Keypoint L1 after the optimal camera, as used for past/future predictions (§5.3).

    The camera is fitted per sample to the visible GT points (scale clipped to [0.7, 10]) and
    carries no gradient; the gradient reaches ``pred_joints`` only through the projection.

    Args:
        kp_gt: ``(N, K, 3)`` GT keypoints ``(x, y, vis)``.
        pred_joints: ``(N, K, 3)`` predicted 3D joints (x, y used: the raw "projection").
    Returns:
        ``(Ratio with one part, cam (N, 3))``; the camera is only useful for visualisation.
    """
    pred_joints = tf.convert_to_tensor(pred_joints)
    kp_gt = tf.cast(kp_gt, pred_joints.dtype)
    cam = tf.stop_gradient(optimal_camera(pred_joints[..., :2], kp_gt))  # (N, 3)
    kp_pred = project_weak_perspective(pred_joints, cam)  # (N, K, 2)
    return keypoint_l1_sum_count(kp_gt, kp_pred), cam


# ----------------------------------------------------------------------------------------------
# 3D supervision


def align_by_pelvis(joints: tf.Tensor) -> tf.Tensor:
    """Subtract the mid-hip point: ``(..., J, 3) -> (..., J, 3)`` (J >= 4, LSP order)."""
    hips = tf.gather(joints, list(PELVIS_JOINTS), axis=-2)  # (..., 2, 3)
    return joints - tf.reduce_mean(hips, axis=-2, keepdims=True)


def joints3d_sum_count(joints_gt: tf.Tensor, joints_pred: tf.Tensor, has_3d: tf.Tensor) -> Ratio:
    """0.5 MSE of pelvis-aligned 3D joints, over the samples with GT (§5.2 ``e_joints``).

    The denominator is (number of samples with GT) x J x 3, as TF1's broadcast weights give.

    Args:
        joints_gt: ``(..., J, 3)`` GT joints in metres (J = 14 LSP joints).
        joints_pred: ``(..., J, 3)`` predicted joints (the first 14 of the 25).
        has_3d: ``(...)`` 1 where the sample has 3D joints, else 0.
    Returns:
        Ratio with one part.
    """
    joints_pred = tf.convert_to_tensor(joints_pred)
    joints_gt = tf.cast(joints_gt, joints_pred.dtype)
    sq = tf.square(align_by_pelvis(joints_gt) - align_by_pelvis(joints_pred))  # (..., J, 3)
    weights = _sample_weights(has_3d, 2, sq.dtype)
    part = weighted_sum_count(sq, weights)
    return Ratio(_HALF * part.numerator, part.denominator)


def joints3d_loss(joints_gt: tf.Tensor, joints_pred: tf.Tensor, has_3d: tf.Tensor) -> tf.Tensor:
    """Value of :func:`joints3d_sum_count`, ``()``."""
    return ratio_value(joints3d_sum_count(joints_gt, joints_pred, has_3d))


def smpl_sum_count(
    rotmats_gt: tf.Tensor,
    rotmats_pred: tf.Tensor,
    betas_gt: tf.Tensor,
    betas_pred: tf.Tensor,
    has_smpl: tf.Tensor,
) -> Ratio:
    """0.5 MSE of the 24 x 9 rotation matrices + 0.5 MSE of betas, masked by ``has_smpl`` (§5.2).

    Args:
        rotmats_gt: ``(..., 24, 3, 3)`` GT rotations (Rodrigues of the GT axis-angle, root
            included).
        rotmats_pred: ``(..., 24, 3, 3)`` predicted rotations.
        betas_gt: ``(..., 10)`` GT shape.
        betas_pred: ``(..., 10)`` predicted shape.
        has_smpl: ``(...)`` 1 where the sample has SMPL (MoSh) GT, else 0.
    Returns:
        Ratio with two parts: rotations (denominator 216 n), betas (denominator 10 n).
    """
    rotmats_pred = tf.convert_to_tensor(rotmats_pred)
    dtype = rotmats_pred.dtype
    rot_sq = tf.square(tf.cast(rotmats_gt, dtype) - rotmats_pred)  # (..., 24, 3, 3)
    beta_sq = tf.square(tf.cast(betas_gt, dtype) - tf.cast(betas_pred, dtype))  # (..., 10)
    rot = weighted_sum_count(rot_sq, _sample_weights(has_smpl, 3, dtype))
    beta = weighted_sum_count(beta_sq, _sample_weights(has_smpl, 1, dtype))
    both = add_ratios(rot, beta)
    return Ratio(_HALF * both.numerator, both.denominator)


def smpl_loss(
    rotmats_gt: tf.Tensor,
    rotmats_pred: tf.Tensor,
    betas_gt: tf.Tensor,
    betas_pred: tf.Tensor,
    has_smpl: tf.Tensor,
) -> tf.Tensor:
    """Value of :func:`smpl_sum_count`, ``()``."""
    return ratio_value(smpl_sum_count(rotmats_gt, rotmats_pred, betas_gt, betas_pred, has_smpl))


# ----------------------------------------------------------------------------------------------
# Priors and the hallucinator


def shape_constancy_sum_count(betas: tf.Tensor) -> Ratio:
    """0.5 MSE between the betas of consecutive frames, unmasked (§5.2 ``e_const``).

    Args:
        betas: ``(B, T, 10)`` predicted shape of the present path.
    Returns:
        Ratio with one part, denominator B (T - 1) 10.
    """
    betas = tf.convert_to_tensor(betas)
    part = weighted_sum_count(tf.square(betas[:, 1:] - betas[:, :-1]))
    return Ratio(_HALF * part.numerator, part.denominator)


def shape_constancy(betas: tf.Tensor) -> tf.Tensor:
    """Value of :func:`shape_constancy_sum_count`, ``()``."""
    return ratio_value(shape_constancy_sum_count(betas))


def shape_prior_sum_count(betas: tf.Tensor) -> Ratio:
    """``mean(beta^2)`` over all predicted betas (§5.2 ``e_shape``).

    Args:
        betas: ``(N, 10)`` every predicted shape fed to the discriminator.
    Returns:
        Ratio with one part, denominator N 10.
    """
    return weighted_sum_count(tf.square(tf.convert_to_tensor(betas)))


def shape_prior(betas: tf.Tensor) -> tf.Tensor:
    """Value of :func:`shape_prior_sum_count`, ``()``."""
    return ratio_value(shape_prior_sum_count(betas))


def hallucination_sum_count(movie_strip: tf.Tensor, movie_strip_hal: tf.Tensor) -> Ratio:
    """Plain MSE between the movie strip and its hallucination, no 0.5 (§5.2 ``e_hallucinate``).

    No stop-gradient: as in the original, it pulls both the hallucinator and the temporal encoder.

    Args:
        movie_strip: ``(B, T, D)`` temporal encoder output Phi.
        movie_strip_hal: ``(B, T, D)`` hallucinated Phi-hat.
    Returns:
        Ratio with one part, denominator B T D.
    """
    movie_strip_hal = tf.convert_to_tensor(movie_strip_hal)
    movie_strip = tf.cast(movie_strip, movie_strip_hal.dtype)
    return weighted_sum_count(tf.square(movie_strip - movie_strip_hal))


def hallucination_loss(movie_strip: tf.Tensor, movie_strip_hal: tf.Tensor) -> tf.Tensor:
    """Value of :func:`hallucination_sum_count`, ``()``."""
    return ratio_value(hallucination_sum_count(movie_strip, movie_strip_hal))


# ----------------------------------------------------------------------------------------------
# Adversarial (LSGAN) terms


def _sum_per_sample(values: tf.Tensor) -> Ratio:
    """``(N, C)`` -> numerator ``sum over N and C``, denominator N (mean over samples of sums)."""
    values = tf.convert_to_tensor(values)
    total = tf.reduce_sum(values)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    return Ratio(tf.reshape(total, [1]), tf.reshape(count, [1]))


def lsgan_generator_sum_count(d_fake: tf.Tensor) -> Ratio:
    """Encoder adversarial term: mean over samples of ``sum_24 (D(fake) - 1)^2`` (§5.2 ``e_pose``).

    Args:
        d_fake: ``(N, 24)`` discriminator outputs on predicted poses.
    Returns:
        Ratio with one part, denominator N.
    """
    d_fake = tf.convert_to_tensor(d_fake)
    return _sum_per_sample(tf.square(d_fake - 1.0))


def lsgan_generator(d_fake: tf.Tensor) -> tf.Tensor:
    """Value of :func:`lsgan_generator_sum_count`, ``()``."""
    return ratio_value(lsgan_generator_sum_count(d_fake))


def lsgan_discriminator_sum_count(d_real: tf.Tensor, d_fake: tf.Tensor) -> Ratio:
    """Discriminator term: ``mean sum (D(real) - 1)^2 + mean sum D(fake)^2`` (§5.2 ``d_pose``).

    Args:
        d_real: ``(M, 24)`` outputs on MoSh poses.
        d_fake: ``(N, 24)`` outputs on predicted poses.
    Returns:
        Ratio with two parts: real (denominator M), fake (denominator N).
    """
    d_real = tf.convert_to_tensor(d_real)
    d_fake = tf.cast(d_fake, d_real.dtype)
    return add_ratios(_sum_per_sample(tf.square(d_real - 1.0)), _sum_per_sample(tf.square(d_fake)))


def lsgan_discriminator(d_real: tf.Tensor, d_fake: tf.Tensor) -> tf.Tensor:
    """Value of :func:`lsgan_discriminator_sum_count`, ``()``."""
    return ratio_value(lsgan_discriminator_sum_count(d_real, d_fake))


# ----------------------------------------------------------------------------------------------
# Frame alignment of past/future predictions


def align_delta_frames(gt: tf.Tensor, pred: tf.Tensor, delta_t: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Pair GT frames with the predictions made ``delta_t`` frames earlier (§5.4).

    A prediction made at frame t for offset dt describes frame t + dt. Future (dt > 0): GT frames
    dt..T-1 against predictions at 0..T-1-dt. Past (dt < 0): GT frames 0..T-1-|dt| against
    predictions at |dt|..T-1. dt = 0 keeps all frames.

    Args:
        gt: ``(B, T, ...)`` GT per frame.
        pred: ``(B, T, ...)`` predictions per frame.
        delta_t: the offset.
    Returns:
        ``(gt (B, T - |dt|, ...), pred (B, T - |dt|, ...))``.
    """
    delta_t = int(delta_t)
    steps = gt.shape[1]
    if steps is not None and abs(delta_t) >= steps:
        raise ValueError(f"align_delta_frames: |delta_t|={abs(delta_t)} must be < T={steps}")
    if delta_t > 0:
        return gt[:, delta_t:], pred[:, :-delta_t]
    if delta_t < 0:
        return gt[:, :delta_t], pred[:, -delta_t:]
    return gt, pred
