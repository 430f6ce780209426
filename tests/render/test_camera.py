"""Tests for the renderer's camera and the side view's rotation and framing, against the 2D
keypoint projection and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from src.geometry.projection import project_weak_perspective_np
from src.render.camera import fit_camera, rotate_about_vertical, weak_perspective_to_pixels
from tests.render.shapes import box_mesh


def test_weak_perspective_to_pixels_matches_keypoint_mapping_on_the_crop():
    rng = np.random.default_rng(0)
    verts = rng.normal(size=(50, 3))
    cam = np.array([0.8, 0.1, -0.2])
    px = weak_perspective_to_pixels(verts, cam, (224, 224))
    kp = project_weak_perspective_np(verts, cam)
    np.testing.assert_allclose(px[:, :2], (kp + 1.0) * 112.0, atol=1e-9)
    np.testing.assert_allclose(px[:, 2], 0.8 * verts[:, 2] * 112.0, atol=1e-9)


def test_weak_perspective_to_pixels_uses_the_square_padded_frame_side():
    verts = np.array([[0.3, -0.4, 0.5]])
    s, tx, ty = 0.05, 2.0, 1.0
    px = weak_perspective_to_pixels(verts, [s, tx, ty], (540, 960))
    expected = [(s * (0.3 + tx) + 1) * 480, (s * (-0.4 + ty) + 1) * 480, s * 0.5 * 480]
    np.testing.assert_allclose(px[0], expected, atol=1e-9)


def test_rotate_about_vertical_quarter_turn_closed_form():
    verts = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -2.0, 4.0]])
    center = verts.mean(axis=0)
    out = rotate_about_vertical(verts, 90.0)
    rel = verts - center
    # R_y(90): (x, y, z) -> (z, y, -x)
    expected = np.stack([rel[:, 2], rel[:, 1], -rel[:, 0]], axis=1) + center
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(out.mean(axis=0), center, atol=1e-12)


@pytest.mark.parametrize("img_size", [(120, 160), (160, 120), (224, 224)])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (5.0, -3.0)])
def test_fit_camera_centres_the_body_and_fills_the_image_up_to_the_margin(img_size, offset):
    verts, _ = box_mesh()
    verts = verts + [offset[0], offset[1], 0.0]
    cam = fit_camera(verts, img_size, margin=0.05)
    px = weak_perspective_to_pixels(verts, cam, img_size)[:, :2]
    height, width = img_size
    lo, hi = px.min(axis=0), px.max(axis=0)
    np.testing.assert_allclose((lo + hi) / 2, [width / 2, height / 2], atol=1e-6)
    assert lo[0] >= 0.05 * width - 1e-6 and hi[0] <= 0.95 * width + 1e-6
    assert lo[1] >= 0.05 * height - 1e-6 and hi[1] <= 0.95 * height + 1e-6
    filled = max((hi[0] - lo[0]) / (0.9 * width), (hi[1] - lo[1]) / (0.9 * height))
    assert filled == pytest.approx(1.0)
