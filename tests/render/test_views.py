"""Tests for the demo's views (the 2x2 crop grid, the mesh over the frame, the side view), against
the layout each must have."""

from __future__ import annotations

import numpy as np
import pytest

from src.render import mesh
from src.render.views import FrameVisualizer, overlay_grid
from tests.render.shapes import box_mesh, uv_sphere


@pytest.mark.parametrize("frame_hw", [(540, 960), (960, 540), (100, 100)])
def test_overlay_grid_places_the_four_views(frame_hw):
    crop = np.full((224, 224, 3), 10, np.uint8)
    skel = np.full((224, 224, 3), 20, np.uint8)
    frame = np.full(frame_hw + (3,), 30, np.uint8)
    side = np.full((224, 224, 3), 40, np.uint8)
    grid = overlay_grid(crop, skel, frame, side)
    frame_w = round(frame_hw[1] * 224 / frame_hw[0])
    right_w = max(224, frame_w)
    assert grid.shape == (448, 224 + right_w, 3)
    assert (grid[:224, :224] == 10).all() and (grid[224:, :224] == 20).all()
    assert (grid[:224, 224 : 224 + frame_w] == 30).all()
    assert (grid[224:, 224:448] == 40).all()
    assert (grid[:224, 224 + frame_w :] == 255).all() and (grid[224:, 448:] == 255).all()


def test_frame_visualizer_draws_every_view_and_survives_bad_vertices(monkeypatch):
    monkeypatch.setattr(mesh, "_warned", True)
    verts, faces = uv_sphere(10, 12)
    verts = verts * 0.5
    vis = FrameVisualizer(faces)
    frame = np.zeros((90, 160, 3), np.uint8)
    overlay = vis.frame_overlay(verts, [0.2, 3.0, -0.5], frame)
    assert overlay.shape == frame.shape and (overlay != 0).any()
    crop = np.zeros((224, 224, 3), np.float32) - 1.0  # network range: black
    kp = np.zeros((25, 3))
    kp[:, 2] = 1
    grid = vis.crop_grid(verts, [0.9, 0, 0], crop, kp, overlay)
    assert grid.shape == (448, 224 + 398, 3)
    assert (grid[112, 112] != 0).any()  # mesh over the crop centre
    assert (grid[224 + 112, 224 + 112] != 255).any()  # side view at the centre
    bad = vis.frame_overlay(np.full_like(verts, np.nan), [0.2, 3.0, -0.5], frame)
    np.testing.assert_array_equal(bad, frame)


def test_side_view_shows_the_whole_body_on_white():
    verts, faces = box_mesh()
    view = FrameVisualizer(faces).side_view(verts + [0.0, -4.0, 0.0], (120, 160))
    body = np.argwhere(view.min(axis=2) < 250)
    (top, left), (bottom, right) = body.min(axis=0), body.max(axis=0)
    assert top > 0 and left > 0 and bottom < 119 and right < 159
    assert bottom - top >= 0.85 * 120
    assert (view[0] == 255).all() and (view[-1] == 255).all()
