"""Argument checks shared by the render modules: image sizes, vertex arrays and face arrays.

Each returns its argument in the form the renderer computes with (``(H, W)`` ints, float64
vertices, int64 faces) or raises ``ValueError`` saying what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_size(img_size: Sequence[int]) -> tuple[int, int]:
    if len(img_size) != 2 or min(int(img_size[0]), int(img_size[1])) <= 0:
        raise ValueError(f"expected img_size (height, width) > 0, got {tuple(img_size)}")
    return int(img_size[0]), int(img_size[1])


def _as_vertices(vertices: np.ndarray, name: str) -> np.ndarray:
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name}: expected vertices of shape (V, 3), got {vertices.shape}")
    if not np.isfinite(vertices).all():
        raise ValueError(f"{name}: vertices contain NaN or inf")
    return vertices


def _check_faces(faces: np.ndarray, num_vertices: int | None = None) -> np.ndarray:
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"expected integer faces of shape (F, 3), got {faces.dtype} {faces.shape}")
    if faces.size and faces.min() < 0:
        raise ValueError("faces: negative vertex index")
    if num_vertices is not None and faces.size and faces.max() >= num_vertices:
        raise ValueError(f"faces index vertex {faces.max()} but there are only {num_vertices}")
    return np.asarray(faces, dtype=np.int64)  # no copy when already int64
