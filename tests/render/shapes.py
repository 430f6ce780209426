"""Meshes built for the render tests, no body model: closed ones wound outward (counter-clockwise
seen from outside) and flat quads (not a test module)."""

from __future__ import annotations

import numpy as np


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


def quad(center, normal_rot, half=20.0):
    """Square of side 2 * half facing -z, rotated by ``normal_rot`` (3x3), moved to ``center``."""
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float) * half
    verts = corners @ normal_rot.T + np.asarray(center, float)
    # (0, 1, 2): e1 = +x, e2 = +x+y -> n_z = +1 ... reversed so the normal is -z before rotation
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    return verts, faces


def box_mesh(height: float = 1.7) -> tuple[np.ndarray, np.ndarray]:
    """A closed box ``0.4 x height x 0.3`` m (8 vertices, 12 outward-wound faces)."""
    x, y, z = 0.2, height / 2, 0.15
    verts = np.array([[sx * x, sy * y, sz * z] for sx in (-1, 1) for sy in (-1, 1)
                      for sz in (-1, 1)])  # fmt: skip
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])  # fmt: skip
    return verts, faces
