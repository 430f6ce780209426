"""Weak-perspective projection and the optimal camera (docs/original_release.md §4.4, §5.3,
§7.3)."""

import numpy as np
import pytest
import tensorflow as tf

from src.geometry.projection import (
    optimal_camera,
    optimal_camera_np,
    project_weak_perspective,
    project_weak_perspective_np,
)


def _ref_optcam(x, y, vis, clip=None):
    """Float64 per-sample loop; 2x2 inverse by the adjugate (independent of np.linalg.solve)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    cams = []
    for xs, ys, vs in zip(x, y, vis, strict=True):
        m = vs > 0
        mu_x, mu_y = xs[m].mean(axis=0), ys[m].mean(axis=0)
        xc = np.where(m[:, None], xs - mu_x, 0.0)
        yc = np.where(m[:, None], ys - mu_y, 0.0)
        a = np.array([[np.sum(xc[:, i] * xc[:, j]) for j in range(2)] for i in range(2)])
        a += 1e-6 * np.eye(2)
        b = np.array([[np.sum(xc[:, i] * yc[:, j]) for j in range(2)] for i in range(2)])
        inv = np.array([[a[1, 1], -a[0, 1]], [-a[1, 0], a[0, 0]]]) / (
            a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
        )
        s = (inv @ b).trace() / 2
        if clip is not None:
            s = min(max(s, clip[0]), clip[1])
        cams.append([s, *(mu_y / s - mu_x)])
    return np.array(cams)


def _random_fit_problem(rng, n, k, scale, trans, frac_vis=0.7):
    x = rng.normal(size=(n, k, 2))
    y = scale[:, None, None] * (x + trans[:, None, :])
    vis = (rng.uniform(size=(n, k)) < frac_vis).astype(np.float64)
    vis[:, :3] = 1.0  # at least 3 visible points per sample
    y_kp = np.concatenate([np.where(vis[..., None] > 0, y, 7.0), vis[..., None]], axis=-1)
    return x, y_kp, vis


def test_weak_perspective_matches_loop_reference():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2, 3, 7, 3))
    cam = rng.normal(size=(2, 3, 3))
    ref = np.empty((2, 3, 7, 2))
    for i in range(2):
        for j in range(3):
            for k in range(7):
                ref[i, j, k] = cam[i, j, 0] * (pts[i, j, k, :2] + cam[i, j, 1:])
    np.testing.assert_allclose(project_weak_perspective(pts, cam).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(project_weak_perspective_np(pts, cam), ref, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(tf.float32, 1e-4), (tf.float64, 1e-6)])  # 1e-6 ridge
def test_optimal_camera_recovers_known_scale_and_translation_within_clip(dtype, tol):
    rng = np.random.default_rng(1)
    scale = np.array([0.8, 1.0, 3.0, 9.5])
    trans = rng.normal(size=(4, 2))
    x, y_kp, _ = _random_fit_problem(rng, 4, 25, scale, trans)
    cam = optimal_camera(tf.constant(x, dtype), tf.constant(y_kp, dtype)).numpy()
    np.testing.assert_allclose(cam[:, 0], scale, rtol=tol)
    np.testing.assert_allclose(cam[:, 1:], trans, atol=tol * 10)


def test_optimal_camera_noise_free_equals_ridge_closed_form():
    # y = s (x + t) => B = s X^T X, so s_hat = s trace((X^T X + 1e-6 I)^-1 X^T X) / 2 exactly
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 6, 2))
    s, t = 2.5, np.array([0.3, -0.2])
    gt = np.concatenate([s * (x + t), np.ones((1, 6, 1))], axis=-1)
    xc = x[0] - x[0].mean(axis=0)
    gram = xc.T @ xc
    s_hat = s * np.trace(np.linalg.inv(gram + 1e-6 * np.eye(2)) @ gram) / 2
    t_hat = s * (x[0].mean(axis=0) + t) / s_hat - x[0].mean(axis=0)
    cam = optimal_camera(tf.constant(x), tf.constant(gt)).numpy()[0]
    np.testing.assert_allclose(cam, [s_hat, *t_hat], rtol=1e-12, atol=1e-12)


def test_optimal_camera_matches_float64_reference_on_noisy_data():
    rng = np.random.default_rng(2)
    x, y_kp, vis = _random_fit_problem(rng, 6, 25, rng.uniform(0.2, 12, 6), rng.normal(size=(6, 2)))
    y_kp[..., :2] += 0.3 * rng.normal(size=(6, 25, 2)) * vis[..., None]
    x[1] = -x[1]  # a mirrored fit: negative s, clipped to 0.7
    ref = _ref_optcam(x, y_kp[..., :2], vis, clip=(0.7, 10.0))
    got = optimal_camera(tf.constant(x), tf.constant(y_kp)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    assert ref[1, 0] == 0.7


def test_optimal_camera_clips_scale_to_original_range():
    rng = np.random.default_rng(3)
    x, y_kp, _ = _random_fit_problem(rng, 2, 14, np.array([0.1, 40.0]), np.zeros((2, 2)))
    cam = optimal_camera(tf.constant(x), tf.constant(y_kp)).numpy()
    np.testing.assert_allclose(cam[:, 0], [0.7, 10.0])


def test_optimal_camera_no_visible_point_gives_identity_camera_without_nan():
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(3, 25, 2)), tf.float32)
    gt = np.zeros((3, 25, 3), np.float32)
    gt[1, :5] = [0.2, -0.1, 1.0]  # sample 1 sees five (identical) points
    for clip in ((0.7, 10.0), None):
        cam = optimal_camera(x, tf.constant(gt), clip=clip).numpy()
        assert np.all(np.isfinite(cam))
        np.testing.assert_array_equal(cam[[0, 2]], [[1, 0, 0], [1, 0, 0]])
    scale, trans = optimal_camera_np(x.numpy(), gt[..., :2], gt[..., 2])
    np.testing.assert_array_equal(scale[[0, 2]], [1, 1])
    np.testing.assert_array_equal(trans[[0, 2]], np.zeros((2, 2)))


def test_optimal_camera_single_visible_point_projects_onto_it():
    x = np.array([[[0.3, -0.4], [1.0, 2.0]]])
    gt = np.array([[[0.5, 0.25, 1.0], [9.0, 9.0, 0.0]]])
    for clip in ((0.7, 10.0), None):
        cam = optimal_camera(tf.constant(x), tf.constant(gt), clip=clip).numpy()
        proj = cam[0, 0] * (x[0, 0] + cam[0, 1:])
        np.testing.assert_allclose(proj, gt[0, 0, :2], atol=1e-6)


def test_optimal_camera_stops_gradient():
    x = tf.Variable(np.random.default_rng(5).normal(size=(2, 25, 2)).astype(np.float32))
    gt = tf.constant(np.random.default_rng(6).normal(size=(2, 25, 3)).astype(np.float32) + 1.0)
    with tf.GradientTape() as tape:
        cam = optimal_camera(x, gt)
        loss = tf.reduce_sum(cam)
    assert tape.gradient(loss, x) is None


def test_optimal_camera_np_is_unclipped_reference_and_accepts_single_sample():
    rng = np.random.default_rng(7)
    scale_true = rng.uniform(0.05, 30, 5)
    x, y_kp, vis = _random_fit_problem(rng, 5, 25, scale_true, rng.normal(size=(5, 2)))
    y_kp[..., :2] += 0.05 * rng.normal(size=(5, 25, 2))
    x[0] = -x[0]
    ref = _ref_optcam(x, y_kp[..., :2], vis)
    scale, trans = optimal_camera_np(x, y_kp[..., :2], vis)
    np.testing.assert_allclose(scale, ref[:, 0], rtol=1e-10)
    np.testing.assert_allclose(trans, ref[:, 1:], rtol=1e-9, atol=1e-9)
    assert scale[0] < 0  # no clipping
    s1, t1 = optimal_camera_np(x[2], y_kp[2, :, :2], vis[2])
    np.testing.assert_allclose(s1, scale[2], rtol=1e-12)
    np.testing.assert_allclose(t1, trans[2], rtol=1e-12)
    tf_cam = optimal_camera(tf.constant(x), tf.constant(y_kp), clip=None).numpy()
    np.testing.assert_allclose(tf_cam, ref, rtol=1e-9, atol=1e-9)


def test_optimal_camera_np_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="optimal_camera_np"):
        optimal_camera_np(np.zeros((4, 25, 2)), np.zeros((4, 14, 2)), np.ones((4, 25)))
