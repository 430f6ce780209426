"""Cameras between the 224 crop and the original frame, and an approximate 3D translation (§8.9).

A crop camera ``[s, tx, ty]`` maps a 3D point X to normalised crop coordinates ``s (X_xy + t)``,
i.e. to crop pixels ``112 s (X_xy + t + 1/s)``. The crop was cut from the frame after resizing it
by ``scale`` and edge-padding it by ``pad`` pixels, starting at ``start_pt`` (x, y) in the padded
image (the original demo's convention, pad = 224). Hence, in pixels of the original frame:

    s_px = 112 s,  t_px = t + 1/s
    s_orig = s_px / scale,  t_orig = t_px + (start_pt - pad) / s_px
    p_orig = s_orig (X_xy + t_orig)

For a frame padded (right/bottom) to a square of side L = max(height, width), the normalised
camera (coordinates ``2 p / L - 1``) is ``s_n = 2 s_orig / L``, ``t_n = t_orig - 1 / s_n``.
"""

from __future__ import annotations

import numpy as np

from src.constants import IMG_SIZE, NUM_CAM

HALF_CROP = IMG_SIZE / 2.0  # 112: normalised crop -> pixel scale


def _as_cams(cam: np.ndarray, name: str) -> np.ndarray:
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2 or cam.shape[1] != NUM_CAM:
        raise ValueError(f"{name}: expected cameras of shape (N, {NUM_CAM}), got {cam.shape}")
    return cam


def _as_rows(value: np.ndarray, num: int, width: int, name: str, what: str) -> np.ndarray:
    """Broadcast a per-sample value to ``(N, width)`` or raise a ValueError."""
    value = np.asarray(value, dtype=np.float64)
    if width == 1 and value.ndim <= 1:
        value = value.reshape(-1, 1)
    try:
        return np.broadcast_to(value, (num, width))
    except ValueError:
        raise ValueError(
            f"{name}: expected {what} of shape ({num}, {width}) or ({width},), got {value.shape}"
        ) from None


def crop_cam_to_original(
    cam: np.ndarray,
    start_pt: np.ndarray,
    scale: np.ndarray,
    img_size: np.ndarray,
    pad: float = IMG_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Express crop cameras in the original frame (pixels and normalised square frame).

    Args:
        cam: ``(N, 3)`` crop cameras ``[s, tx, ty]``.
        start_pt: ``(N, 2)`` top-left ``(x, y)`` of each crop in the rescaled, padded frame.
        scale: ``(N,)`` resize factor applied to the original frame before cropping.
        img_size: ``(N, 2)`` or ``(2,)`` original frame ``(height, width)`` in pixels.
        pad: edge padding added after resizing, before cropping (224 in the original demo; 0 if
            ``start_pt`` is already in the unpadded rescaled frame).
    Returns:
        ``cam_px (N, 3)``: ``[s_orig, tx, ty]`` with ``p = s_orig (X_xy + t)`` in original pixels
        (x right, y down, origin at the top-left pixel); ``cam_norm (N, 3)``: the camera for
        coordinates ``2 p / L - 1`` of the frame padded right/bottom to a square of side
        ``L = max(height, width)``.
    """
    cam = _as_cams(cam, "crop_cam_to_original")
    num = cam.shape[0]
    start_pt = _as_rows(start_pt, num, 2, "crop_cam_to_original", "start_pt")
    scale = _as_rows(scale, num, 1, "crop_cam_to_original", "scale")
    img_size = _as_rows(img_size, num, 2, "crop_cam_to_original", "img_size")
    s_px = HALF_CROP * cam[:, :1]  # (N, 1)
    t_px = cam[:, 1:] + 1.0 / cam[:, :1]
    s_orig = s_px / scale
    t_orig = t_px + (start_pt - pad) / s_px
    side = img_size.max(axis=1, keepdims=True)  # (N, 1)
    s_norm = 2.0 * s_orig / side
    t_norm = t_orig - 1.0 / s_norm
    return np.concatenate([s_orig, t_orig], axis=1), np.concatenate([s_norm, t_norm], axis=1)


def approx_translation(cam: np.ndarray, focal_px: float, img_size: np.ndarray) -> np.ndarray:
    """Approximate camera-space translation ``[tx, ty, tz]`` of the body, in metres.

    ``cam`` is a normalised camera of a square frame of side ``L = max(height, width)``
    (``cam_norm`` of :func:`crop_cam_to_original`, or a crop camera with ``img_size=(224, 224)``).
    Weak perspective puts ``s_px = s L / 2`` pixels per metre at the body; a pinhole camera of
    focal length ``f_px`` (pixels) has that magnification at depth ``z = f_px / s_px``. With the
    principal point at the image centre ``c = (width / 2, height / 2)``:

        tz = f_px / s_px,   (tx, ty) = t + (L / 2 - c) / s_px

    so that for points in the plane z = 0 of the body (SMPL model space, metres) the pinhole
    projection ``f_px (X_xy + T_xy) / tz + c`` equals the weak-perspective pixels. For a crop
    (L = 224) this is HMR's ``tz = f / (0.5 * 224 * s)``; ``focal_px = 5000`` for a 224 crop is a
    common choice downstream (SPIN, VIBE).

    Args:
        cam: ``(N, 3)`` ``[s, tx, ty]``.
        focal_px: focal length in pixels of the same frame.
        img_size: ``(N, 2)`` or ``(2,)`` frame ``(height, width)`` in pixels.
    Returns:
        ``(N, 3)`` translation in metres (x right, y down, z forward).
    """
    cam = _as_cams(cam, "approx_translation")
    img_size = _as_rows(img_size, cam.shape[0], 2, "approx_translation", "img_size")
    side = img_size.max(axis=1, keepdims=True)
    s_px = cam[:, :1] * side / 2.0
    centre = img_size[:, ::-1] / 2.0  # (cx, cy)
    t_xy = cam[:, 1:] + (side / 2.0 - centre) / s_px
    t_z = focal_px / s_px
    return np.concatenate([t_xy, t_z], axis=1)
