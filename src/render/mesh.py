"""Headless CPU mesh renderer: flat-shaded triangles over an image (docs/original_release.md §8
step 9).

The original rendered with the Neural Mesh Renderer on a GPU. This module draws the same pictures
with NumPy and OpenCV only (visibility from the z-buffer of :mod:`src.render.raster`), so the demo
runs anywhere, and :func:`safe_render` makes sure a rendering failure never stops inference.

Vertices are given in renderer pixels (x right, y down, z away from the camera; see
:mod:`src.render.camera`). A face ``(a, b, c)`` is lit along its right-hand normal
``(v_b - v_a) x (v_c - v_a)``, which points out of a closed mesh wound counter-clockwise seen from
outside (SMPL's convention).

Shading. As NMR with the original's settings: flat per-face colour
``colour * (ambient + directional * max(0, n . d))`` with unit outward normal ``n`` and light
direction ``d = (1, 0.5, -1)`` given in NMR's y-up frame (so ``(1, -0.5, -1)`` in pixels: from
the right, above and the camera's side), used unnormalised as NMR does, ambient 0.7, directional
0.3; values are clipped to [0, 1]. The default colour is the original's "blue" and the
background white.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import cv2
import numpy as np

from src.constants import IMG_SIZE
from src.render.camera import weak_perspective_to_pixels
from src.render.checks import _as_size, _as_vertices, _check_faces
from src.render.raster import _rasterize

Color = tuple[float, float, float]

# The original's mesh colours (RGB in [0, 1]); "blue" is the default.
MESH_COLORS: dict[str, Color] = {
    "blue": (0.65098039, 0.74117647, 0.85882353),
    "pink": (0.9, 0.7, 0.7),
    "mint": (166 / 255.0, 229 / 255.0, 204 / 255.0),
    "green": (153 / 255.0, 216 / 255.0, 201 / 255.0),
    "red": (251 / 255.0, 128 / 255.0, 114 / 255.0),
    "orange": (253 / 255.0, 174 / 255.0, 97 / 255.0),
    "yellow": (250 / 255.0, 230 / 255.0, 154 / 255.0),
}
DEFAULT_COLOR = "blue"
LIGHT_DIRECTION: Color = (1.0, 0.5, -1.0)  # NMR frame (x right, y up, z away); not normalised
LIGHT_AMBIENT = 0.7
LIGHT_DIRECTIONAL = 0.3
BACKGROUND_COLOR: Color = (1.0, 1.0, 1.0)  # white, as the original


# ------------------------------------------------------------------------------------------------
# Shading


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit right-hand normals ``(v1 - v0) x (v2 - v0)`` of ``(F, 3)`` faces: ``(F, 3)``.

    Degenerate faces get a zero normal.
    """
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    return np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)


def lambert_intensity(
    normals: np.ndarray,
    light_direction: Sequence[float] = LIGHT_DIRECTION,
    ambient: float = LIGHT_AMBIENT,
    directional: float = LIGHT_DIRECTIONAL,
) -> np.ndarray:
    """NMR's light factor ``ambient + directional * max(0, n . d)`` for pixel-frame normals.

    Args:
        normals: ``(F, 3)`` unit outward normals in pixels (y down).
        light_direction: ``(3,)`` in NMR's y-up frame, used unnormalised as NMR does.
    Returns:
        ``(F,)`` float64.
    """
    light = np.asarray(light_direction, dtype=np.float64) * np.array([1.0, -1.0, 1.0])
    return ambient + directional * np.maximum(normals @ light, 0.0)


# ------------------------------------------------------------------------------------------------
# Renderer


