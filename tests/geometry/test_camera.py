"""Crop <-> original-frame cameras and the approximate translation (docs/original_release.md §8 step
9)."""

import numpy as np
import pytest

from src.geometry.camera import approx_translation, crop_cam_to_original

CROP = 224
PAD = 224  # the original demo pads the rescaled frame by 224 before cropping


def _demo_crops(rng, n, height, width):
    """Crop parameters as the original demo makes them: centre scaled, rounded, padded."""
    centre = rng.uniform([0, 0], [width, height], size=(n, 2))
    scale = rng.uniform(0.3, 2.5, size=n)
    start = np.round(centre * scale[:, None]) + PAD - CROP / 2  # (x, y) in the padded frame
    return start, scale


def _weak(points, cam):
    return cam[:, 0, None, None] * (points[..., :2] + cam[:, None, 1:])


def test_crop_camera_lands_on_the_same_original_pixels():
    rng = np.random.default_rng(0)
    n, height, width = 5, 480, 640
    start, scale = _demo_crops(rng, n, height, width)
    cam = np.column_stack([rng.uniform(0.5, 1.2, n), rng.normal(scale=0.2, size=(n, 2))])
    points = rng.normal(scale=0.5, size=(n, 25, 3))
    crop_px = (_weak(points, cam) + 1) * CROP / 2  # pixels of the 224 crop
    orig_px = (crop_px + start[:, None] - PAD) / scale[:, None, None]  # undo crop, pad, resize
    cam_px, cam_norm = crop_cam_to_original(cam, start, scale, np.array([height, width]))
    np.testing.assert_allclose(_weak(points, cam_px), orig_px, atol=1e-9)
    side = max(height, width)
    np.testing.assert_allclose((_weak(points, cam_norm) + 1) * side / 2, orig_px, atol=1e-9)
    # and back: original pixels -> crop pixels with the inverse of the frame operations
    back = orig_px * scale[:, None, None] + PAD - start[:, None]
    np.testing.assert_allclose(back, crop_px, atol=1e-9)


def test_crop_camera_matches_the_originals_formulas():
    cam = np.array([[0.9, 0.1, -0.2]])
    start, scale, size = np.array([[300.0, 250.0]]), np.array([0.5]), np.array([[720, 1280]])
    s_px, t_px = 112 * 0.9, np.array([0.1, -0.2]) + 1 / 0.9
    s_orig = s_px / 0.5
    t_orig = t_px + (start[0] - 224) / s_px
    s_n = 2 * s_orig / 1280
    cam_px, cam_norm = crop_cam_to_original(cam, start, scale, size)
    np.testing.assert_allclose(cam_px[0], [s_orig, *t_orig], rtol=1e-14)
    np.testing.assert_allclose(cam_norm[0], [s_n, *(t_orig - 1 / s_n)], rtol=1e-14)


def test_pad_zero_means_start_in_the_unpadded_rescaled_frame():
    cam = np.array([[1.1, 0.0, 0.3], [0.7, -0.2, 0.1]])
    start, scale, size = np.array([[10.0, -5.0], [40.0, 3.0]]), np.array([1.5, 0.8]), (200, 300)
    with_pad = crop_cam_to_original(cam, start + 224, scale, size)
    without = crop_cam_to_original(cam, start, scale, size, pad=0)
    np.testing.assert_allclose(with_pad[0], without[0], atol=1e-12)
    np.testing.assert_allclose(with_pad[1], without[1], atol=1e-12)


def test_approx_translation_reproduces_weak_perspective_pixels_for_planar_points():
    rng = np.random.default_rng(1)
    height, width, focal = 480, 640, 1500.0
    cam = np.column_stack([rng.uniform(0.2, 0.6, 3), rng.normal(scale=0.3, size=(3, 2))])
    side = max(height, width)
    trans = approx_translation(cam, focal, (height, width))
    points = rng.normal(scale=0.5, size=(3, 25, 3))
    points[..., 2] = 0.0  # in the body's plane weak perspective is exact
    weak_px = (_weak(points, cam) + 1) * side / 2
    cam_space = points + trans[:, None, :]
    pinhole = focal * cam_space[..., :2] / cam_space[..., 2:] + np.array([width / 2, height / 2])
    np.testing.assert_allclose(pinhole, weak_px, atol=1e-9)
    np.testing.assert_allclose(trans[:, 2], focal / (cam[:, 0] * side / 2), rtol=1e-14)


def test_approx_translation_on_a_crop_is_hmrs_formula():
    cam = np.array([[0.9, 0.05, -0.1]])
    trans = approx_translation(cam, 5000.0, (224, 224))
    np.testing.assert_allclose(trans[0], [0.05, -0.1, 5000.0 / (0.5 * 224 * 0.9)], rtol=1e-14)


def test_bad_camera_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        crop_cam_to_original(np.zeros(3), np.zeros(2), np.ones(1), (10, 10))
    with pytest.raises(ValueError, match="start_pt"):
        crop_cam_to_original(np.ones((2, 3)), np.zeros((3, 2)), np.ones(2), (10, 10))
