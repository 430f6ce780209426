"""Drawing on frames with OpenCV: the HMMR skeleton, text lines and a warning banner.

Images are RGB ``uint8`` ``(H, W, 3)`` (the convention of :mod:`src.video.io`); every function
returns a new image and leaves its input untouched. Keypoints are in pixels of the image they are
drawn on; :func:`normalized_to_pixels` converts the pipeline's ``[-1, 1]`` crop coordinates
(pixel = ``(x + 1) * 112`` for the 224 crop).

The skeleton follows the original's 25-joint drawing (docs/original_release.md §8 step 9,
``draw_skeleton`` of the release): heels hang from the OpenPose-style ankles, ankles from knees,
hips from shoulders, shoulders from the neck, the head chain neck - nose - head top, ears from eyes,
toes from ankles. Judgement call: the eyes are joined to the nose (the original leaves them
floating). A 14-joint (LSP) input draws the heel straight to the knee and the neck to the head top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from src.constants import IMG_SIZE, NUM_KPS, NUM_LSP_JOINTS
from src.joints import HMMR_JOINT_INDEX

RGB = tuple[int, int, int]

# Colours by body part, RGB; the right side dark, the left side light.
PART_COLORS: dict[str, RGB] = {
    "r_leg": (118, 42, 131),
    "l_leg": (175, 141, 195),
    "r_arm": (69, 117, 180),
    "l_arm": (145, 191, 219),
    "r_foot": (200, 90, 39),
    "l_foot": (252, 141, 89),
    "torso": (77, 146, 33),
    "head": (215, 48, 39),
}
JOINT_OUTLINE: RGB = (255, 255, 255)
TEXT_COLOR: RGB = (57, 255, 20)  # the original's green
BANNER_COLOR: RGB = (200, 0, 0)
BANNER_TEXT_COLOR: RGB = (255, 255, 255)
UNTRAINED_WARNING = "UNTRAINED WEIGHTS"

# (joint, joint, body part), by name.
_LIMBS_25: tuple[tuple[str, str, str], ...] = (
    ("r_heel", "r_ankle", "r_foot"),
    ("r_ankle", "r_knee", "r_leg"),
    ("r_knee", "r_hip", "r_leg"),
    ("r_hip", "r_shoulder", "torso"),
    ("l_heel", "l_ankle", "l_foot"),
    ("l_ankle", "l_knee", "l_leg"),
    ("l_knee", "l_hip", "l_leg"),
    ("l_hip", "l_shoulder", "torso"),
    ("r_wrist", "r_elbow", "r_arm"),
    ("r_elbow", "r_shoulder", "r_arm"),
    ("r_shoulder", "neck", "r_arm"),
    ("l_wrist", "l_elbow", "l_arm"),
    ("l_elbow", "l_shoulder", "l_arm"),
    ("l_shoulder", "neck", "l_arm"),
    ("neck", "nose", "head"),
    ("nose", "head_top", "head"),
    ("r_eye", "nose", "head"),
    ("l_eye", "nose", "head"),
    ("r_ear", "r_eye", "head"),
    ("l_ear", "l_eye", "head"),
    ("r_big_toe", "r_ankle", "r_foot"),
    ("l_big_toe", "l_ankle", "l_foot"),
    ("r_small_toe", "r_big_toe", "r_foot"),
    ("l_small_toe", "l_big_toe", "l_foot"),
)
_LIMBS_14: tuple[tuple[str, str, str], ...] = (
    ("r_heel", "r_knee", "r_leg"),
    ("l_heel", "l_knee", "l_leg"),
    ("neck", "head_top", "head"),
) + tuple(
    limb
    for limb in _LIMBS_25
    if max(HMMR_JOINT_INDEX[limb[0]], HMMR_JOINT_INDEX[limb[1]]) < NUM_LSP_JOINTS
)


def _index_limbs(limbs: Sequence[tuple[str, str, str]]) -> tuple[tuple[int, int, RGB], ...]:
    return tuple((HMMR_JOINT_INDEX[a], HMMR_JOINT_INDEX[b], PART_COLORS[p]) for a, b, p in limbs)


# (index, index, colour) for the 25 HMMR joints and for their first 14 (LSP).
HMMR_LIMBS: tuple[tuple[int, int, RGB], ...] = _index_limbs(_LIMBS_25)
LSP_LIMBS: tuple[tuple[int, int, RGB], ...] = _index_limbs(_LIMBS_14)
_LIMBS_BY_COUNT = {NUM_KPS: HMMR_LIMBS, NUM_LSP_JOINTS: LSP_LIMBS}

_MAX_COORD_FACTOR = 4  # points further than 4 image sizes away are clamped before int conversion


def _joint_colors(num_joints: int) -> list[RGB]:
    """Colour of each joint: that of the first limb it belongs to."""
    colors: list[RGB] = [PART_COLORS["torso"]] * num_joints
    seen: set[int] = set()
    for a, b, color in _LIMBS_BY_COUNT[num_joints]:
        for j in (a, b):
            if j not in seen:
                colors[j] = color
                seen.add(j)
    return colors


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"{name}: expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}"
        )
    return image


def crop_to_uint8(image: np.ndarray) -> np.ndarray:
    """A network crop (float in ``[-1, 1]``) or a uint8 image as a new ``(H, W, 3)`` uint8 image."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.copy()
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"crop_to_uint8: expected uint8 or float in [-1, 1], got {image.dtype}")
    return np.clip(np.rint((image + 1.0) * 127.5), 0, 255).astype(np.uint8)


