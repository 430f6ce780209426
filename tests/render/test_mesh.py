"""Tests for the headless renderer, against closed forms and a brute-force float64 reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from src.geometry.projection import project_weak_perspective_np
from src.render import mesh, raster
from src.render.camera import rotate_about_vertical, weak_perspective_to_pixels
from src.render.mesh import MESH_COLORS, MeshRenderer, safe_render
from src.render.raster import rasterize
from src.render.views import FrameVisualizer, overlay_grid

BLUE = np.array([0.651, 0.741, 0.859])  # docs/original_release.md §8 step 9
LIGHT_PX = np.array([1.0, -0.5, -1.0])  # (1, 0.5, -1) of the y-up NMR frame, y flipped


# ------------------------------------------------------------------------------------------------
# Meshes built here (no body model)


def uv_sphere(rings: int = 30, segments: int = 32, radius: float = 1.0):
    """Closed sphere, faces counter-clockwise seen from outside (right-hand normal outward)."""
    theta = np.pi * np.arange(1, rings + 1) / (rings + 1)
    phi = 2 * np.pi * np.arange(segments) / segments
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), -np.cos(t), np.sin(t) * np.sin(p)], -1)
    verts = np.concatenate([[[0, -1, 0]], ring.reshape(-1, 3), [[0, 1, 0]]]) * radius
    last = len(verts) - 1

    def idx(i, j):
        return 1 + i * segments + j % segments

    faces = []
    for j in range(segments):
        faces.append((0, idx(0, j), idx(0, j + 1)))
        faces.append((last, idx(rings - 1, j + 1), idx(rings - 1, j)))
    for i in range(rings - 1):
        for j in range(segments):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            faces += [(a, c, b), (b, c, d)]
    return verts, np.array(faces)


def cube(half: float = 1.0):
    """Axis-aligned closed cube, outward right-hand normals; faces 0-1 are the -z side."""
    v = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], float) * half
    # vertex index = x_bit + 2 y_bit + 4 z_bit
    quads = [
        (0, 2, 3, 1),  # z = -1, normal -z
        (4, 5, 7, 6),  # z = +1
        (0, 1, 5, 4),  # y = -1
        (2, 6, 7, 3),  # y = +1
        (0, 4, 6, 2),  # x = -1
        (1, 3, 7, 5),  # x = +1
    ]
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    return v, np.array(faces)


def signed_volume(verts, faces):
    tri = verts[faces]
    return np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0


def quad(center, normal_rot, half=20.0):
    """Square of side 2 * half facing -z, rotated by ``normal_rot`` (3x3), moved to ``center``."""
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float) * half
    verts = corners @ normal_rot.T + np.asarray(center, float)
    # (0, 1, 2): e1 = +x, e2 = +x+y -> n_z = +1 ... reversed so the normal is -z before rotation
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    return verts, faces


def rot_y(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def test_test_meshes_are_outward_and_closed():
    verts, faces = uv_sphere()
    assert signed_volume(verts, faces) > 0.95 * 4 / 3 * np.pi
    v, f = cube()
    assert signed_volume(v, f) == pytest.approx(8.0)


# ------------------------------------------------------------------------------------------------
# Projection helpers


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


# ------------------------------------------------------------------------------------------------
# Rasterisation


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


def brute_force_nearest(vertices_px, faces, height, width):
    """Independent float64 reference: per pixel centre, the front-facing face of smallest z."""
    fbuf = np.full((height, width), -1)
    zbuf = np.full((height, width), np.inf)
    for f, (a, b, c) in enumerate(faces):
        p0, p1, p2 = vertices_px[a], vertices_px[b], vertices_px[c]
        if np.cross(p1 - p0, p2 - p0)[2] >= 0:  # normal away from the camera
            continue
        mat = np.array([[p0[0], p1[0], p2[0]], [p0[1], p1[1], p2[1]], [1.0, 1.0, 1.0]])
        for i in range(height):
            for j in range(width):
                w = np.linalg.solve(mat, [j + 0.5, i + 0.5, 1.0])
                if (w >= -1e-9).all():
                    z = w @ [p0[2], p1[2], p2[2]]
                    if z < zbuf[i, j]:
                        zbuf[i, j], fbuf[i, j] = z, f
    return fbuf, zbuf


def test_rasterize_matches_a_brute_force_reference_on_random_triangles():
    rng = np.random.default_rng(3)
    height, width, num = 16, 20, 12
    verts = np.concatenate(
        [rng.uniform([-2, -2, -5], [width + 2, height + 2, 5], size=(3 * num, 3))]
    )
    faces = np.arange(3 * num).reshape(num, 3)
    fbuf, zbuf = rasterize(verts, faces, (height, width))
    ref_f, ref_z = brute_force_nearest(verts, faces, height, width)
    assert (ref_f >= 0).sum() > 50
    np.testing.assert_array_equal(fbuf >= 0, ref_f >= 0)
    np.testing.assert_allclose(zbuf[ref_f >= 0], ref_z[ref_f >= 0], atol=1e-9)
    np.testing.assert_array_equal(fbuf, ref_f)


def test_small_chunks_give_the_same_buffers(monkeypatch):
    verts, faces = uv_sphere(20, 24)
    px = weak_perspective_to_pixels(verts, [0.7, 0.0, 0.0], (64, 64))
    full = rasterize(px, faces, (64, 64))
    monkeypatch.setattr(raster, "_MAX_SAMPLES", 37)
    parts, real_chunks = [], raster._chunks

    def recording_chunks(counts):
        runs = real_chunks(counts)
        parts.extend(runs)
        return runs

    monkeypatch.setattr(raster, "_chunks", recording_chunks)
    chunked = rasterize(px, faces, (64, 64))
    assert len(parts) > 10  # the patch took effect: many small chunks
    np.testing.assert_array_equal(full[0], chunked[0])
    np.testing.assert_array_equal(full[1], chunked[1])


def test_nearer_cube_face_wins_whatever_the_face_order():
    verts, faces = cube(0.5)
    px = weak_perspective_to_pixels(verts, [0.8, 0.0, 0.0], (64, 64))
    for order in (np.arange(12), np.arange(12)[::-1]):
        fbuf, zbuf = rasterize(px, faces[order], (64, 64), cull_back_faces=False)
        hit = fbuf >= 0
        assert hit.sum() > 0
        assert set(np.unique(order[fbuf[hit]])) <= {0, 1}  # the -z (near) side only
        np.testing.assert_allclose(zbuf[hit], -0.5 * 0.8 * 32)


def test_overlapping_quads_show_the_nearer_colour():
    near_v, near_f = quad((30, 30, -5.0), np.eye(3))
    far_v, far_f = quad((40, 40, 5.0), np.eye(3))
    verts = np.concatenate([near_v, far_v])
    faces = np.concatenate([near_f, far_f + 4])
    for order in ((0, 1, 2, 3), (2, 3, 0, 1)):
        fbuf, _ = rasterize(verts, faces[list(order)], (64, 64))
        chosen = np.array(order)[fbuf[35, 35]]
        assert chosen in (0, 1)  # overlap region: the near quad
        assert np.array(order)[fbuf[55, 55]] in (2, 3)  # only the far quad there


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


def test_closed_mesh_shows_only_faces_whose_normals_point_at_the_camera():
    verts, faces = uv_sphere(20, 24)
    px = weak_perspective_to_pixels(rotate_about_vertical(verts, 33.0), [0.6, 0.0, 0.0], (96, 96))
    fbuf, _ = rasterize(px, faces, (96, 96))
    tri = px[faces[np.unique(fbuf[fbuf >= 0])]]
    normal_z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    assert (normal_z < 0).all()


# ------------------------------------------------------------------------------------------------
# Shading


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


# ------------------------------------------------------------------------------------------------
# The 2x2 grid


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
