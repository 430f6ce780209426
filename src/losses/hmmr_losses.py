"""Every HMMR loss term of docs/original_release.md §5.2, assembled from the model outputs and a
batch.

The recipe, as the original trainer builds it:

1. :func:`predict_bodies` runs the body model once on every prediction that is supervised or fed
   to the discriminator: the present path, each past/future predictor (``predict_delta``), the
   hallucinated present (``do_hallucinate``) and hallucinated past/future
   (``do_hallucinate_preds``). With ``use_hmr_only`` (the single-frame HMR ablation) the present
   path is the per-frame HMR prediction (``_static`` terms) and no past/future predictor of that
   path is supervised; with ``do_hallucinate`` as well, only the hallucinated predictions are.
2. :func:`encoder_loss_terms` compares them with the ground truth: present predictions use their
   own camera, past/future ones the optimal camera on frames aligned as §5.4; 3D terms only with
   ``use_3d_label``; plus shape constancy, the shape prior and the hallucination MSE.
3. :func:`discriminator_inputs` gives the fake and real rotations (root dropped) for the pose
   discriminator, whose outputs :func:`adversarial_loss_terms` turns into ``e_pose`` and ``d_pose``.
4. :func:`weighted_total` sums weight x term into the encoder and the discriminator losses.

Terms are :class:`~src.losses.terms.Ratio` (numerators, denominators), see ``terms.py``.
Several past (or future) offsets add into one key, as in the original.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from src import constants
from src.losses import terms
from src.losses.terms import Ratio
from src.losses.weights import LossWeights
from src.smpl.lbs import batch_rodrigues

BodyFn = Callable[[tf.Tensor], Mapping[str, tf.Tensor]]
# (path, delta_t): path "pred" (temporal encoder), "hal" (hallucinator) or "static" (per-frame HMR
# of the use_hmr_only ablation, present only), delta_t 0 = present
GroupKey = tuple[str, int]
PRED, HAL, STATIC = "pred", "hal", "static"
_PER_FRAME_FAMILIES = ("e_kp", "e_joints", "e_smpl")

_BATCH_KEYS_2D = ("kp2d",)
_BATCH_KEYS_3D = ("pose", "shape", "joints3d", "has_3d_joints", "has_smpl")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Switches of the original trainer that decide which terms exist
    (docs/original_release.md §2.5).

    Args:
        delta_t_values: offsets of the past/future predictors; sorted on construction, the order
            of the model's ``theta_delta`` axis.
        use_3d_label: compute the 3D joint and SMPL terms where GT exists.
        predict_delta: supervise the past/future predictions of the temporal path.
        do_hallucinate: hallucination MSE and present-frame terms on the hallucinated prediction.
        do_hallucinate_preds: also the past/future terms on hallucinated predictions.
        mosh_ignore: treat every sample as without SMPL GT.
        use_hmr_only: the original's single-frame HMR ablation. Without ``do_hallucinate`` the
            model's present prediction is supervised as the per-frame HMR one (``e_*_static``
            terms; the model must have no temporal encoder, ``num_conv_layers=0``); with
            ``do_hallucinate`` only the hallucinated predictions are (no ``e_hallucinate``,
            there is no movie strip to imitate). ``e_kp``, ``e_joints``, ``e_smpl``,
            ``e_const``, the ``_dt_`` terms (and ``e_hallucinate``) read 0, as in the original.
    """

    delta_t_values: tuple[int, ...] = constants.DELTA_T_VALUES
    use_3d_label: bool = True
    predict_delta: bool = True
    do_hallucinate: bool = False
    do_hallucinate_preds: bool = False
    mosh_ignore: bool = False
    use_hmr_only: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "delta_t_values", tuple(sorted(int(dt) for dt in self.delta_t_values))
        )
        if 0 in self.delta_t_values or len(set(self.delta_t_values)) != len(self.delta_t_values):
            raise ValueError(
                f"LossConfig: delta_t_values must be distinct and non-zero, got "
                f"{self.delta_t_values}"
            )


