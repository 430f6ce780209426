"""Model space to renderer pixels: the weak-perspective camera and the side view's framing.

Coordinates. The renderer works in image pixels: ``x`` right, ``y`` down, ``z`` pointing away from
the camera (orthographic view along +z, smaller z is nearer), pixel ``(i, j)`` covering
``[j, j + 1) x [i, i + 1)`` with its centre at ``(j + 0.5, i + 0.5)``. HMMR's predicted vertices
are already in that orientation: the root rotation ``[pi, 0, 0]`` of the mean pose turns the
y-up SMPL body so that model ``y`` points down the image and the body faces -z, the camera
(this is why the original flips y before handing vertices to NMR, whose images are y-up).
:func:`weak_perspective_to_pixels` maps model space to pixels with the weak-perspective camera,
exactly as the 2D keypoints: ``x_px = (s (X + tx) + 1) L / 2`` with ``L = max(H, W)`` (the frame
padded right/bottom to a square, as the original and :mod:`src.geometry.camera`), and the same
for y; z is scaled by the same ``s L / 2`` so that the pixel frame is a similarity of model space.

The side view turns the body about the vertical axis (:func:`rotate_about_vertical`) and frames it
to its extent (:func:`fit_camera`), whatever camera the body was seen with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from src.constants import IMG_SIZE, NUM_CAM
from src.render.checks import _as_size, _as_vertices

SIDE_VIEW_DEGREES = 90.0


def weak_perspective_to_pixels(
    vertices: np.ndarray, cam: np.ndarray, img_size: Sequence[int] = (IMG_SIZE, IMG_SIZE)
) -> np.ndarray:
    """Model-space points to renderer pixels with a normalised weak-perspective camera.

    ``x_px = (s (X + tx) + 1) L / 2``, ``y_px = (s (Y + ty) + 1) L / 2``, ``z_px = s Z L / 2`` with
    ``L = max(H, W)``: for a 224 crop this is the keypoint mapping ``(x + 1) * 112`` applied to
    :func:`src.geometry.projection.project_weak_perspective`.

    Args:
        vertices: ``(V, 3)`` points in model space (metres, HMMR orientation: y down, facing -z).
        cam: ``(3,)`` ``[s, tx, ty]`` normalised to the crop (or to the square-padded frame, as
            ``cam_norm`` of :func:`src.geometry.camera.crop_cam_to_original`).
        img_size: ``(H, W)`` of the target image.
    Returns:
        ``(V, 3)`` float64 pixel coordinates (z away from the camera, in the same pixel units).
    """
    vertices = _as_vertices(vertices, "weak_perspective_to_pixels")
    cam = np.asarray(cam, dtype=np.float64).reshape(-1)
    if cam.shape != (NUM_CAM,):
        raise ValueError(f"weak_perspective_to_pixels: expected cam (3,), got {cam.shape}")
    half = max(_as_size(img_size)) / 2.0
    scale, trans = cam[0], cam[1:]
    out = np.empty_like(vertices)
    out[:, :2] = (scale * (vertices[:, :2] + trans) + 1.0) * half
    out[:, 2] = scale * vertices[:, 2] * half
    return out


def rotate_about_vertical(vertices: np.ndarray, degrees: float = SIDE_VIEW_DEGREES) -> np.ndarray:
    """Rotate ``(V, 3)`` points about the vertical (y) axis through their centroid.

    The rotation is ``R_y = [[c, 0, s], [0, 1, 0], [-s, 0, c]]`` (Rodrigues of ``deg * (0, 1, 0)``,
    as the original's ``rotated(verts, 90)`` side view).

    Returns:
        ``(V, 3)`` float64.
    """
    vertices = _as_vertices(vertices, "rotate_about_vertical")
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    center = vertices.mean(axis=0, keepdims=True)
    return (vertices - center) @ rot.T + center


SIDE_VIEW_MARGIN = 0.05  # free border around the body in the side view, fraction of the side


def fit_camera(
    vertices: np.ndarray, img_size: Sequence[int], margin: float = SIDE_VIEW_MARGIN
) -> np.ndarray:
    """A weak-perspective camera that frames the body's extent in an image of ``img_size``.

    The vertices' ``x``/``y`` bounding box is centred in the image and scaled so that it fills
    it up to ``margin`` of each side (the larger of the two fits), whatever camera the body was
    seen with: the side view always shows the whole body.

    Args:
        vertices: ``(V, 3)`` model-space points.
        img_size: ``(H, W)``.
        margin: free border, a fraction of each image side (``0 <= margin < 0.5``).
    Returns:
        ``(3,)`` float64 ``[s, tx, ty]`` for :func:`weak_perspective_to_pixels`.
    """
    vertices = _as_vertices(vertices, "fit_camera")
    height, width = _as_size(img_size)
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"fit_camera: margin must be in [0, 0.5), got {margin}")
    half = max(height, width) / 2.0
    lo, hi = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    extent = np.maximum(hi - lo, 1e-9)  # (x, y) metres
    room = (1.0 - 2.0 * margin) * np.array([width, height], np.float64)  # (x, y) pixels
    scale = float(np.min(room / (extent * half)))
    center = (lo + hi) / 2.0
    # x_px = (s (X + t) + 1) * half = W / 2 at the centre: t = (W / (2 half) - 1) / s - X
    trans = (np.array([width, height], np.float64) / (2.0 * half) - 1.0) / scale - center
    return np.array([scale, trans[0], trans[1]])
