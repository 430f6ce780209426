"""Tests for the shaded mesh renderer and safe_render, against closed forms (disc areas, NMR's
Lambert shading) and the rasteriser's face buffer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from src.render import mesh
from src.render.camera import weak_perspective_to_pixels
from src.render.mesh import MESH_COLORS, MeshRenderer, safe_render
from src.render.raster import rasterize
from tests.render.shapes import quad, uv_sphere

BLUE = np.array([0.651, 0.741, 0.859])  # docs/original_release.md §8 step 9
LIGHT_PX = np.array([1.0, -0.5, -1.0])  # (1, 0.5, -1) of the y-up NMR frame, y flipped


# ------------------------------------------------------------------------------------------------
# Coverage and culling


def test_sphere_renders_as_a_filled_disc_of_area_pi_r2_centred_on_its_projection():
    verts, faces = uv_sphere(40, 48)
    cam = np.array([0.5, 0.3, -0.2])
    rgb, mask = MeshRenderer(faces, (224, 224)).render(weak_perspective_to_pixels(verts, cam))
    radius = 0.5 * 112.0
    center = (np.array([0.3, -0.2]) * 0.5 + 1.0) * 112.0
    assert mask.sum() == pytest.approx(np.pi * radius**2, rel=0.02)
    ys, xs = np.nonzero(mask)
    np.testing.assert_allclose([xs.mean() + 0.5, ys.mean() + 0.5], center, atol=0.3)
    # No cracks: every pixel centre well inside the disc is covered.
    yy, xx = np.mgrid[:224, :224] + 0.5
    inner = np.hypot(xx - center[0], yy - center[1]) < radius - 1.5
    assert mask[inner].all()
    assert (rgb[~mask] == 255).all()  # white background


@pytest.mark.parametrize("cam", [[0.9, -0.9, -0.8], [0.9, 0.8, 0.0], [0.2, 0.0, 0.0]])
def test_render_matches_full_frame_rasterisation_when_the_mesh_is_clipped(cam):
    verts, faces = uv_sphere(16, 20)
    renderer = MeshRenderer(faces, (40, 56))
    px = weak_perspective_to_pixels(verts, cam, (40, 56))
    rgb, mask = renderer.render(px)
    fbuf, _ = rasterize(px, faces, (40, 56))
    expected = np.full((40, 56, 3), 255.0)
    expected[fbuf >= 0] = np.rint(renderer.face_colors(px)[fbuf[fbuf >= 0]] * 255)
    np.testing.assert_array_equal(mask, fbuf >= 0)
    np.testing.assert_array_equal(rgb, expected)


def test_mesh_entirely_off_screen_leaves_the_background():
    verts, faces = uv_sphere(6, 8)
    rgb, mask = MeshRenderer(faces, (32, 32)).render(verts + [100.0, 0.0, 0.0])
    assert not mask.any() and (rgb == 255).all()


def test_triangle_facing_away_is_culled_and_its_mirror_is_drawn():
    away = np.array([[10.0, 10.0, 0.0], [50.0, 10.0, 0.0], [10.0, 50.0, 0.0]])  # n_z > 0
    faces = np.array([[0, 1, 2]])
    renderer = MeshRenderer(faces, (64, 64))
    _, mask = renderer.render(away)
    assert not mask.any()
    _, mask = renderer.render(away[[0, 2, 1]])
    assert mask.sum() == pytest.approx(0.5 * 40 * 40, rel=0.05)


# ------------------------------------------------------------------------------------------------
# Shading


def rot_y(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def expected_quad_color(normal, color=BLUE):
    """NMR Lambert: colour * (0.7 + 0.3 * max(0, n . d)), d unnormalised, clipped, to uint8."""
    light = 0.7 + 0.3 * max(0.0, float(np.dot(normal, LIGHT_PX)))
    return np.rint(np.clip(np.asarray(color) * light, 0, 1) * 255)


@pytest.mark.parametrize("angle", [0.0, 30.0, -40.0, 75.0])
def test_flat_quad_colour_matches_the_lambert_formula(angle):
    rot = rot_y(angle)
    verts, faces = quad((32, 32, 0), rot)
    rgb, mask = MeshRenderer(faces, (64, 64)).render(verts)
    normal = rot @ np.array([0.0, 0.0, -1.0])  # the quad's outward normal, rotated
    assert mask[32, 32]
    np.testing.assert_allclose(
        rgb[mask], np.broadcast_to(expected_quad_color(normal), (mask.sum(), 3)), atol=1
    )


def test_face_toward_the_light_is_brighter_than_a_grazing_one_and_unclipped_as_nmr():
    toward = LIGHT_PX / np.linalg.norm(LIGHT_PX)
    # a rotation taking -z to the light direction
    axis = np.cross([0, 0, -1.0], toward)
    angle = np.arccos(np.dot([0, 0, -1.0], toward))
    k = axis / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx
    lit_v, faces = quad((32, 32, 0), rot)
    lit, mask = MeshRenderer(faces, (64, 64)).render(lit_v)
    # |d| = 1.5: the peak factor is 0.7 + 0.3 * 1.5 = 1.15 (NMR does not normalise d)
    np.testing.assert_allclose(lit[32, 32], np.rint(BLUE * 1.15 * 255), atol=1)
    grazing_v, faces = quad((32, 32, 0), rot_y(80.0))
    grazing, mask_g = MeshRenderer(faces, (64, 64)).render(grazing_v)
    assert mask_g.any()
    assert lit[mask].astype(int).sum(axis=1).min() > grazing[mask_g].astype(int).sum(axis=1).max()


def test_named_and_custom_colours():
    verts, faces = quad((32, 32, 0), np.eye(3))
    pink, _ = MeshRenderer(faces, (64, 64), color="pink").render(verts)
    np.testing.assert_allclose(pink[32, 32], expected_quad_color([0, 0, -1], MESH_COLORS["pink"]))
    custom, _ = MeshRenderer(faces, (64, 64), color=(0.2, 0.4, 0.6)).render(verts)
    np.testing.assert_allclose(custom[32, 32], expected_quad_color([0, 0, -1], (0.2, 0.4, 0.6)))


# ------------------------------------------------------------------------------------------------
# Background, anti-aliasing, errors


@pytest.mark.parametrize("supersample", [1, 2])
def test_background_is_preserved_outside_the_mask(supersample):
    rng = np.random.default_rng(1)
    background = rng.integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    original = background.copy()
    verts, faces = uv_sphere(12, 16)
    renderer = MeshRenderer(faces, (48, 80), supersample=supersample)
    rgb, mask = renderer.render(
        weak_perspective_to_pixels(verts, [0.3, 0, -0.6], (48, 80)), background
    )
    assert 0 < mask.sum() < mask.size
    if supersample == 1:
        np.testing.assert_array_equal(rgb[~mask], background[~mask])
    else:  # edge pixels blend; pixels with no coverage at all keep the background
        far = np.ones_like(mask)
        far[max(0, np.nonzero(mask)[0].min() - 2) : np.nonzero(mask)[0].max() + 3] = False
        np.testing.assert_array_equal(rgb[far], background[far])
    np.testing.assert_array_equal(background, original)  # the input is not drawn on


def test_supersampling_blends_the_silhouette_and_keeps_the_area():
    verts, faces = uv_sphere(30, 32)
    px = weak_perspective_to_pixels(verts, [0.25, 0, 0], (64, 64))
    _, mask = MeshRenderer(faces, (64, 64), supersample=3).render(px)
    assert mask.sum() == pytest.approx(np.pi * (0.25 * 32) ** 2, rel=0.05)
    # A quad whose left edge is at x = 10.25 covers 3 of the 4 sub-columns of pixel column 10.
    verts = np.array([[10.25, 10, 0], [40, 10, 0], [40, 40, 0], [10.25, 40, 0]], float)
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    background = np.full((48, 48, 3), 40, np.uint8)
    rgb, mask = MeshRenderer(faces, (48, 48), supersample=4).render(verts, background)
    full = BLUE * 255.0  # facing the camera: light factor 0.7 + 0.3 * 1
    np.testing.assert_allclose(rgb[20, 20], np.rint(full), atol=1)
    np.testing.assert_allclose(rgb[20, 10], np.rint(0.75 * full + 0.25 * 40), atol=1)
    assert mask[20, 10] and not mask[20, 9]
    np.testing.assert_array_equal(rgb[20, 9], [40, 40, 40])


def test_bad_inputs_raise_value_errors_naming_what_was_expected():
    verts, faces = uv_sphere(6, 8)
    with pytest.raises(ValueError, match=r"\(F, 3\)"):
        MeshRenderer(faces[:, :2])
    with pytest.raises(ValueError, match="background"):
        MeshRenderer(faces, (32, 32)).render(verts, np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        MeshRenderer(faces, (32, 32)).render(np.full_like(verts, np.nan))
    with pytest.raises(ValueError, match="only"):
        MeshRenderer(faces, (32, 32)).render(verts[:5])
    with pytest.raises(ValueError, match="colour"):
        MeshRenderer(faces, color="plaid")


# ------------------------------------------------------------------------------------------------
# Never break inference


class _Broken:
    img_size = (32, 40)

    def render(self, vertices_px, background=None):
        raise RuntimeError("no GL here")


def test_safe_render_returns_the_background_when_the_renderer_throws(monkeypatch):
    monkeypatch.setattr(mesh, "_warned", False)
    background = np.full((32, 40, 3), 7, np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            rgb, mask = safe_render(_Broken(), np.zeros((3, 3)), background)
            np.testing.assert_array_equal(rgb, background)
            assert not mask.any()
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1


def test_safe_render_without_renderer_or_background_gives_white(monkeypatch):
    monkeypatch.setattr(mesh, "_warned", True)
    rgb, mask = safe_render(None, np.zeros((3, 3)), None, img_size=(10, 12))
    assert rgb.shape == (10, 12, 3) and (rgb == 255).all() and not mask.any()
    verts, faces = uv_sphere(6, 8)
    rgb, _ = safe_render(MeshRenderer(faces, (20, 20)), np.full_like(verts, np.nan))
    assert rgb.shape == (20, 20, 3) and (rgb == 255).all()