def num_real_mocap(
    batch_size: int,
    T: int,
    num_delta: int,
    do_hallucinate: bool,
    do_hallucinate_preds: bool,
    predict_delta: bool = True,
    use_hmr_only: bool = False,
) -> int:
    """Size of the MoSh batch that matches the number of fake poses exactly (§5.5).

    Fakes are B T frames from each supervised prediction: present, each offset (``predict_delta``),
    hallucinated present (``do_hallucinate``), hallucinated offsets (``do_hallucinate_preds``).
    With the defaults of ``do_train.sh`` (B 8, T 20, 2 offsets, both switches on): 960. Equal to
    the original's formula wherever that one is consistent (it ignored the hallucinated offsets
    when ``predict_delta`` is off and then stopped on a mismatch).

    With ``use_hmr_only`` the temporal path gives no fakes: B T static predictions without
    ``do_hallucinate`` (the original's ``T * batch_size``), otherwise the hallucinated ones only
    (the original halved its count: B T (1 + offsets) with ``do_hallucinate_preds``).
    """
    frames = batch_size * T
    if use_hmr_only:
        count = 0 if do_hallucinate else frames
    else:
        count = frames + (num_delta * frames if predict_delta else 0)
    if do_hallucinate:
        count += frames + (num_delta * frames if do_hallucinate_preds else 0)
    return count


# ----------------------------------------------------------------------------------------------
# 1. Bodies of every prediction


