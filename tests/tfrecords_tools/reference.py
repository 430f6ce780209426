"""Independent NumPy references for where a converter puts a keypoint (not a test module).

Written from the spec's formulas (docs/original_release.md §6.2, §6.4, §6.5, §8 step 5), not from
the library code, for the jitter-free case (``--trans_max 0 --scale_max 0`` and deltas 0).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf
from scipy.ndimage import gaussian_filter1d
from scipy.signal import medfilt

from src.data import schema

CROP = 224
PRECROP = 300
PERSON_DIAG = 150.0
FLIP_PERM_25 = [
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    16,
    15,
    18,
    17,
    20,
    19,
    22,
    21,
    24,
    23,
]


def read_records(path: Path) -> list[dict]:
    """Every record of a file, parsed with the schema's NumPy reader."""
    return [
        schema.parse_example_np(r.numpy(), str(path)) for r in tf.data.TFRecordDataset(str(path))
    ]


def _factors(width: int, height: int, scale: float) -> np.ndarray:
    """Actual resize factors when a frame is resized to floor(size * scale)."""
    return np.array([np.floor(width * scale) / width, np.floor(height * scale) / height])


def box_center_scale(kp: np.ndarray, thresh: float = 0.0) -> tuple[np.ndarray, float]:
    """Center of the box of points with vis > thresh, and 150 / its diagonal."""
    pts = kp[kp[:, 2] > thresh, :2]
    lo, hi = pts.min(0), pts.max(0)
    return (lo + hi) / 2, PERSON_DIAG / np.hypot(*(hi - lo))


def train_keypoints(
    kp: np.ndarray, width: int, height: int, flip: bool, centers_scales: list | None = None
) -> np.ndarray:
    """Normalised 224-crop labels of jitter-free training records.

    Per frame: pre-crop (resize by 150/diag around the box center, 300 crop), then the 224
    crop at the pre-crop center; flipped: x -> 223 - x and the left/right permutation; vis > 0;
    invisible rows zero.

    Args:
        kp: ``(N, 25, 3)`` pixel (x, y, vis) in the original frames.
        centers_scales: per frame ``(center, scale)`` (default: the per-frame keypoint box).
    """
    out = np.zeros(kp.shape)
    for t in range(len(kp)):
        center, scale = centers_scales[t] if centers_scales is not None else box_center_scale(kp[t])
        f = _factors(width, height, scale)
        start = np.round(center * f) - PRECROP // 2
        crop = kp[t, :, :2] * f - start - (PRECROP // 2 - CROP // 2)
        vis = kp[t, :, 2] > 0
        if flip:
            crop, vis = crop[FLIP_PERM_25], vis[FLIP_PERM_25]
            crop[:, 0] = CROP - 1 - crop[:, 0]
        out[t, vis, :2] = 2 * crop[vis] / CROP - 1
        out[t, vis, 2] = 1
    return out


def smooth_params(kp: np.ndarray, thresh: float, kernel: int = 11, sigma: float = 3.0):
    """Per-frame (cx, cy, scale) of the §8 step-5 smoothing: frames without a visible point are
    linearly interpolated (first and last frame must have one), then median and Gaussian."""
    seen = [t for t in range(len(kp)) if (kp[t, :, 2] > thresh).any()]
    assert seen[0] == 0 and seen[-1] == len(kp) - 1
    known = np.array(
        [[*box_center_scale(kp[t], thresh)[0], box_center_scale(kp[t], thresh)[1]] for t in seen]
    )
    raw = np.stack([np.interp(np.arange(len(kp)), seen, known[:, c]) for c in range(3)], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # medfilt warns when the kernel exceeds the track
        median = [medfilt(raw[:, c], kernel) for c in range(3)]
    return np.stack([gaussian_filter1d(m, sigma) for m in median], 1)


def eval_crop_keypoints(
    kp: np.ndarray, params: np.ndarray, width: int, height: int, thresh: float = 0.1
) -> np.ndarray:
    """Crop-pixel keypoints of test records (§6.2): vis = confidence > 0.1, invisible zeroed."""
    out = np.zeros(kp.shape)
    for t in range(len(kp)):
        f = _factors(width, height, params[t, 2])
        start = np.round(params[t, :2] * f) - CROP // 2
        vis = kp[t, :, 2] > thresh
        out[t, vis, :2] = kp[t, vis, :2] * f - start
        out[t, vis, 2] = 1
    return out
