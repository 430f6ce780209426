"""Loss terms vs float64 NumPy references written here, element by element
(docs/original_release.md §5)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.losses import terms

RNG = np.random.default_rng(0)


def _value(ratio: terms.Ratio) -> float:
    return float(terms.ratio_value(ratio).numpy())


# ---------------------------------------------------------------------------------------------
# NumPy references (loops over elements, TF1 "sum / #non-zero weights, 0 if none")


def ref_keypoint_l1(kp_gt: np.ndarray, kp_pred: np.ndarray) -> float:
    gt = kp_gt.reshape(-1, kp_gt.shape[-2], 3)
    pred = kp_pred.reshape(-1, kp_pred.shape[-2], 2)
    total, count = 0.0, 0
    for n in range(gt.shape[0]):
        for k in range(gt.shape[1]):
            vis = gt[n, k, 2]
            if vis != 0:
                total += vis * (abs(gt[n, k, 0] - pred[n, k, 0]) + abs(gt[n, k, 1] - pred[n, k, 1]))
                count += 2
    return total / count if count else 0.0


def ref_pelvis_mse(gt: np.ndarray, pred: np.ndarray, has: np.ndarray) -> float:
    gt = gt.reshape(-1, gt.shape[-2], 3)
    pred = pred.reshape(-1, pred.shape[-2], 3)
    has = has.reshape(-1)
    total, count = 0.0, 0
    for n in range(gt.shape[0]):
        if has[n] == 0:
            continue
        g = gt[n] - 0.5 * (gt[n, 2] + gt[n, 3])  # LSP hips are joints 2 and 3
        p = pred[n] - 0.5 * (pred[n, 2] + pred[n, 3])
        total += has[n] * np.sum((g - p) ** 2)
        count += g.size
    return 0.5 * total / count if count else 0.0


def ref_masked_mse(gt: np.ndarray, pred: np.ndarray, has: np.ndarray) -> float:
    gt = gt.reshape(has.size, -1)
    pred = pred.reshape(has.size, -1)
    has = has.reshape(-1)
    rows = has != 0
    if not rows.any():
        return 0.0
    return 0.5 * np.sum(has[rows, None] * (gt[rows] - pred[rows]) ** 2) / (rows.sum() * gt.shape[1])


def ref_optcam(pred_xy: np.ndarray, gt_kp: np.ndarray) -> np.ndarray:
    """Per sample: s = trace(A^-1 B) / 2 clipped to [0.7, 10], t = mu_y / s - mu_x."""
    cams = []
    for x, g in zip(pred_xy, gt_kp, strict=True):
        v = (g[:, 2] > 0).astype(np.float64)[:, None]
        if v.sum() == 0:
            cams.append([1.0, 0.0, 0.0])
            continue
        mu_x = (v * x).sum(0) / v.sum()
        mu_y = (v * g[:, :2]).sum(0) / v.sum()
        xc, yc = v * (x - mu_x), v * (g[:, :2] - mu_y)
        a = xc.T @ xc + 1e-6 * np.eye(2)
        s = np.clip(np.trace(np.linalg.inv(a) @ (xc.T @ yc)) / 2.0, 0.7, 10.0)
        cams.append([s, *(mu_y / s - mu_x)])
    return np.array(cams)


def _kp(shape: tuple[int, ...], frac_visible: float = 0.6) -> np.ndarray:
    kp = RNG.uniform(-1, 1, (*shape, 3))
    vis = (RNG.uniform(size=shape) < frac_visible).astype(np.float64)
    kp[..., 2] = vis
    kp[..., :2] *= vis[..., None]  # invisible rows are all zero, as in the pipeline
    return kp


# ---------------------------------------------------------------------------------------------
# Keypoints


def test_keypoint_l1_matches_reference_over_visible_points():
    kp_gt = _kp((3, 4, 25))
    kp_pred = RNG.normal(size=(3, 4, 25, 2))
    ratio = terms.keypoint_l1_sum_count(tf.constant(kp_gt), tf.constant(kp_pred))
    assert _value(ratio) == pytest.approx(ref_keypoint_l1(kp_gt, kp_pred), rel=1e-12)
    assert float(ratio.denominator[0]) == 2 * kp_gt[..., 2].sum()


def test_keypoint_l1_float32_matches_reference():
    kp_gt = _kp((2, 5, 25))
    kp_pred = RNG.normal(size=(2, 5, 25, 2))
    got = terms.keypoint_l1(tf.constant(kp_gt, tf.float32), tf.constant(kp_pred, tf.float32))
    assert got.dtype == tf.float32
    assert float(got) == pytest.approx(ref_keypoint_l1(kp_gt, kp_pred), rel=1e-5)


def test_keypoint_l1_all_invisible_is_zero_with_finite_gradient():
    kp_gt = np.zeros((2, 3, 25, 3))
    pred = tf.Variable(RNG.normal(size=(2, 3, 25, 2)))
    with tf.GradientTape() as tape:
        loss = terms.keypoint_l1(tf.constant(kp_gt), pred)
    grad = tape.gradient(loss, pred)
    assert float(loss) == 0.0
    assert np.all(np.isfinite(grad.numpy()))


def test_keypoint_l1_ignores_nan_in_invisible_rows():
    kp_gt = _kp((4, 25))
    kp_gt[:, 0] = 0.0  # joint 0 invisible everywhere
    pred = RNG.normal(size=(4, 25, 2))
    pred_nan = pred.copy()
    pred_nan[:, 0] = np.nan
    got = terms.keypoint_l1(tf.constant(kp_gt), tf.constant(pred_nan))
    assert float(got) == pytest.approx(ref_keypoint_l1(kp_gt, pred), rel=1e-12)


def test_optcam_keypoint_l1_matches_reference_camera_and_loss():
    kp_gt = _kp((6, 25), frac_visible=0.7)
    joints = RNG.normal(scale=0.5, size=(6, 25, 3))
    ratio, cam = terms.optcam_keypoint_l1_sum_count(tf.constant(kp_gt), tf.constant(joints))
    cam_ref = ref_optcam(joints[..., :2], kp_gt)
    np.testing.assert_allclose(cam.numpy(), cam_ref, rtol=1e-9, atol=1e-12)
    proj = cam_ref[:, None, :1] * (joints[..., :2] + cam_ref[:, None, 1:])
    assert _value(ratio) == pytest.approx(ref_keypoint_l1(kp_gt, proj), rel=1e-9)


def test_optcam_scale_is_clipped_for_a_mirrored_prediction():
    kp_gt = _kp((1, 25), frac_visible=1.0)
    joints = np.concatenate([-kp_gt[..., :2], np.zeros((1, 25, 1))], axis=-1)  # s* = -1
    _, cam = terms.optcam_keypoint_l1_sum_count(tf.constant(kp_gt), tf.constant(joints))
    assert float(cam[0, 0]) == pytest.approx(0.7)


def test_optcam_keypoint_gradient_flows_to_points_not_through_camera():
    kp_gt = _kp((5, 25), frac_visible=0.8)
    joints_np = RNG.normal(scale=0.5, size=(5, 25, 3))
    joints = tf.Variable(joints_np)
    with tf.GradientTape() as tape:
        ratio, _ = terms.optcam_keypoint_l1_sum_count(tf.constant(kp_gt), joints)
        loss = terms.ratio_value(ratio)
    grad = tape.gradient(loss, joints).numpy()
    # camera held constant: d/dx sum v |y - s (x + t)| / count = -s v sign(y - s (x + t)) / count
    cam = ref_optcam(joints_np[..., :2], kp_gt)
    s = cam[:, None, :1]
    resid = kp_gt[..., :2] - s * (joints_np[..., :2] + cam[:, None, 1:])
    count = 2 * kp_gt[..., 2].sum()
    expect_xy = -s * kp_gt[..., 2:3] * np.sign(resid) / count
    np.testing.assert_allclose(grad[..., :2], expect_xy, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(grad[..., 2], 0.0)


def test_optcam_keypoint_all_invisible_is_zero_with_finite_gradient():
    kp_gt = np.zeros((3, 25, 3))
    joints = tf.Variable(RNG.normal(size=(3, 25, 3)))
    with tf.GradientTape() as tape:
        ratio, cam = terms.optcam_keypoint_l1_sum_count(tf.constant(kp_gt), joints)
        loss = terms.ratio_value(ratio)
    assert float(loss) == 0.0
    assert np.all(np.isfinite(cam.numpy()))
    assert np.all(np.isfinite(tape.gradient(loss, joints).numpy()))


# ---------------------------------------------------------------------------------------------
# 3D


def test_joints3d_matches_pelvis_aligned_reference_with_partial_mask():
    gt = RNG.normal(size=(3, 4, 14, 3))
    pred = RNG.normal(size=(3, 4, 14, 3))
    has = np.repeat(np.array([1.0, 0.0, 1.0])[:, None], 4, axis=1)
    ratio = terms.joints3d_sum_count(tf.constant(gt), tf.constant(pred), tf.constant(has))
    assert _value(ratio) == pytest.approx(ref_pelvis_mse(gt, pred, has), rel=1e-12)
    assert float(ratio.denominator[0]) == 2 * 4 * 14 * 3


def test_joints3d_is_invariant_to_a_translation_of_the_prediction():
    gt = RNG.normal(size=(2, 14, 3))
    pred = RNG.normal(size=(2, 14, 3))
    has = np.ones(2)
    a = terms.joints3d_loss(tf.constant(gt), tf.constant(pred), tf.constant(has))
    b = terms.joints3d_loss(tf.constant(gt), tf.constant(pred + [0.3, -2.0, 5.0]), tf.constant(has))
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert float(a) > 0


def test_joints3d_without_any_gt_is_zero_with_finite_gradient():
    gt = RNG.normal(size=(2, 3, 14, 3))
    pred = tf.Variable(RNG.normal(size=(2, 3, 14, 3)))
    with tf.GradientTape() as tape:
        loss = terms.joints3d_loss(tf.constant(gt), pred, tf.zeros((2, 3), tf.float64))
    assert float(loss) == 0.0
    assert np.all(np.isfinite(tape.gradient(loss, pred).numpy()))


def test_smpl_term_is_half_mse_of_rotations_plus_half_mse_of_betas():
    rot_gt, rot_pred = RNG.normal(size=(2, 3, 2, 24, 3, 3))
    beta_gt, beta_pred = RNG.normal(size=(2, 3, 2, 10))
    has = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    ratio = terms.smpl_sum_count(*map(tf.constant, (rot_gt, rot_pred, beta_gt, beta_pred, has)))
    expect = ref_masked_mse(rot_gt, rot_pred, has) + ref_masked_mse(beta_gt, beta_pred, has)
    assert _value(ratio) == pytest.approx(expect, rel=1e-12)
    np.testing.assert_array_equal(ratio.denominator.numpy(), [3 * 216, 3 * 10])


def test_smpl_term_without_smpl_gt_is_zero_with_finite_gradient():
    rot_gt = RNG.normal(size=(4, 24, 3, 3))
    rot_pred = tf.Variable(RNG.normal(size=(4, 24, 3, 3)))
    beta_pred = tf.Variable(RNG.normal(size=(4, 10)))
    with tf.GradientTape() as tape:
        loss = terms.smpl_loss(rot_gt, rot_pred, np.zeros((4, 10)), beta_pred, np.zeros(4))
    grads = tape.gradient(loss, [rot_pred, beta_pred])
    assert float(loss) == 0.0
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


# ---------------------------------------------------------------------------------------------
# Priors, hallucination, adversarial


def test_shape_constancy_is_half_mse_of_consecutive_frames():
    betas = RNG.normal(size=(3, 6, 10))
    diffs = [(betas[b, t + 1] - betas[b, t]) ** 2 for b in range(3) for t in range(5)]
    expect = 0.5 * np.mean(diffs)
    assert float(terms.shape_constancy(tf.constant(betas))) == pytest.approx(expect, rel=1e-12)


def test_shape_prior_is_mean_of_squared_betas():
    betas = RNG.normal(size=(7, 10))
    expect = sum(b * b for b in betas.ravel()) / betas.size
    assert float(terms.shape_prior(tf.constant(betas))) == pytest.approx(expect, rel=1e-12)


def test_hallucination_loss_is_plain_mse_without_half():
    strip, strip_hal = RNG.normal(size=(2, 2, 5, 16))
    expect = np.sum((strip - strip_hal) ** 2) / strip.size
    got = terms.hallucination_loss(tf.constant(strip), tf.constant(strip_hal))
    assert float(got) == pytest.approx(expect, rel=1e-12)


def test_lsgan_generator_sums_24_outputs_then_averages_samples():
    d_fake = RNG.normal(size=(9, 24))
    expect = np.mean([np.sum((row - 1.0) ** 2) for row in d_fake])
    assert float(terms.lsgan_generator(tf.constant(d_fake))) == pytest.approx(expect, rel=1e-12)


def test_lsgan_discriminator_adds_real_and_fake_parts():
    d_real = RNG.normal(size=(6, 24))
    d_fake = RNG.normal(size=(6, 24))
    expect = np.mean(np.sum((d_real - 1) ** 2, 1)) + np.mean(np.sum(d_fake**2, 1))
    got = terms.lsgan_discriminator(tf.constant(d_real), tf.constant(d_fake))
    assert float(got) == pytest.approx(expect, rel=1e-12)


def test_lsgan_at_the_optimum_is_zero():
    ones, zeros = tf.ones((4, 24)), tf.zeros((4, 24))
    assert float(terms.lsgan_generator(ones)) == 0.0
    assert float(terms.lsgan_discriminator(ones, zeros)) == 0.0


# ---------------------------------------------------------------------------------------------
# Ratios and alignment


def test_global_denominator_recovers_single_device_value_across_replicas():
    """Two 'replicas' with different visible counts: sum_r num_r / sum_r den_r == whole batch."""
    kp_gt = _kp((4, 25), frac_visible=0.5)
    kp_gt[2:, 5:] = 0.0  # the second half sees far fewer points
    pred = RNG.normal(size=(4, 25, 2))
    halves = [terms.keypoint_l1_sum_count(kp_gt[s], pred[s]) for s in (slice(0, 2), slice(2, 4))]
    global_den = halves[0].denominator + halves[1].denominator
    total = sum(float(terms.ratio_value(r, global_den)) for r in halves)
    assert total == pytest.approx(ref_keypoint_l1(kp_gt, pred), rel=1e-12)
    naive = np.mean([_value(r) for r in halves])
    assert naive != pytest.approx(total, rel=1e-3)


def test_add_ratios_sums_values_with_their_own_denominators():
    a = terms.Ratio(tf.constant([3.0]), tf.constant([2.0]))
    b = terms.Ratio(tf.constant([1.0, 5.0]), tf.constant([4.0, 0.0]))
    assert float(terms.ratio_value(terms.add_ratios(a, b))) == pytest.approx(1.5 + 0.25)


@pytest.mark.parametrize("steps,delta_t", [(20, 5), (20, -5), (9, 3), (9, -8), (7, 0)])
def test_align_delta_frames_pairs_gt_with_predictions_made_dt_earlier(steps, delta_t):
    frames = np.tile(np.arange(steps, dtype=np.float64), (2, 1))  # (B, T) frame index
    gt, pred = terms.align_delta_frames(tf.constant(frames), tf.constant(frames), delta_t)
    assert gt.shape == (2, steps - abs(delta_t))
    # prediction made at frame t describes frame t + dt
    np.testing.assert_array_equal(gt.numpy(), pred.numpy() + delta_t)


def test_align_delta_frames_default_t20_frames():
    frames = tf.constant(np.arange(20)[None])
    gt, pred = terms.align_delta_frames(frames, frames, 5)
    assert gt.numpy()[0].tolist() == list(range(5, 20))
    assert pred.numpy()[0].tolist() == list(range(0, 15))
    gt, pred = terms.align_delta_frames(frames, frames, -5)
    assert gt.numpy()[0].tolist() == list(range(0, 15))
    assert pred.numpy()[0].tolist() == list(range(5, 20))


def test_align_delta_frames_rejects_offset_longer_than_sequence():
    with pytest.raises(ValueError, match="delta_t"):
        terms.align_delta_frames(tf.zeros((1, 5)), tf.zeros((1, 5)), 5)
