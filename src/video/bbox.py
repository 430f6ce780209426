"""The original's per-track bbox smoothing and 224x224 crops (docs/original_release.md §8 steps
5-6).

Step 5, per frame: the box of the keypoints whose confidence exceeds ``vis_thresh`` (0.1) gives a
centre and a scale ``150 / diagonal`` (frames whose diagonal is under 0.5 px count as missing).
Frames before the first and after the last valid frame are dropped, gaps are filled by linear
interpolation, then each of (cx, cy, scale) is median-filtered (kernel 11, zero-padded at the ends
as ``scipy.signal.medfilt`` does) and Gaussian-filtered (sigma 3).

Step 6, per frame: map the image to [-1, 1], resize it by ``scale``, round the scaled centre,
edge-pad by 224 and cut 224x224 starting at ``centre + 224 - 112``. ``start_pt``, ``scale`` and the
image shape are kept to bring predictions back to the frame. The crop is computed by sampling only
the 224x224 output pixels with the same bilinear rule as ``cv2.resize`` (so a 4K frame scaled up
is never materialised); it equals the literal resize-pad-slice to float precision, and where the
literal slice would run off the padded image (a centre far outside the frame) the edge padding
simply continues, so the crop is always 224x224.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import medfilt

from src.constants import IMG_SIZE

PERSON_DIAGONAL_PX = 150.0  # target keypoint-box diagonal after scaling
MIN_DIAGONAL_PX = 0.5  # smaller keypoint boxes are treated as "no detection"
VIS_THRESH = 0.1  # demo / 3DPW threshold on keypoint confidence
MEDIAN_KERNEL = 11
GAUSSIAN_SIGMA = 3.0


@dataclass(frozen=True)
class SmoothBBoxes:
    """Smoothed per-frame crop parameters of one track.

    Attributes:
        params: ``(N, 3)`` float64 ``(cx, cy, scale)`` for frames ``start .. end - 1``.
        start: first frame (inclusive) with a valid detection.
        end: last frame with a valid detection, plus one.
    """

    params: np.ndarray
    start: int
    end: int

    @property
    def centers(self) -> np.ndarray:
        """``(N, 2)`` crop centres in original-frame pixels."""
        return self.params[:, :2]

    @property
    def scales(self) -> np.ndarray:
        """``(N,)`` resize factors."""
        return self.params[:, 2]

    @property
    def frame_ids(self) -> np.ndarray:
        """``(N,)`` frame indices covered."""
        return np.arange(self.start, self.end)


def keypoints_to_bbox_param(
    keypoints: np.ndarray | None, vis_thresh: float = VIS_THRESH
) -> np.ndarray | None:
    """``(cx, cy, 150 / diagonal)`` of the confident keypoints, or ``None``.

    Args:
        keypoints: ``(K, 3)`` pixel x, y, confidence, or ``None``.
        vis_thresh: keypoints with confidence strictly above it count.
    Returns:
        ``(3,)`` float64, or ``None`` when nothing is confident or the diagonal is under 0.5 px.
    """
    if keypoints is None:
        return None
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = keypoints[:, 2] > vis_thresh
    if not np.any(visible):
        return None
    min_pt = keypoints[visible, :2].min(axis=0)
    max_pt = keypoints[visible, :2].max(axis=0)
    return box_to_bbox_param(np.concatenate([min_pt, max_pt]))


def box_to_bbox_param(box: np.ndarray | None) -> np.ndarray | None:
    """``(cx, cy, 150 / diagonal)`` of an ``(x1, y1, x2, y2)`` box, or ``None`` if degenerate."""
    if box is None:
        return None
    box = np.asarray(box, dtype=np.float64)
    diagonal = float(np.linalg.norm(box[2:4] - box[0:2]))
    if not np.isfinite(diagonal) or diagonal < MIN_DIAGONAL_PX:
        return None
    center = (box[0:2] + box[2:4]) / 2.0
    return np.append(center, PERSON_DIAGONAL_PX / diagonal)


def interpolate_bbox_params(
    per_frame: list[np.ndarray | None],
) -> tuple[np.ndarray, int, int]:
    """Drop the missing ends, linearly interpolate the missing middle frames.

    Args:
        per_frame: one ``(3,)`` parameter vector or ``None`` per frame.
    Returns:
        ``(params (N, 3), start, end)``, frames ``start .. end - 1``.
    Raises:
        ValueError: no frame has a valid box.
    """
    valid = [i for i, p in enumerate(per_frame) if p is not None]
    if not valid:
        raise ValueError("no frame of this track has a usable person box")
    start, end = valid[0], valid[-1] + 1
    known = np.stack([per_frame[i] for i in valid]).astype(np.float64)
    frames = np.arange(start, end)
    params = np.stack([np.interp(frames, valid, known[:, c]) for c in range(3)], axis=1)
    return params, start, end


def zero_padded_medfilt(values: np.ndarray, kernel_size: int) -> np.ndarray:
    """``scipy.signal.medfilt(values, kernel_size)`` (zero-padded ends) on ``(N,)`` values.

    The padding is written out: on a series shorter than the kernel medfilt warns, and silencing
    that with ``warnings.catch_warnings`` changes process-wide filters, which is not safe in the
    threads the Beam converters run in. Padded by half a kernel, the medians of the N inner
    values are medfilt's.
    """
    half = kernel_size // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), half)
    return medfilt(padded, kernel_size)[half : half + len(values)]


def smooth_bbox_params(
    params: np.ndarray, kernel_size: int = MEDIAN_KERNEL, sigma: float = GAUSSIAN_SIGMA
) -> np.ndarray:
    """Median filter (zero-padded ends, as ``scipy.signal.medfilt``) then Gaussian, per column.

    With kernel ``2m + 1`` the zero padding outvotes the data at the ends of a track shorter than
    ``m + 1`` frames (the original then returns scale 0 and fails on tracks under 6 frames); the
    kernel is therefore capped at ``2N - 1``, which changes nothing for tracks of 6 frames or more.

    Args:
        params: ``(N, 3)`` ``(cx, cy, scale)`` per frame.
    Returns:
        ``(N, 3)`` float64.
    """
    params = np.asarray(params, dtype=np.float64)
    kernel_size = min(kernel_size, 2 * len(params) - 1)
    median = np.stack(
        [zero_padded_medfilt(params[:, c], kernel_size) for c in range(params.shape[1])], 1
    )
    return np.stack([gaussian_filter1d(median[:, c], sigma) for c in range(median.shape[1])], 1)


def smooth_bboxes_from_keypoints(
    keypoints: list[np.ndarray | None] | np.ndarray,
    vis_thresh: float = VIS_THRESH,
    kernel_size: int = MEDIAN_KERNEL,
    sigma: float = GAUSSIAN_SIGMA,
) -> SmoothBBoxes:
    """The original's ``get_smooth_bbox_params``: per-frame keypoints -> smoothed crop params.

    Args:
        keypoints: per frame a ``(K, 3)`` pixel x, y, confidence array, or ``None`` (no person),
            e.g. ``Track.keypoints_per_frame()``; or an array ``(N, K, 3)``.
    """
    per_frame = [keypoints_to_bbox_param(kp, vis_thresh) for kp in keypoints]
    params, start, end = interpolate_bbox_params(per_frame)
    return SmoothBBoxes(smooth_bbox_params(params, kernel_size, sigma), start, end)


def smooth_bboxes_from_boxes(
    boxes: list[np.ndarray | None] | np.ndarray,
    kernel_size: int = MEDIAN_KERNEL,
    sigma: float = GAUSSIAN_SIGMA,
) -> SmoothBBoxes:
    """Same smoothing for tracks given as boxes only (per frame ``(4,)`` x1, y1, x2, y2 or None)."""
    per_frame = [box_to_bbox_param(box) for box in boxes]
    params, start, end = interpolate_bbox_params(per_frame)
    return SmoothBBoxes(smooth_bbox_params(params, kernel_size, sigma), start, end)


@dataclass(frozen=True)
class CropParams:
    """How a 224 crop sits in its frame (the original's ``proc_param``).

    Attributes:
        start_pt: ``(2,)`` int ``(x, y)`` of the crop's top-left in the padded, scaled image; an
            original pixel ``p`` lands at crop pixel ``p * scale_factors + 224 - start_pt``.
        scale: the requested resize factor (the original keeps this one for back-projection).
        scale_factors: ``(2,)`` the factors actually applied ``(x, y)`` (sizes are floored).
        im_shape: ``(H, W)`` of the original frame.
        img_size: crop side (224).
    """

    start_pt: np.ndarray
    scale: float
    scale_factors: np.ndarray
    im_shape: tuple[int, int]
    img_size: int = IMG_SIZE

    def image_to_crop(self, points: np.ndarray) -> np.ndarray:
        """``(..., 2)`` original-frame pixels -> crop pixels."""
        return np.asarray(points) * self.scale_factors + self.img_size - self.start_pt

    def crop_to_image(self, points: np.ndarray) -> np.ndarray:
        """``(..., 2)`` crop pixels -> original-frame pixels."""
        return (np.asarray(points) - self.img_size + self.start_pt) / self.scale_factors


def crop_params(
    im_shape: tuple[int, int], center: np.ndarray, scale: float, img_size: int = IMG_SIZE
) -> CropParams:
    """Where the §8 step-6 crop of a frame of shape ``(H, W)`` lies.

    Args:
        im_shape: ``(H, W)`` of the frame.
        center: ``(2,)`` crop centre ``(x, y)`` in frame pixels.
        scale: resize factor.
    Raises:
        ValueError: non-positive or non-finite scale, or a scale that shrinks the frame to 0 px.
    """
    height, width = int(im_shape[0]), int(im_shape[1])
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"crop scale must be positive and finite, got {scale}")
    new_h, new_w = int(np.floor(height * scale)), int(np.floor(width * scale))
    if new_h < 1 or new_w < 1:
        raise ValueError(f"crop scale {scale} shrinks a {height}x{width} frame to nothing")
    factors = np.array([new_w / width, new_h / height])
    center_scaled = np.round(np.asarray(center, dtype=np.float64) * factors).astype(np.int64)
    start_pt = center_scaled + img_size - img_size // 2
    return CropParams(start_pt, float(scale), factors, (height, width), img_size)


def _resize_taps(
    dst_idx: np.ndarray, src_len: int, dst_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of ``cv2.resize`` (INTER_LINEAR, half-pixel centres, edge clamp).

    Args:
        dst_idx: ``(M,)`` integer indices into the resized axis, already clamped to it.
    Returns:
        ``(lo, hi, weight_hi)`` source indices and the weight of ``hi``.
    """
    src = (dst_idx + 0.5) * (src_len / dst_len) - 0.5
    src = np.clip(src, 0.0, src_len - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, src_len - 1)
    return lo, hi, src - lo


def crop_frame(
    frame: np.ndarray, center: np.ndarray, scale: float, img_size: int = IMG_SIZE
) -> tuple[np.ndarray, CropParams]:
    """The 224x224 crop of docs/original_release.md §8 step 6, values in [-1, 1].

    Args:
        frame: ``(H, W, 3)`` uint8 RGB (or float in [-1, 1]).
        center: ``(2,)`` ``(x, y)`` crop centre in frame pixels.
        scale: resize factor (``150 / person diagonal``).
    Returns:
        ``(crop (224, 224, 3) float32, CropParams)``.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"crop_frame: expected an (H, W, 3) frame, got {frame.shape}")
    params = crop_params(frame.shape[:2], center, scale, img_size)
    height, width = params.im_shape
    new_w = int(round(params.scale_factors[0] * width))
    new_h = int(round(params.scale_factors[1] * height))
    # Crop pixel -> padded scaled pixel -> scaled pixel (edge padding = clamping).
    xs = np.clip(np.arange(img_size) + params.start_pt[0] - img_size, 0, new_w - 1)
    ys = np.clip(np.arange(img_size) + params.start_pt[1] - img_size, 0, new_h - 1)
    x_lo, x_hi, wx = _resize_taps(xs, width, new_w)
    y_lo, y_hi, wy = _resize_taps(ys, height, new_h)
    rows = {key: frame[idx] for key, idx in (("lo", y_lo), ("hi", y_hi))}  # (224, W, 3) each

    def _gather(row_key: str, cols: np.ndarray) -> np.ndarray:
        patch = rows[row_key][:, cols].astype(np.float32)
        return patch / 127.5 - 1.0 if frame.dtype == np.uint8 else patch

    wx = wx.astype(np.float32)[None, :, None]
    wy = wy.astype(np.float32)[:, None, None]
    top = _gather("lo", x_lo) * (1 - wx) + _gather("lo", x_hi) * wx
    bottom = _gather("hi", x_lo) * (1 - wx) + _gather("hi", x_hi) * wx
    crop = top * (1 - wy) + bottom * wy
    return crop.astype(np.float32), params