def normalized_to_pixels(keypoints: np.ndarray, img_size: int = IMG_SIZE) -> np.ndarray:
    """``(..., K, 2|3)`` keypoints in ``[-1, 1]`` -> pixels ``(x + 1) * img_size / 2``.

    A third (visibility) column is kept as is.
    """
    out = np.array(keypoints, dtype=np.float64)
    out[..., :2] = (out[..., :2] + 1.0) * (img_size / 2.0)
    return out


def _pixel_points(keypoints: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(K, 2|3)`` -> integer points ``(K, 2)`` and a drawable mask ``(K,)``."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 2 or keypoints.shape[1] not in (2, 3):
        raise ValueError(
            f"draw_skeleton: expected keypoints (K, 2) or (K, 3), got {keypoints.shape}"
        )
    if keypoints.shape[0] not in _LIMBS_BY_COUNT:
        raise ValueError(
            f"draw_skeleton: expected {NUM_KPS} or {NUM_LSP_JOINTS} joints, got "
            f"{keypoints.shape[0]}"
        )
    xy = keypoints[:, :2]
    ok = np.isfinite(xy).all(axis=1)
    if keypoints.shape[1] == 3:
        ok &= keypoints[:, 2] > 0
    limit = _MAX_COORD_FACTOR * max(shape[:2])
    points = np.rint(np.clip(np.nan_to_num(xy), -limit, limit)).astype(np.int64)
    return points, ok


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    radius: int | None = None,
    draw_limbs: bool = True,
) -> np.ndarray:
    """Draw HMMR joints (and limbs) on a copy of ``image``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(K, 2)`` pixels or ``(K, 3)`` pixels + visibility, K = 25 (HMMR) or 14
            (LSP). Joints with visibility <= 0 or non-finite coordinates are skipped, and so are
            limbs touching them.
        radius: joint radius in pixels; default ``max(4, 1% of the mean image side)``, as the
            original.
        draw_limbs: draw the limbs; otherwise only joint outlines.
    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = _check_image(image, "draw_skeleton").copy()
    points, ok = _pixel_points(keypoints, out.shape)
    if radius is None:
        radius = max(4, int(np.mean(out.shape[:2]) * 0.01))
    line_width = max(1, radius - 2)
    colors = _joint_colors(points.shape[0])
    if draw_limbs:
        for a, b, color in _LIMBS_BY_COUNT[points.shape[0]]:
            if ok[a] and ok[b]:
                cv2.line(
                    out,
                    tuple(map(int, points[a])),
                    tuple(map(int, points[b])),
                    color,
                    line_width,
                    cv2.LINE_AA,
                )
    for j in np.flatnonzero(ok):
        center = tuple(map(int, points[j]))
        if draw_limbs:
            cv2.circle(out, center, radius, JOINT_OUTLINE, -1, cv2.LINE_AA)
            cv2.circle(out, center, max(1, radius - 1), colors[j], -1, cv2.LINE_AA)
        else:
            cv2.circle(out, center, max(1, radius - 1), colors[j], 1, cv2.LINE_AA)
    return out


def draw_text(
    image: np.ndarray,
    lines: Sequence[str] | Mapping[str, object],
    color: RGB = TEXT_COLOR,
    scale: float = 0.5,
) -> np.ndarray:
    """Write lines of text top-left on a copy of ``image`` (a mapping is written ``key: value``).

    Floats in a mapping are written with 2 significant digits, as the original's ``draw_text``.
    """
    out = _check_image(image, "draw_text").copy()
    if isinstance(lines, Mapping):
        lines = [
            f"{k}: {v:.2g}" if isinstance(v, float) else f"{k}: {v}"
            for k, v in sorted(lines.items())
        ]
    (_, line_h), baseline = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    step = line_h + baseline + 2
    for i, text in enumerate(lines):
        origin = (5, step * (i + 1))
        cv2.putText(out, str(text), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
    return out


def _fit_text_scale(text: str, width: int, height: int, thickness: int) -> float:
    """Largest font scale at which ``text`` fits in ``width`` x ``height`` pixels."""
    (w, h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, thickness)
    return max(0.1, min(width / max(w, 1), height / max(h + baseline, 1)))


def draw_banner(
    image: np.ndarray,
    text: str = UNTRAINED_WARNING,
    color: RGB = BANNER_COLOR,
    text_color: RGB = BANNER_TEXT_COLOR,
    height_fraction: float = 0.08,
) -> np.ndarray:
    """A filled strip across the top of a copy of ``image`` with ``text`` centred in it.

    The strip is ``height_fraction`` of the image height (at least 14 px) and the text is scaled
    to fit its width: loud enough for "UNTRAINED WEIGHTS" on any frame size.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = _check_image(image, "draw_banner").copy()
    img_h, img_w = out.shape[:2]
    bar_h = min(img_h, max(14, int(round(img_h * height_fraction))))
    out[:bar_h] = color
    thickness = max(1, bar_h // 12)
    pad = max(2, bar_h // 8)
    scale = _fit_text_scale(text, img_w - 2 * pad, bar_h - 2 * pad, thickness)
    (w, h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = ((img_w - w) // 2, (bar_h - h - baseline) // 2 + h)
    cv2.putText(
        out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, text_color, thickness, cv2.LINE_AA
    )
    return out


def banner_strip_height(image_height: int, height_fraction: float = 0.08) -> int:
    """Height of the strip :func:`add_banner_strip` adds: ``height_fraction`` of the image height,
    at least 14 px, rounded up to an even number (video encoders want even sizes)."""
    height = max(14, int(round(image_height * height_fraction)))
    return height + height % 2


def add_banner_strip(
    image: np.ndarray,
    text: str = UNTRAINED_WARNING,
    color: RGB = BANNER_COLOR,
    text_color: RGB = BANNER_TEXT_COLOR,
    height_fraction: float = 0.08,
) -> np.ndarray:
    """``image`` with a banner strip ABOVE it (nothing of the image is covered).

    The strip is :func:`banner_strip_height` tall, filled with ``color``, ``text`` centred in it
    (as :func:`draw_banner`).

    Returns:
        ``(H + strip, W, 3)`` uint8 RGB; rows ``strip:`` are ``image`` unchanged.
    """
    image = _check_image(image, "add_banner_strip")
    strip_h = banner_strip_height(image.shape[0], height_fraction)
    strip = np.zeros((strip_h, image.shape[1], 3), np.uint8)
    strip = draw_banner(strip, text, color, text_color, height_fraction=1.0)
    return np.concatenate([strip, image], axis=0)
