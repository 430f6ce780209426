"""src.evaluation.metrics vs independent float64 loop references and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.evaluation import metrics as M

RNG_SEED = 7
NUM_KP = 25
NUM_J = 14


# --------------------------------------------------------------------------------------------
# Independent references (plain loops, written from the spec, not from the module)


def ref_optcam(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> tuple[float, np.ndarray]:
    """§5.3 for one frame: s = trace(inv(X'X + 1e-6 I) X'Y) / 2, t = mu_y / s - mu_x."""
    idx = [k for k in range(len(vis)) if vis[k] > 0]
    mu_x = sum(pred[k] for k in idx) / len(idx)
    mu_y = sum(gt[k] for k in idx) / len(idx)
    a = np.zeros((2, 2))
    b = np.zeros((2, 2))
    for k in idx:
        x = pred[k] - mu_x
        y = gt[k] - mu_y
        a += np.outer(x, x)
        b += np.outer(x, y)
    a += 1e-6 * np.eye(2)
    det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    a_inv = np.array([[a[1, 1], -a[0, 1]], [-a[1, 0], a[0, 0]]]) / det
    s = float(np.trace(a_inv @ b)) / 2.0
    return s, mu_y / s - mu_x


def ref_kp(gt: np.ndarray, pred: np.ndarray, min_visible: int = 6, thr: float = 11.2):
    """Per-frame (kp, kp_pa, pck) lists with NaN for frames under min_visible."""
    out_kp, out_pa, out_pck = [], [], []
    for f in range(len(gt)):
        vis = gt[f, :, 2] > 0
        if vis.sum() < min_visible or vis.sum() == 0:
            out_kp.append(math.nan)
            out_pa.append(math.nan)
            out_pck.append(math.nan)
            continue
        s, t = ref_optcam(pred[f], gt[f, :, :2], gt[f, :, 2])
        d, d_pa = [], []
        for k in range(gt.shape[1]):
            if not vis[k]:
                continue
            d.append(math.dist(gt[f, k, :2], pred[f, k]))
            d_pa.append(math.dist(gt[f, k, :2], s * (pred[f, k] + t)))
        out_kp.append(sum(d) / len(d))
        out_pa.append(sum(d_pa) / len(d_pa))
        out_pck.append(sum(1.0 for x in d_pa if x < thr) / len(d_pa))
    return np.array(out_kp), np.array(out_pa), np.array(out_pck)


def ref_procrustes_frame(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama on a (3, J) layout for one frame, reflection fixed, scale from the rotation."""
    s1, s2 = src.T, dst.T  # (3, J)
    m1 = s1.mean(axis=1, keepdims=True)
    m2 = s2.mean(axis=1, keepdims=True)
    x1, x2 = s1 - m1, s2 - m2
    k = x1 @ x2.T
    u, _, vh = np.linalg.svd(k)
    z = np.eye(3)
    z[2, 2] = np.sign(np.linalg.det(vh.T @ u.T))
    r = vh.T @ z @ u.T
    c = np.trace(r @ k) / np.sum(x1 * x1)
    return (c * r @ s1 + (m2 - c * r @ m1)).T


def ref_pelvis(j: np.ndarray) -> np.ndarray:
    return j - (j[2] + j[3]) / 2.0


def ref_mpjpe(gt: np.ndarray, pred: np.ndarray, pa: bool) -> np.ndarray:
    out = []
    for f in range(len(gt)):
        g = ref_pelvis(gt[f, :NUM_J])
        p = ref_pelvis(pred[f, :NUM_J])
        if pa:
            p = ref_procrustes_frame(p, g)
        out.append(np.mean([math.dist(g[j], p[j]) for j in range(NUM_J)]))
    return np.array(out)


def ref_accel(pred: np.ndarray) -> np.ndarray:
    out = []
    for t in range(1, len(pred) - 1):
        acc = pred[t - 1, :NUM_J] - 2 * pred[t, :NUM_J] + pred[t + 1, :NUM_J]
        out.append(np.mean([math.sqrt(float(a @ a)) for a in acc]))
    return np.array(out)


def ref_accel_error(gt: np.ndarray, pred: np.ndarray, vis: np.ndarray) -> np.ndarray:
    out = []
    for t in range(1, len(pred) - 1):
        if not (vis[t - 1] and vis[t] and vis[t + 1]):
            out.append(math.nan)
            continue
        a_p = pred[t - 1, :NUM_J] - 2 * pred[t, :NUM_J] + pred[t + 1, :NUM_J]
        a_g = gt[t - 1, :NUM_J] - 2 * gt[t, :NUM_J] + gt[t + 1, :NUM_J]
        out.append(np.mean([math.dist(a_p[j], a_g[j]) for j in range(NUM_J)]))
    return np.array(out)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def make_keypoints(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """GT (n, 25, 3) in crop px with varied visibility; prediction (n, 25, 2) nearby."""
    gt = np.zeros((n, NUM_KP, 3))
    gt[..., :2] = rng.uniform(20, 200, size=(n, NUM_KP, 2))
    num_vis = rng.integers(0, NUM_KP + 1, size=n)
    num_vis[:4] = [0, 5, 6, NUM_KP]
    for f in range(n):
        gt[f, rng.permutation(NUM_KP)[: num_vis[f]], 2] = 1.0
    gt[gt[..., 2] == 0] = 0.0  # invisible rows all zero, as the pipeline
    pred = gt[..., :2] * 0.9 + 15 + rng.normal(scale=8.0, size=(n, NUM_KP, 2))
    return gt, pred


# --------------------------------------------------------------------------------------------
# 2D keypoints


def test_kp_metrics_match_loop_reference():
    rng = np.random.default_rng(RNG_SEED)
    gt, pred = make_keypoints(rng, 12)
    kp_ref, pa_ref, pck_ref = ref_kp(gt, pred)
    np.testing.assert_allclose(M.kp_error_px(gt, pred), kp_ref, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(M.kp_error_pa_px(gt, pred), pa_ref, rtol=1e-8, equal_nan=True)
    np.testing.assert_allclose(M.kp_pck(gt, pred), pck_ref, rtol=1e-12, equal_nan=True)
    assert np.isfinite(pck_ref).sum() >= 4  # the comparison covers real frames


def test_kp_frame_with_fewer_than_min_visible_is_nan_and_exactly_min_visible_counts():
    rng = np.random.default_rng(RNG_SEED)
    gt, pred = make_keypoints(rng, 4)  # frames with 0, 5, 6, 25 visible points
    for fn in (M.kp_error_px, M.kp_error_pa_px, M.kp_pck):
        out = fn(gt, pred)
        assert np.isnan(out[:2]).all()
        assert np.isfinite(out[2:]).all()


def test_kp_pa_of_scaled_shifted_copy_is_zero_and_pck_one():
    rng = np.random.default_rng(RNG_SEED)
    gt, _ = make_keypoints(rng, 6)
    gt[:, :, 2] = 1.0
    pred = (gt[..., :2] - 40.0) / 1.7 + np.array([3.0, -9.0])  # gt = 1.7 (pred + t)
    np.testing.assert_allclose(M.kp_error_pa_px(gt, pred), 0.0, atol=1e-5)
    np.testing.assert_allclose(M.kp_pck(gt, pred), 1.0)
    assert (M.kp_error_px(gt, pred) > 1.0).all()  # unaligned error is not zero


def test_kp_error_ignores_invisible_points():
    gt = np.zeros((1, NUM_KP, 3))
    gt[0, :10, :2] = 100.0
    gt[0, :10, 2] = 1.0
    pred = np.full((1, NUM_KP, 2), 100.0)
    pred[0, :10, 0] += 3.0  # visible points are 3 px off
    pred[0, 10:] = 1e6  # invisible points are far off and must not count
    np.testing.assert_allclose(M.kp_error_px(gt, pred), [3.0])


def test_pck_counts_points_under_the_threshold_after_alignment():
    assert M.PCK_THRESHOLD_PX == pytest.approx(0.05 * 224)
    rng = np.random.default_rng(RNG_SEED)
    gt, pred = make_keypoints(rng, 4)
    gt, pred = gt[3:], pred[3:] + rng.normal(scale=10.0, size=pred[3:].shape)  # 25 visible
    s, t = ref_optcam(pred[0], gt[0, :, :2], gt[0, :, 2])
    dist = np.sort(np.linalg.norm(gt[0, :, :2] - s * (pred[0] + t), axis=1))
    for k in (1, 7, 20):
        thr = 0.5 * (dist[k - 1] + dist[k])
        np.testing.assert_allclose(M.kp_pck(gt, pred, threshold_px=thr), [k / NUM_KP])


def test_keypoints_normalized_to_px_maps_corners():
    np.testing.assert_allclose(
        M.keypoints_normalized_to_px(np.array([[-1.0, 1.0], [0.0, 0.5]])), [[0, 224], [112, 168]]
    )


# --------------------------------------------------------------------------------------------
# 3D joints


def test_mpjpe_and_pa_mpjpe_match_loop_reference():
    rng = np.random.default_rng(RNG_SEED)
    gt = rng.normal(scale=0.3, size=(5, NUM_J, 3))
    pred = gt + rng.normal(scale=0.05, size=(5, NUM_J, 3)) + [0.1, -0.2, 2.0]
    pred25 = np.concatenate([pred, rng.normal(size=(5, NUM_KP - NUM_J, 3))], axis=1)
    np.testing.assert_allclose(M.mpjpe_m(gt, pred25), ref_mpjpe(gt, pred, False), rtol=1e-12)
    np.testing.assert_allclose(M.pa_mpjpe_m(gt, pred25), ref_mpjpe(gt, pred, True), rtol=1e-9)
    np.testing.assert_allclose(M.mpjpe_mm(gt, pred), 1000 * ref_mpjpe(gt, pred, False))
    np.testing.assert_allclose(M.pa_mpjpe_mm(gt, pred), 1000 * ref_mpjpe(gt, pred, True), rtol=1e-9)


def test_mpjpe_of_pure_pelvis_translation_is_zero():
    rng = np.random.default_rng(RNG_SEED)
    gt = rng.normal(size=(4, NUM_J, 3))
    pred = gt + rng.normal(size=(4, 1, 3)) * 5.0  # one translation per frame
    np.testing.assert_allclose(M.mpjpe_mm(gt, pred), 0.0, atol=1e-9)


@pytest.mark.parametrize("num_frames", [1, 2, 3])
def test_pa_mpjpe_is_zero_for_known_similarity(num_frames):
    rng = np.random.default_rng(num_frames)
    gt = rng.normal(scale=0.4, size=(num_frames, NUM_J, 3))
    pred = np.empty_like(gt)
    for f in range(num_frames):  # gt = c R pred + t  <=>  pred = R^T (gt - t) / c
        rot, c, t = random_rotation(rng), rng.uniform(0.3, 3.0), rng.normal(size=3)
        pred[f] = (gt[f] - t) @ rot / c
    np.testing.assert_allclose(M.pa_mpjpe_mm(gt, pred), 0.0, atol=1e-8)
    assert (M.mpjpe_mm(gt, pred) > 1.0).all()


def test_3d_frame_selection_needs_more_than_min_visible_of_first_14():
    kp = np.zeros((3, NUM_KP, 3))
    kp[0, :6, 2] = 1  # exactly 6: does not count (original: sum > min_visible)
    kp[1, :7, 2] = 1  # 7 counts
    kp[2, 14:, 2] = 1  # 11 visible but none of the first 14
    np.testing.assert_array_equal(M.frames_with_3d(kp), [False, True, False])
    rng = np.random.default_rng(RNG_SEED)
    gt = rng.normal(size=(3, NUM_J, 3))
    pred = gt + 0.1
    out = M.pa_mpjpe_m(gt, pred + rng.normal(size=gt.shape), M.frames_with_3d(kp))
    assert np.isnan(out[[0, 2]]).all() and np.isfinite(out[1])
    assert np.isnan(M.mpjpe_m(gt, pred, M.frames_with_3d(kp))[[0, 2]]).all()


# --------------------------------------------------------------------------------------------
# Acceleration and acceleration error


def test_accel_and_accel_error_match_loop_reference():
    rng = np.random.default_rng(RNG_SEED)
    gt = np.cumsum(rng.normal(scale=0.01, size=(9, NUM_J, 3)), axis=0)
    pred = rng.normal(scale=0.02, size=(9, NUM_KP, 3))
    vis = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1], dtype=bool)
    np.testing.assert_allclose(M.accel_m_per_frame2(pred), ref_accel(pred), rtol=1e-12)
    np.testing.assert_allclose(
        M.accel_error_m_per_frame2(gt, pred, vis), ref_accel_error(gt, pred, vis), equal_nan=True
    )
    np.testing.assert_allclose(
        M.accel_error_mm_per_frame2(gt, pred), 1000 * ref_accel_error(gt, pred, np.ones(9, bool))
    )


def test_constant_velocity_gives_zero_accel_and_zero_accel_error():
    rng = np.random.default_rng(RNG_SEED)
    base = rng.normal(size=(NUM_J, 3))
    vel_pred, vel_gt = rng.normal(size=(NUM_J, 3)), rng.normal(size=3)
    t = np.arange(10.0)[:, None, None]
    pred = base + t * vel_pred
    gt = base + 0.3 + t * vel_gt
    np.testing.assert_allclose(M.accel_mm_per_frame2(pred), 0.0, atol=1e-9)
    np.testing.assert_allclose(M.accel_error_mm_per_frame2(gt, pred), 0.0, atol=1e-9)
    np.testing.assert_allclose(M.accel_error_pelvis_aligned_mm_per_frame2(gt, pred), 0.0, atol=1e-9)


def test_quadratic_trajectory_has_known_acceleration_in_frame_and_second_units():
    # X(t) = X0 + v t + a t^2 / 2 with |a| = 0.003 m/frame^2 -> 3 mm/frame^2 at every frame
    a = np.array([0.0018, 0.0, -0.0024])  # norm 0.003
    t = np.arange(8.0)[:, None, None]
    joints = np.ones((1, NUM_J, 3)) * 0.2 + t * 0.01 + 0.5 * a * t**2
    accel = M.accel_mm_per_frame2(joints)
    assert accel.shape == (6,)
    np.testing.assert_allclose(accel, 3.0, rtol=1e-9)
    # at 25 fps: 3 mm/frame^2 * 625 = 1875 mm/s^2
    np.testing.assert_allclose(M.to_per_s2(accel, fps=25), 1875.0, rtol=1e-9)
    # a static prediction against this GT has an accel error of exactly |a|
    np.testing.assert_allclose(
        M.accel_error_mm_per_frame2(joints, np.zeros_like(joints)), 3.0, rtol=1e-9
    )


def test_pelvis_aligned_accel_error_ignores_global_trajectory_but_original_does_not():
    rng = np.random.default_rng(RNG_SEED)
    body = rng.normal(size=(1, NUM_J, 3)) * 0.3
    t = np.arange(6.0)[:, None, None]
    gt = body + 0.5 * np.array([0.004, 0.0, 0.0]) * t**2  # body moving with 4 mm/frame^2
    pred = np.repeat(body, 6, axis=0)  # predictions have no global translation
    np.testing.assert_allclose(M.accel_error_mm_per_frame2(gt, pred), 4.0, rtol=1e-9)
    np.testing.assert_allclose(M.accel_error_pelvis_aligned_mm_per_frame2(gt, pred), 0.0, atol=1e-9)


def test_invisible_frame_masks_the_three_accel_error_frames_around_it():
    rng = np.random.default_rng(RNG_SEED)
    gt, pred = rng.normal(size=(8, NUM_J, 3)), rng.normal(size=(8, NUM_J, 3))
    valid = np.ones(8, dtype=bool)
    valid[4] = False  # centres 3, 4, 5 use frame 4 -> outputs 2, 3, 4
    out = M.accel_error_m_per_frame2(gt, pred, valid)
    assert out.shape == (6,)
    np.testing.assert_array_equal(np.isnan(out), [False, False, True, True, True, False])
    first = np.ones(8, dtype=bool)
    first[0] = False  # only the first output sees frame 0; no wrap-around to the end
    np.testing.assert_array_equal(
        np.isnan(M.accel_error_m_per_frame2(gt, pred, first)), [1, 0, 0, 0, 0, 0]
    )


@pytest.mark.parametrize("num_frames", [0, 1, 2])
def test_accel_of_short_sequences_is_empty(num_frames):
    joints = np.zeros((num_frames, NUM_KP, 3))
    assert M.accel_m_per_frame2(joints).shape == (0,)
    assert M.accel_error_m_per_frame2(joints, joints).shape == (0,)


def test_to_per_s2_scales_by_fps_squared_and_rejects_bad_fps():
    assert M.to_per_s2(0.01532, 25) == pytest.approx(9.575)
    assert M.to_per_s2(2.0, 30) == pytest.approx(1800.0)
    with pytest.raises(ValueError, match="fps"):
        M.to_per_s2(1.0, 0)


# --------------------------------------------------------------------------------------------
# Mesh


def test_pve_matches_loop_reference_and_masks_frames():
    rng = np.random.default_rng(RNG_SEED)
    gt, pred = rng.normal(size=(3, 50, 3)), rng.normal(size=(3, 50, 3))
    ref = np.array(
        [np.mean([math.dist(g, p) for g, p in zip(gt[f], pred[f], strict=True)]) for f in range(3)]
    )
    np.testing.assert_allclose(M.pve_posed_mm(gt, pred), 1000 * ref, rtol=1e-12)
    out = M.pve_tpose_mm(gt, pred, valid=np.array([True, False, True]))
    np.testing.assert_allclose(out, 1000 * ref * [1, np.nan, 1], rtol=1e-12)
    # no alignment: a translated copy has an error equal to the translation length
    np.testing.assert_allclose(M.pve_posed_mm(gt, gt + [0.0, 0.003, 0.004]), 5.0)


# --------------------------------------------------------------------------------------------
# The per-tube bundle and input checks


def test_frame_errors_bundle_uses_original_keys_units_and_frame_rules():
    rng = np.random.default_rng(RNG_SEED)
    n = 7
    gt_kp, _ = make_keypoints(rng, n)
    kp_pred_norm = rng.uniform(-1, 1, size=(n, NUM_KP, 2))
    joints_pred = rng.normal(size=(n, NUM_KP, 3))
    joints_gt = rng.normal(size=(n, NUM_J, 3))
    verts = (rng.normal(size=(n, 20, 3)), rng.normal(size=(n, 20, 3)))
    out = M.frame_errors(gt_kp, kp_pred_norm, joints_pred, joints_gt, verts, verts)
    assert set(out) <= set(M.METRIC_UNITS)
    kp_px = (kp_pred_norm + 1) * 112
    np.testing.assert_allclose(out["kp"], ref_kp(gt_kp, kp_px)[0], equal_nan=True)
    valid = np.sum(gt_kp[:, :NUM_J, 2] > 0, axis=1) > 6
    ref_joints = np.where(valid, ref_mpjpe(joints_gt, joints_pred, False), np.nan)
    np.testing.assert_allclose(out["joints"], ref_joints, equal_nan=True)
    np.testing.assert_allclose(
        out["accel_error"], ref_accel_error(joints_gt, joints_pred, valid), equal_nan=True
    )
    assert out["accel"].shape == (n - 2,) and np.isfinite(out["accel"]).all()
    no_3d = M.frame_errors(gt_kp, kp_pred_norm, joints_pred)
    assert set(no_3d) == {"accel", "kp", "kp_pa", "kp_pck"}


def test_bad_shapes_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="joints_pred"):
        M.mpjpe_m(np.zeros((2, 14, 3)), np.zeros((2, 13, 3)))
    with pytest.raises(ValueError, match="same number of frames"):
        M.mpjpe_m(np.zeros((2, 14, 3)), np.zeros((3, 14, 3)))
    with pytest.raises(ValueError, match="kp_gt_px"):
        M.kp_error_px(np.zeros((2, 25, 2)), np.zeros((2, 25, 2)))
    with pytest.raises(ValueError, match="valid"):
        M.pve_m(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)), valid=np.ones(3, bool))
