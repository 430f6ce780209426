"""Tests for the z-buffer rasteriser, against a brute-force float64 reference and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from src.render import raster
from src.render.camera import rotate_about_vertical, weak_perspective_to_pixels
from src.render.raster import rasterize
from tests.render.shapes import cube, quad, uv_sphere


def signed_volume(verts, faces):
    tri = verts[faces]
    return np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0


def test_test_meshes_are_outward_and_closed():
    verts, faces = uv_sphere()
    assert signed_volume(verts, faces) > 0.95 * 4 / 3 * np.pi
    v, f = cube()
    assert signed_volume(v, f) == pytest.approx(8.0)


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


def test_closed_mesh_shows_only_faces_whose_normals_point_at_the_camera():
    verts, faces = uv_sphere(20, 24)
    px = weak_perspective_to_pixels(rotate_about_vertical(verts, 33.0), [0.6, 0.0, 0.0], (96, 96))
    fbuf, _ = rasterize(px, faces, (96, 96))
    tri = px[faces[np.unique(fbuf[fbuf >= 0])]]
    normal_z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    assert (normal_z < 0).all()