def _vertex_window(
    vertices_px: np.ndarray, img_size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Pixel box ``(x0, y0, x1, y1)`` (end exclusive) holding all vertices, clipped to the image."""
    height, width = img_size
    lo = np.floor(vertices_px[:, :2].min(axis=0))
    hi = np.ceil(vertices_px[:, :2].max(axis=0)) + 1
    x0, y0 = (int(v) for v in np.maximum(lo, 0))
    x1, y1 = (int(v) for v in np.minimum(hi, [width, height]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _as_color(color: str | Sequence[float]) -> np.ndarray:
    if isinstance(color, str):
        if color not in MESH_COLORS:
            names = sorted(MESH_COLORS)
            raise ValueError(f"unknown mesh colour {color!r}; expected one of {names}")
        color = MESH_COLORS[color]
    rgb = np.asarray(color, dtype=np.float64).reshape(-1)
    if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 1:
        raise ValueError(f"expected an RGB colour in [0, 1], got {color}")
    return rgb


class MeshRenderer:
    """Renders one triangle mesh over an image, flat-shaded, headless.

    Args:
        faces: ``(F, 3)`` integer vertex indices (outward normals by the right-hand rule).
        img_size: ``(H, W)`` of the images it renders.
        color: a name of :data:`MESH_COLORS` or an RGB triple in [0, 1].
        light_direction: ``(3,)`` in NMR's y-up frame (see the module docstring).
        ambient: ambient light intensity.
        directional: directional light intensity.
        supersample: render at this many times the resolution and average down (anti-aliasing;
            1 = off, 2 costs about 4x).

    Example:
        >>> renderer = MeshRenderer(faces, img_size=(224, 224))
        >>> rgb, mask = renderer.render(weak_perspective_to_pixels(verts, cam), crop_uint8)
    """

    def __init__(
        self,
        faces: np.ndarray,
        img_size: Sequence[int] = (IMG_SIZE, IMG_SIZE),
        color: str | Sequence[float] = DEFAULT_COLOR,
        light_direction: Sequence[float] = LIGHT_DIRECTION,
        ambient: float = LIGHT_AMBIENT,
        directional: float = LIGHT_DIRECTIONAL,
        supersample: int = 1,
    ) -> None:
        self.faces = _check_faces(faces).copy()  # its own: the caller may reuse theirs
        self._largest_index = int(self.faces.max()) if self.faces.size else -1
        self.img_size = _as_size(img_size)
        self.color = _as_color(color)
        self.light_direction = tuple(float(v) for v in light_direction)
        self.ambient = float(ambient)
        self.directional = float(directional)
        if int(supersample) < 1:
            raise ValueError(f"supersample must be >= 1, got {supersample}")
        self.supersample = int(supersample)

    def face_colors(
        self, vertices_px: np.ndarray, face_ids: np.ndarray | None = None
    ) -> np.ndarray:
        """Shaded RGB colour of every face (or of the faces ``face_ids``), ``(F, 3)`` float64 in
        [0, 1]."""
        faces = self.faces if face_ids is None else self.faces[face_ids]
        normals = face_normals(vertices_px, faces)
        light = lambert_intensity(normals, self.light_direction, self.ambient, self.directional)
        return np.clip(light[:, None] * self.color[None, :], 0.0, 1.0)

    def _background(self, background: np.ndarray | None) -> np.ndarray:
        height, width = self.img_size
        if background is None:
            white = np.rint(np.asarray(BACKGROUND_COLOR) * 255).astype(np.uint8)
            return np.broadcast_to(white, (height, width, 3)).copy()
        background = np.asarray(background)
        if background.shape != (height, width, 3) or background.dtype != np.uint8:
            raise ValueError(
                f"MeshRenderer: expected a ({height}, {width}, 3) uint8 background, "
                f"got {background.dtype} {background.shape}"
            )
        return background

    def render(
        self, vertices_px: np.ndarray, background: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw the mesh.

        Args:
            vertices_px: ``(V, 3)`` pixel coordinates (x right, y down, z away from the camera),
                e.g. from :func:`weak_perspective_to_pixels`.
            background: ``(H, W, 3)`` uint8 RGB, or None for white.
        Returns:
            ``rgb (H, W, 3)`` uint8 and ``mask (H, W)`` bool (pixels covered by the mesh; with
            supersampling, those more than half covered). Outside the mask ``rgb`` equals the
            background.
        """
        background = self._background(background)
        vertices_px = _as_vertices(vertices_px, "MeshRenderer.render")
        if len(vertices_px) <= self._largest_index:
            raise ValueError(
                f"faces index vertex {self._largest_index} but there are only {len(vertices_px)}"
            )
        rgb = background.copy()
        mask = np.zeros(self.img_size, bool)
        window = _vertex_window(vertices_px, self.img_size)
        if window is None:
            return rgb, mask
        x0, y0, x1, y1 = window
        shifted = vertices_px - np.array([x0, y0, 0.0])
        sub_rgb, sub_mask = self._render_window(shifted, rgb[y0:y1, x0:x1])
        rgb[y0:y1, x0:x1] = sub_rgb
        mask[y0:y1, x0:x1] = sub_mask
        return rgb, mask

    def _pixel_colors(self, vertices_px: np.ndarray, pixel_faces: np.ndarray) -> np.ndarray:
        """The shaded colour of the face at each covered pixel, ``(N, 3)``: shading only the
        faces that show (a third of a body's) rather than all of them."""
        shown, index = np.unique(pixel_faces, return_inverse=True)
        return self.face_colors(vertices_px, shown)[index]

    def _render_window(
        self, vertices_px: np.ndarray, background: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render into a window ``(h, w, 3)`` uint8 whose origin is the pixel origin."""
        height, width = background.shape[:2]
        k = self.supersample
        if k == 1:
            fbuf, _ = _rasterize(vertices_px, self.faces, height, width, True)
            mask = fbuf >= 0
            rgb = background.copy()
            rgb[mask] = np.rint(self._pixel_colors(vertices_px, fbuf[mask]) * 255.0)
            return rgb, mask
        fbuf, _ = _rasterize(vertices_px * k, self.faces, height * k, width * k, True)
        hit = fbuf >= 0
        layer = np.zeros((height * k, width * k, 3), np.float32)
        layer[hit] = self._pixel_colors(vertices_px, fbuf[hit]) * 255.0
        alpha = cv2.resize(hit.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        premult = cv2.resize(layer, (width, height), interpolation=cv2.INTER_AREA)
        mixed = premult + (1.0 - alpha[..., None]) * background.astype(np.float32)
        rgb = np.where((alpha > 0)[..., None], np.clip(np.rint(mixed), 0, 255), background)
        return rgb.astype(np.uint8), alpha > 0.5

    def render_camera(
        self, vertices: np.ndarray, cam: np.ndarray, background: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`render` of model-space ``(V, 3)`` vertices seen by a weak-perspective ``cam``."""
        return self.render(weak_perspective_to_pixels(vertices, cam, self.img_size), background)


# ------------------------------------------------------------------------------------------------
# Never break inference


_warned = False


def _warn_once(error: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"rendering disabled for the failing frames ({type(error).__name__}: "
            f"{error}); outputs show the frames without the mesh",
            RuntimeWarning,
            stacklevel=3,
        )


def safe_render(
    renderer: MeshRenderer | None,
    vertices_px: np.ndarray,
    background: np.ndarray | None = None,
    img_size: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`MeshRenderer.render` that never raises.

    If ``renderer`` is None (rendering unavailable) or rendering fails for any reason, warns once
    per process and returns the background unchanged (white of ``img_size``, or of the
    renderer's size, when there is none) with an all-False mask.

    Returns:
        ``rgb (H, W, 3)`` uint8 and ``mask (H, W)`` bool.
    """
    try:
        if renderer is None:
            raise RuntimeError("no renderer")
        return renderer.render(vertices_px, background)
    except Exception as error:  # noqa: BLE001 - rendering must never stop inference
        _warn_once(error)
        return _fallback(renderer, background, img_size)


def _fallback(
    renderer: MeshRenderer | None, background: np.ndarray | None, img_size: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    try:
        image = np.asarray(background)
        if background is not None and image.ndim == 3 and image.shape[2] == 3:
            image = image.astype(np.uint8)
            return image.copy(), np.zeros(image.shape[:2], bool)
    except Exception:  # noqa: BLE001
        pass
    if img_size is None:
        img_size = renderer.img_size if renderer is not None else (IMG_SIZE, IMG_SIZE)
    height, width = (int(v) for v in img_size)
    return np.full((height, width, 3), 255, np.uint8), np.zeros((height, width), bool)