def _require(mapping: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise ValueError(f"{what}: missing {missing}; has {sorted(mapping)}")


def prediction_groups(
    outputs: Mapping[str, tf.Tensor], config: LossConfig
) -> dict[GroupKey, tf.Tensor]:
    """The thetas that the losses use, by (path, delta_t), in the original's order of terms.

    Args:
        outputs: ``HMMR.call`` outputs: ``theta`` (B, T, 85), ``theta_delta`` (B, T, len(dt), 85)
            and, when hallucinating, ``theta_hal``, ``theta_hal_delta``.
        config: switches.
    Returns:
        dict (path, dt) -> theta ``(B, T, 85)``. With ``use_hmr_only``: ``(STATIC, 0)`` (the
        model's present prediction) without ``do_hallucinate``, only the HAL groups with it.
    """
    _require(outputs, ("theta",), "model outputs")
    groups: dict[GroupKey, tf.Tensor] = {}
    if not config.use_hmr_only:
        groups[(PRED, 0)] = outputs["theta"]
        if config.predict_delta:
            groups.update(_delta_groups(outputs, "theta_delta", PRED, config))
    elif not config.do_hallucinate:
        groups[(STATIC, 0)] = outputs["theta"]
    if config.do_hallucinate:
        _require(outputs, ("theta_hal",), "model outputs (do_hallucinate)")
        groups[(HAL, 0)] = outputs["theta_hal"]
        if config.do_hallucinate_preds:
            groups.update(_delta_groups(outputs, "theta_hal_delta", HAL, config))
    return groups


def _delta_groups(
    outputs: Mapping[str, tf.Tensor], key: str, path: str, config: LossConfig
) -> dict[GroupKey, tf.Tensor]:
    _require(outputs, (key,), f"model outputs ({path} past/future)")
    theta_delta = outputs[key]  # (B, T, len(dt), 85)
    num_dt = len(config.delta_t_values)
    if theta_delta.shape.rank != 4 or theta_delta.shape[2] != num_dt:
        raise ValueError(
            f"model outputs: expected {key} (B, T, {num_dt}, {constants.THETA_DIM}) for "
            f"delta_t_values {config.delta_t_values}, got {tuple(theta_delta.shape)}"
        )
    return {(path, dt): theta_delta[:, :, i] for i, dt in enumerate(config.delta_t_values)}


def predict_bodies(
    outputs: Mapping[str, tf.Tensor], body_fn: BodyFn, config: LossConfig
) -> dict[GroupKey, dict[str, tf.Tensor]]:
    """Body model on every prediction, in one call of ``body_fn``.

    Args:
        outputs: ``HMMR.call`` outputs (see :func:`prediction_groups`).
        body_fn: ``theta (N, 85) -> dict(joints (N, 25, 3), rotmats (N, 24, 3, 3),
            kp2d (N, 25, 2) projected with theta's camera, ...)``.
        config: switches.
    Returns:
        dict (path, dt) -> body dict with every entry reshaped to ``(B, T, ...)`` and ``theta``
        ``(B, T, 85)`` added.
    """
    groups = prediction_groups(outputs, config)
    theta0 = next(iter(groups.values()))
    batch, steps = tf.shape(theta0)[0], tf.shape(theta0)[1]
    flat = tf.concat([tf.reshape(t, [-1, constants.THETA_DIM]) for t in groups.values()], axis=0)
    body = body_fn(flat)
    _require(body, ("joints", "rotmats", "kp2d"), "body_fn result")
    bodies: dict[GroupKey, dict[str, tf.Tensor]] = {key: {"theta": t} for key, t in groups.items()}
    for name, value in body.items():
        parts = tf.split(value, len(groups), axis=0)
        for key, part in zip(groups, parts, strict=True):
            shape = tf.concat([[batch, steps], tf.shape(part)[1:]], axis=0)
            bodies[key][name] = tf.reshape(part, shape)
    return bodies


# ----------------------------------------------------------------------------------------------
# 2. Encoder terms


def loss_suffix(path: str, delta_t: int) -> str:
    """Key suffix of the original: '' / '_dt_past' / '_dt_future' / '_hal' / '_hal_past' / ...
    / '_static' (per-frame HMR, present only)."""
    if path == STATIC:
        if delta_t != 0:
            raise ValueError(f"loss_suffix: the static path has no offset, got {delta_t}")
        return "_static"
    if path == PRED:
        return "" if delta_t == 0 else ("_dt_future" if delta_t > 0 else "_dt_past")
    base = "_hal"
    return base if delta_t == 0 else base + ("_future" if delta_t > 0 else "_past")


def encoder_loss_terms(
    batch: Mapping[str, tf.Tensor],
    outputs: Mapping[str, tf.Tensor],
    body_fn: BodyFn | None,
    weights: LossWeights | None,
    config: LossConfig,
    bodies: Mapping[GroupKey, Mapping[str, tf.Tensor]] | None = None,
) -> dict[str, Ratio]:
    """All ``e_*`` terms of §5.2 except ``e_pose`` (which needs the discriminator).

    Args:
        batch: ``kp2d`` (B, T, 25, 3) normalised with vis (invisible rows zero); for the 3D terms
            ``pose`` (B, T, 72) GT axis-angle, ``shape`` (B, 10), ``joints3d`` (B, T, 14, 3)
            metres, ``has_3d_joints`` (B,), ``has_smpl`` (B,). (``phi`` is not used here.)
        outputs: ``HMMR.call`` outputs; ``movie_strip`` and ``movie_strip_hal`` (B, T, D) for
            the hallucination term.
        body_fn: see :func:`predict_bodies`; may be None when ``bodies`` is given.
        weights: when given, a term whose weight is 0 is not computed and reads 0 (its weighted
            contribution is 0 either way).
        config: switches.
        bodies: the result of :func:`predict_bodies`, to share it with the discriminator inputs.
    Returns:
        dict key -> Ratio with the original keys: ``e_kp``, ``e_joints``, ``e_smpl``, ``e_const``,
        ``e_shape``; with ``predict_delta`` ``e_{kp,joints,smpl}_dt_{past,future}``; with
        ``do_hallucinate`` ``e_hallucinate``, ``e_{kp,joints,smpl}_hal`` and, with
        ``do_hallucinate_preds``, ``e_{kp,joints,smpl}_hal_{past,future}``. With
        ``use_hmr_only`` also ``e_{kp,joints,smpl}_static`` (without ``do_hallucinate``) and the
        temporal-path keys above read 0 (see :class:`LossConfig`).
    """
    _require(batch, _BATCH_KEYS_2D + (_BATCH_KEYS_3D if config.use_3d_label else ()), "batch")
    if bodies is None:
        if body_fn is None:
            raise ValueError("encoder_loss_terms: give body_fn or bodies")
        bodies = predict_bodies(outputs, body_fn, config)

    def wanted(key: str) -> bool:
        return weights is None or weights.weight_for(key) > 0

    dtype = next(iter(bodies.values()))["joints"].dtype
    gt = _ground_truth(batch, config, dtype, need_smpl=config.use_3d_label)
    out: dict[str, Ratio] = {}
    for (path, dt), body in bodies.items():
        suffix = loss_suffix(path, dt)
        for family, fn in (("e_kp", _kp_term), ("e_joints", _joints_term), ("e_smpl", _smpl_term)):
            key = family + suffix
            skip_3d = family != "e_kp" and not config.use_3d_label
            if skip_3d or not wanted(key):
                term = terms.zero_ratio(dtype)
            else:
                term = fn(gt, body, dt)
            out[key] = terms.add_ratios(out[key], term) if key in out else term
    for key in _inactive_keys(config):
        out.setdefault(key, terms.zero_ratio(dtype))

    if (PRED, 0) in bodies and wanted("e_const"):
        betas = bodies[(PRED, 0)]["theta"][..., constants.SHAPE_SLICE]  # (B, T, 10)
        out["e_const"] = terms.shape_constancy_sum_count(betas)
    else:
        out["e_const"] = terms.zero_ratio(dtype)
    all_betas = tf.concat(
        [
            tf.reshape(b["theta"][..., constants.SHAPE_SLICE], [-1, constants.NUM_SHAPE])
            for b in bodies.values()
        ],
        axis=0,
    )
    out["e_shape"] = (
        terms.shape_prior_sum_count(all_betas) if wanted("e_shape") else terms.zero_ratio(dtype)
    )
    if config.do_hallucinate and not config.use_hmr_only:
        _require(outputs, ("movie_strip", "movie_strip_hal"), "model outputs (do_hallucinate)")
        out["e_hallucinate"] = (
            terms.hallucination_sum_count(outputs["movie_strip"], outputs["movie_strip_hal"])
            if wanted("e_hallucinate")
            else terms.zero_ratio(dtype)
        )
    elif config.do_hallucinate:  # use_hmr_only: no movie strip to imitate
        out["e_hallucinate"] = terms.zero_ratio(dtype)
    return out


def _inactive_keys(config: LossConfig) -> list[str]:
    """Keys the original's ``use_hmr_only`` trainer kept as constant zeros: the temporal path's
    present terms and, with ``predict_delta``, its past/future terms."""
    if not config.use_hmr_only:
        return []
    offsets = [0]
    if config.predict_delta:
        offsets += list(config.delta_t_values)
    suffixes = dict.fromkeys(loss_suffix(PRED, dt) for dt in offsets)
    return [family + suffix for suffix in suffixes for family in _PER_FRAME_FAMILIES]


def _ground_truth(
    batch: Mapping[str, tf.Tensor], config: LossConfig, dtype: tf.DType, need_smpl: bool
) -> dict[str, tf.Tensor]:
    """GT per frame: kp2d (B,T,25,3); with 3D: joints3d (B,T,14,3), rotmats (B,T,24,3,3),
    betas (B,T,10), has_3d_joints (B,T), has_smpl (B,T)."""
    kp2d = tf.cast(batch["kp2d"], dtype)
    gt = {"kp2d": kp2d}
    if not need_smpl:
        return gt
    batch_size, steps = tf.shape(kp2d)[0], tf.shape(kp2d)[1]
    pose = tf.cast(batch["pose"], dtype)  # (B, T, 72)
    rotmats = batch_rodrigues(tf.reshape(pose, [-1, 3]))  # (B T 24, 3, 3)
    gt["rotmats"] = tf.reshape(rotmats, [batch_size, steps, constants.NUM_SMPL_JOINTS, 3, 3])
    shape = tf.cast(batch["shape"], dtype)  # (B, 10)
    gt["betas"] = tf.broadcast_to(shape[:, None, :], [batch_size, steps, constants.NUM_SHAPE])
    gt["joints3d"] = tf.cast(batch["joints3d"], dtype)
    has_smpl = tf.cast(batch["has_smpl"], dtype)
    if config.mosh_ignore:
        has_smpl = tf.zeros_like(has_smpl)
    for name, has in (
        ("has_3d_joints", tf.cast(batch["has_3d_joints"], dtype)),
        ("has_smpl", has_smpl),
    ):
        gt[name] = tf.broadcast_to(tf.reshape(has, [-1, 1]), [batch_size, steps])
    return gt


def _kp_term(gt: Mapping[str, tf.Tensor], body: Mapping[str, tf.Tensor], dt: int) -> Ratio:
    """Present: L1 against body kp2d (own camera); offsets: optimal camera on aligned frames."""
    if dt == 0:
        return terms.keypoint_l1_sum_count(gt["kp2d"], body["kp2d"])
    kp_gt, joints = terms.align_delta_frames(gt["kp2d"], body["joints"], dt)
    ratio, _ = terms.optcam_keypoint_l1_sum_count(kp_gt, joints)
    return ratio


def _joints_term(gt: Mapping[str, tf.Tensor], body: Mapping[str, tf.Tensor], dt: int) -> Ratio:
    joints_gt, joints_pred = terms.align_delta_frames(
        gt["joints3d"], body["joints"][..., : constants.NUM_LSP_JOINTS, :], dt
    )
    has, _ = terms.align_delta_frames(gt["has_3d_joints"], gt["has_3d_joints"], dt)
    return terms.joints3d_sum_count(joints_gt, joints_pred, has)


def _smpl_term(gt: Mapping[str, tf.Tensor], body: Mapping[str, tf.Tensor], dt: int) -> Ratio:
    rot_gt, rot_pred = terms.align_delta_frames(gt["rotmats"], body["rotmats"], dt)
    betas_pred = body["theta"][..., constants.SHAPE_SLICE]
    betas_gt, betas_pred = terms.align_delta_frames(gt["betas"], betas_pred, dt)
    has, _ = terms.align_delta_frames(gt["has_smpl"], gt["has_smpl"], dt)
    return terms.smpl_sum_count(rot_gt, rot_pred, betas_gt, betas_pred, has)


# ----------------------------------------------------------------------------------------------
# 3. Adversarial terms


def discriminator_inputs(
    bodies: Mapping[GroupKey, Mapping[str, tf.Tensor]], real_pose: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Fake and real rotations for the pose discriminator, root joint dropped (§5.5).

    Args:
        bodies: :func:`predict_bodies` result; every group's ``rotmats`` (B, T, 24, 3, 3).
        real_pose: ``(M, 72)`` MoSh axis-angle poses, M = :func:`num_real_mocap`.
    Returns:
        ``(fake (N, 23, 3, 3), real (M, 23, 3, 3))``.
    Raises:
        ValueError: when M and N are known and differ (the original stopped there).
    """
    fake = tf.concat(
        [tf.reshape(b["rotmats"], [-1, constants.NUM_SMPL_JOINTS, 3, 3]) for b in bodies.values()],
        axis=0,
    )
    real_pose = tf.cast(real_pose, fake.dtype)
    if real_pose.shape.rank != 2 or real_pose.shape[-1] != constants.NUM_POSE:
        raise ValueError(
            f"discriminator_inputs: expected real_pose (M, {constants.NUM_POSE}), "
            f"got {tuple(real_pose.shape)}"
        )
    num_fake, num_real = fake.shape[0], real_pose.shape[0]
    if num_fake is not None and num_real is not None and num_fake != num_real:
        raise ValueError(
            f"discriminator_inputs: {num_real} real poses for {num_fake} fake ones; the real batch "
            "must match (see num_real_mocap)"
        )
    real = batch_rodrigues(tf.reshape(real_pose, [-1, 3]))
    real = tf.reshape(real, [-1, constants.NUM_SMPL_JOINTS, 3, 3])
    return fake[:, 1:], real[:, 1:]


def adversarial_loss_terms(d_real: tf.Tensor, d_fake: tf.Tensor) -> dict[str, Ratio]:
    """LSGAN terms from the discriminator outputs.

    Args:
        d_real: ``(M, 24)`` outputs on real poses.
        d_fake: ``(N, 24)`` outputs on fake poses.
    Returns:
        ``{"e_pose": generator term, "d_pose": discriminator term}``.
    """
    return {
        "e_pose": terms.lsgan_generator_sum_count(d_fake),
        "d_pose": terms.lsgan_discriminator_sum_count(d_real, d_fake),
    }


# ----------------------------------------------------------------------------------------------
# 4. Totals


def weighted_total(
    loss_terms: Mapping[str, Ratio],
    weights: LossWeights,
    denominators: Mapping[str, tf.Tensor] | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Encoder and discriminator losses: sums of weight x value over ``e_*`` and ``d_*`` keys.

    Args:
        loss_terms: key -> Ratio (e.g. encoder terms merged with the adversarial terms).
        weights: the loss weights.
        denominators: optional key -> ``(P,)`` denominators to divide by instead, e.g. summed over
            replicas for an exact global mean under ``tf.distribute``.
    Returns:
        ``(e_loss (), d_loss ())``.
    """
    e_loss, d_loss = tf.constant(0.0), tf.constant(0.0)
    for key, ratio in loss_terms.items():
        den = None if denominators is None else denominators.get(key)
        value = terms.ratio_value(ratio, den)
        weighted = tf.cast(weights.weight_for(key), value.dtype) * value
        if key.startswith("e_"):
            e_loss = tf.cast(e_loss, value.dtype) + weighted
        elif key.startswith("d_"):
            d_loss = tf.cast(d_loss, value.dtype) + weighted
        else:
            raise ValueError(f"weighted_total: loss key {key!r} starts with neither e_ nor d_")
    return e_loss, d_loss
