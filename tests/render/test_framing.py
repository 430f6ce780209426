"""The banner strip above a picture (it covers nothing) and the side view framed to the body."""

from __future__ import annotations

import numpy as np
import pytest

from src.render.camera import fit_camera, weak_perspective_to_pixels
from src.render.draw import BANNER_COLOR, add_banner_strip, banner_strip_height
from src.render.views import FrameVisualizer


def _box_mesh(height: float = 1.7) -> tuple[np.ndarray, np.ndarray]:
    """A closed box ``0.4 x height x 0.3`` m (8 vertices, 12 outward-wound faces)."""
    x, y, z = 0.2, height / 2, 0.15
    verts = np.array([[sx * x, sy * y, sz * z] for sx in (-1, 1) for sy in (-1, 1)
                      for sz in (-1, 1)])  # fmt: skip
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])  # fmt: skip
    return verts, faces


@pytest.mark.parametrize("height", [40, 120, 720])
def test_banner_strip_sits_above_the_image_and_covers_nothing(height):
    image = np.random.default_rng(0).integers(0, 255, (height, 90, 3), dtype=np.uint8)
    out = add_banner_strip(image, "UNTRAINED WEIGHTS")
    strip = banner_strip_height(height)
    assert strip >= 14 and strip % 2 == 0
    assert out.shape == (height + strip, 90, 3)
    np.testing.assert_array_equal(out[strip:], image)  # every pixel of the image is kept
    colours, counts = np.unique(out[:strip].reshape(-1, 3), axis=0, return_counts=True)
    assert tuple(colours[np.argmax(counts)]) == BANNER_COLOR
    assert (out[:strip].min(axis=2) > 200).any()  # white text in it


@pytest.mark.parametrize("img_size", [(120, 160), (160, 120), (224, 224)])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (5.0, -3.0)])
def test_fit_camera_centres_the_body_and_fills_the_image_up_to_the_margin(img_size, offset):
    verts, _ = _box_mesh()
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


def test_side_view_shows_the_whole_body_on_white():
    verts, faces = _box_mesh()
    view = FrameVisualizer(faces).side_view(verts + [0.0, -4.0, 0.0], (120, 160))
    body = np.argwhere(view.min(axis=2) < 250)
    (top, left), (bottom, right) = body.min(axis=0), body.max(axis=0)
    assert top > 0 and left > 0 and bottom < 119 and right < 159
    assert bottom - top >= 0.85 * 120
    assert (view[0] == 255).all() and (view[-1] == 255).all()
