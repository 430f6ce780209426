"""The demo's pictures of one frame: the mesh over the original frame, the side view and the
original's 2x2 crop grid (docs/original_release.md §8 step 9).

Every view goes through :func:`src.render.mesh.safe_render`, so a rendering failure shows the plain
image (and warns once) instead of stopping the demo.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from src.constants import IMG_SIZE
from src.render.camera import (
    SIDE_VIEW_DEGREES,
    fit_camera,
    rotate_about_vertical,
    weak_perspective_to_pixels,
)
from src.render.checks import _as_size, _check_faces
from src.render.draw import crop_to_uint8, draw_skeleton, normalized_to_pixels
from src.render.mesh import DEFAULT_COLOR, MeshRenderer, _fallback, _warn_once, safe_render

# ------------------------------------------------------------------------------------------------
# The demo's 2x2 layout


def resize_to_height(image: np.ndarray, height: int = IMG_SIZE) -> np.ndarray:
    """Resize ``(h, w, 3)`` to ``(height, round(w * height / h), 3)``, keeping the aspect ratio."""
    h, w = image.shape[:2]
    new_w = max(1, int(round(w * height / h)))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(image, (new_w, height), interpolation=interp)


def _pad_width(image: np.ndarray, width: int) -> np.ndarray:
    """Pad on the right with white up to ``width``."""
    extra = width - image.shape[1]
    if extra <= 0:
        return image
    return np.pad(image, ((0, 0), (0, extra), (0, 0)), constant_values=255)


def overlay_grid(
    mesh_on_crop: np.ndarray,
    skeleton_on_crop: np.ndarray,
    mesh_on_frame: np.ndarray,
    side_view: np.ndarray,
    height: int = IMG_SIZE,
) -> np.ndarray:
    """The original's 2x2 crop video frame.

        | mesh on crop     | mesh over the original frame (height ``height``) |
        | skeleton on crop | side view                                       |

    The left column is resized to ``height`` x ``height``; the right column images keep their
    aspect ratio at height ``height`` and are padded with white on the right to the wider of
    them and ``height`` (the original stretched the side view to a square; here it keeps its
    shape).

    Args:
        mesh_on_crop, skeleton_on_crop: ``(h, w, 3)`` uint8, normally ``(224, 224, 3)``.
        mesh_on_frame: ``(H, W, 3)`` uint8, the overlay on the original frame.
        side_view: ``(h, w, 3)`` uint8.
    Returns:
        ``(2 * height, height + W', 3)`` uint8 with ``W' = max(height, widths on the right)``.
    """
    images = (mesh_on_crop, skeleton_on_crop, mesh_on_frame, side_view)
    for name, image in zip(
        ("mesh_on_crop", "skeleton_on_crop", "mesh_on_frame", "side_view"), images, strict=True
    ):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(
                f"overlay_grid: {name}: expected an (H, W, 3) uint8 image, got "
                f"{image.dtype} {image.shape}"
            )
    left = [
        cv2.resize(img, (height, height), interpolation=cv2.INTER_AREA)
        if img.shape[:2] != (height, height)
        else img
        for img in (mesh_on_crop, skeleton_on_crop)
    ]
    right = [resize_to_height(img, height) for img in (mesh_on_frame, side_view)]
    right_w = max(height, *(img.shape[1] for img in right))
    right = [_pad_width(img, right_w) for img in right]
    return np.concatenate([np.concatenate(left, axis=0), np.concatenate(right, axis=0)], axis=1)


# ------------------------------------------------------------------------------------------------
# Everything the demo draws for one frame


class FrameVisualizer:
    """The demo's per-frame pictures: the mesh over the original frame and the 2x2 crop grid.

    Every view goes through :func:`safe_render`, so a failure shows the plain image (and warns
    once) instead of stopping the demo. Renderers are cached per image size.

    Args:
        faces: ``(F, 3)`` mesh faces (SMPL's, or the stand-in model's).
        color: mesh colour name or RGB in [0, 1].
        supersample: anti-aliasing factor of :class:`MeshRenderer`.
        side_view_degrees: rotation of the side view about the vertical axis.

    Example:
        >>> vis = FrameVisualizer(faces)
        >>> overlay = vis.frame_overlay(verts, cam_norm, frame)
        >>> grid = vis.crop_grid(verts, cam, crop, kp, overlay)
    """

    def __init__(
        self,
        faces: np.ndarray,
        color: str | Sequence[float] = DEFAULT_COLOR,
        supersample: int = 1,
        side_view_degrees: float = SIDE_VIEW_DEGREES,
    ) -> None:
        self.faces = _check_faces(faces).copy()  # its own: the caller may reuse theirs
        self.color = color
        self.supersample = supersample
        self.side_view_degrees = float(side_view_degrees)
        self._renderers: dict[tuple[int, int], MeshRenderer] = {}

    def renderer(self, img_size: Sequence[int]) -> MeshRenderer:
        """The cached :class:`MeshRenderer` for ``(H, W)``."""
        size = _as_size(img_size)
        if size not in self._renderers:
            self._renderers[size] = MeshRenderer(
                self.faces, size, self.color, supersample=self.supersample
            )
        return self._renderers[size]

    def _view(
        self,
        vertices: np.ndarray,
        cam: np.ndarray,
        background: np.ndarray | None,
        img_size: tuple[int, int],
    ) -> np.ndarray:
        try:
            renderer = self.renderer(img_size)
            vertices_px = weak_perspective_to_pixels(vertices, cam, img_size)
        except Exception as error:  # noqa: BLE001 - rendering must never stop inference
            _warn_once(error)
            return _fallback(None, background, img_size)[0]
        return safe_render(renderer, vertices_px, background, img_size)[0]

    def frame_overlay(
        self, vertices: np.ndarray, cam_frame: np.ndarray, frame: np.ndarray
    ) -> np.ndarray:
        """Mesh over the original frame.

        Args:
            vertices: ``(V, 3)`` model-space vertices.
            cam_frame: ``(3,)`` camera normalised to the frame padded to a square
                (``cam_norm`` of :func:`src.geometry.camera.crop_cam_to_original`).
            frame: ``(H, W, 3)`` uint8 RGB.
        Returns:
            ``(H, W, 3)`` uint8 RGB.
        """
        frame = np.asarray(frame)
        return self._view(vertices, cam_frame, frame, frame.shape[:2])

    def side_view(self, vertices: np.ndarray, img_size: Sequence[int]) -> np.ndarray:
        """The body turned about the vertical axis, on white, framed to its extent
        (:func:`fit_camera`): the whole body shows whatever the frame's camera.

        Returns:
            ``(H, W, 3)`` uint8 RGB.
        """
        size = _as_size(img_size)
        try:
            side = rotate_about_vertical(vertices, self.side_view_degrees)
            cam = fit_camera(side, size)
        except Exception as error:  # noqa: BLE001 - rendering must never stop inference
            _warn_once(error)
            return _fallback(None, None, size)[0]
        return self._view(side, cam, None, size)

    def crop_grid(
        self,
        vertices: np.ndarray,
        cam_crop: np.ndarray,
        crop: np.ndarray,
        keypoints: np.ndarray,
        frame_overlay: np.ndarray,
    ) -> np.ndarray:
        """The original's 2x2 frame (see :func:`overlay_grid`).

        Args:
            vertices: ``(V, 3)`` model-space vertices.
            cam_crop: ``(3,)`` crop camera.
            crop: ``(224, 224, 3)`` network crop, float in [-1, 1] or uint8.
            keypoints: ``(25, 2|3)`` predicted keypoints normalised over the crop.
            frame_overlay: ``(H, W, 3)`` uint8 from :meth:`frame_overlay`.
        Returns:
            ``(448, 224 + W', 3)`` uint8 RGB.
        """
        crop_u8 = crop_to_uint8(crop)
        size = crop_u8.shape[:2]
        mesh_on_crop = self._view(vertices, cam_crop, crop_u8, size)
        try:
            skeleton = draw_skeleton(crop_u8, normalized_to_pixels(keypoints, max(size)))
        except Exception as error:  # noqa: BLE001
            _warn_once(error)
            skeleton = crop_u8
        side_view = self.side_view(vertices, size)
        return overlay_grid(mesh_on_crop, skeleton, frame_overlay, side_view, size[0])
