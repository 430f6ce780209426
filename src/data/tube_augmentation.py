"""Sequence ("tube") augmentation and the person-centred crops of the converters (§6.4, §6.5).

NumPy + OpenCV, deterministic given a ``np.random.Generator``. Order of operations per frame, as
the original ``TubePreprocessor`` (``src/util/tube_augmentation.py``, ``data_utils.py``):

1. the uint8 frame becomes float32 ``x / 255`` (the original fed ``image / 255.`` to a float32
   placeholder); ``center += translation`` (integer pixels, in the 300-px pre-crop frame);
2. resize by ``2**u`` to ``floor(size * 2**u)`` with TF1 ``resize_bilinear`` (``align_corners``
   and ``half_pixel_centers`` off: source pixel ``i * in / out``, float32 arithmetic,
   :func:`resize_bilinear_tf1`); keypoints are scaled by the *actual* factors
   ``new_size / size``, the center by the same float32 factors and then cast to int (truncation,
   ``tf.cast``; floor for the non-negative centers of a pre-crop);
3. edge-pad and crop ``img_size`` x ``img_size`` starting at ``center - img_size // 2``;
4. if the track is flipped: mirror the crop, ``x -> W - 1 - x``, permute the keypoints and reflect
   the SMPL pose and 3D joints (``src.geometry.flip``);
5. ``vis' = vis > 0``; ``(x, y) -> 2 (x, y) / img_size - 1``; invisible rows become (0, 0, 0);
6. image ``[0, 1] -> [-1, 1]`` as ``(x - 0.5) * 2``, kept float32 for the feature extractor; the
   uint8 copy for ``image/encoded`` is ``uint8((x + 1) * 0.5 * 255)`` (truncated, as the original
   fed it to a uint8 placeholder).

Edge padding is done by clamping the crop's pixel indices to the image, which equals padding with
any margin wide enough for the crop (the original used ``img_size // 2 + trans_max + 50``).

The converters' 300-px pre-crop and the test-record crops (:func:`scale_and_crop`) keep the
original's NumPy path instead: OpenCV bilinear on uint8 and ``round(center * factors)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from src.constants import IMG_SIZE, NUM_KPS
from src.geometry.flip import flip_keypoints, reflect_joints3d, reflect_pose

PRECROP_PX = 300  # side of the common pre-crop (§6.4)
PRECROP_PERSON_DIAG_PX = 150  # the keypoint-box diagonal is scaled to this in the pre-crop
TEST_VIS_THRESHOLD = 0.1  # §6.2: visible = confidence > 0.1

# §2.6 defaults
TRANS_MAX = 20
DELTA_TRANS_MAX = 20
SCALE_MAX = 0.3
DELTA_SCALE_MAX = 0.3
FLIP_PROBABILITY = 0.5


# ---------------------------------------------------------------------------------------------
# Jitter sampling
# ---------------------------------------------------------------------------------------------


def reflect_into(values: np.ndarray, minval: float, maxval: float) -> np.ndarray:
    """Fold values into ``[minval, maxval]`` by triangle-wave reflection at both bounds."""
    size = maxval - minval
    if size <= 0:
        return np.full_like(values, minval, dtype=np.float64)
    folded = np.mod(np.asarray(values, np.float64) - minval, 2.0 * size)
    return minval + size - np.abs(folded - size)


def bounded_random_walk(
    rng: np.random.Generator,
    num_frames: int,
    minval: float,
    maxval: float,
    delta_max: float,
    dim: int = 1,
    integer: bool = False,
) -> np.ndarray:
    """Per-frame jitter values (§6.5), the original ``data_utils.bounded_random_walk``.

    The original draws from half-open ranges ``[lo, hi)`` and steps ``[dlo, dhi)``; integer walks
    (translations) use ``hi = maxval + 1`` and ``dhi = delta_max + 1`` so both bounds are
    reachable. Then:

    - ``hi <= lo``: constant ``lo``;
    - ``lo == dlo`` and ``hi == dhi`` (i.e. ``delta_max`` equals the bounds, the defaults): i.i.d.
      uniform per frame;
    - otherwise a reflected random walk: start ~ U[lo, hi) plus the cumulative sum of uniform
      steps in [dlo, dhi) (frame 0 included), folded by ``|(w - lo + size) mod 2 size - size| + lo``
      with ``size = hi - lo``. For integers ``size = 2 max + 1``, so the fold can reach
      ``maxval + 1``, as the original's; ``delta_max = 0`` gives a constant walk.

    Args:
        rng: random generator.
        num_frames: N.
        minval, maxval: absolute bounds (inclusive for integers).
        delta_max: largest frame-to-frame step.
        dim: independent walks (e.g. 2 for x and y).
        integer: integer values and steps (translations).
    Returns:
        ``(N, dim)`` float64, integer-valued when ``integer``.
    """
    if maxval < minval or delta_max < 0:
        raise ValueError(
            f"bounded_random_walk: need minval <= maxval and delta_max >= 0, got "
            f"[{minval}, {maxval}] and {delta_max}"
        )
    if integer:
        lo, hi, dlo, dhi = int(minval), int(maxval) + 1, -int(delta_max), int(delta_max) + 1

        def draw(low, high, size):
            return rng.integers(low, high, size=size).astype(np.float64)
    else:
        lo, hi, dlo, dhi = float(minval), float(maxval), -float(delta_max), float(delta_max)

        def draw(low, high, size):
            return rng.uniform(low, high, size=size)

    if hi <= lo:
        return np.full((num_frames, dim), float(lo))
    if lo == dlo and hi == dhi:
        return draw(lo, hi, (num_frames, dim))
    start = draw(lo, hi, (1, dim))
    walk = np.cumsum(draw(dlo, dhi, (num_frames, dim)), axis=0) + start
    size = hi - lo
    return np.abs(np.mod(walk - lo + size, 2 * size) - size) + lo


@dataclass(frozen=True)
class TubeJitter:
    """The random choices of one augmented copy of a track.

    Attributes:
        flip: mirror the whole track.
        translations: ``(N, 2)`` integer pixel offsets (x, y) of the crop center.
        scale_exponents: ``(N,)`` u; the frame is resized by ``2**u``.
    """

    flip: bool
    translations: np.ndarray
    scale_exponents: np.ndarray


# ---------------------------------------------------------------------------------------------
# Cropping
# ---------------------------------------------------------------------------------------------


def resize_by(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV bilinear resize to ``floor(size * factor)`` (the converters' ``resize_img``);
    returns the image and the actual ``(fx, fy)``."""
    h, w = image.shape[:2]
    new_h, new_w = _resized_size(h, w, factor)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return resized, np.array([new_w / w, new_h / h], np.float64)


def _resized_size(h: int, w: int, factor: float) -> tuple[int, int]:
    return max(int(np.floor(h * factor)), 1), max(int(np.floor(w * factor)), 1)


def _legacy_bilinear_weights(
    out_size: int, in_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower/upper source indices and float32 lerp of TF1's legacy scaler (``x * in / out``)."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(np.float32)


def resize_bilinear_tf1(image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """TF1 ``tf.image.resize_images`` (``resize_bilinear``, ``align_corners=False``, no half-pixel
    centers), bit-exact in float32.

    Args:
        image: ``(H, W, C)`` float.
    Returns:
        ``(new_h, new_w, C)`` float32.
    """
    image = np.asarray(image, np.float32)
    y0, y1, ylerp = _legacy_bilinear_weights(new_h, image.shape[0])
    x0, x1, xlerp = _legacy_bilinear_weights(new_w, image.shape[1])
    xlerp, ylerp = xlerp[None, :, None], ylerp[:, None, None]
    top, bottom = image[y0], image[y1]
    top = top[:, x0] + (top[:, x1] - top[:, x0]) * xlerp
    bottom = bottom[:, x0] + (bottom[:, x1] - bottom[:, x0]) * xlerp
    return top + (bottom - top) * ylerp


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """uint8 ``[0, 255]`` -> float32 ``x / 255``; float images are taken as already in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return (image.astype(np.float64) / 255.0).astype(np.float32)
    return image.astype(np.float32)


def to_jpeg_ready(images: np.ndarray) -> np.ndarray:
    """[-1, 1] float -> uint8 ``(x + 1) * 0.5 * 255``, truncated (the original's visual copy)."""
    scaled = (np.asarray(images, np.float32) + 1.0) * 0.5 * 255.0
    return np.clip(scaled, 0.0, 255.0).astype(np.uint8)


def crop_edge_padded(image: np.ndarray, start_xy: np.ndarray, size: int) -> np.ndarray:
    """Square crop with top-left ``start_xy`` (x, y); pixels outside the image repeat the edge.

    Args:
        image: ``(H, W, C)``.
        start_xy: integer (x, y), may lie outside the image.
    Returns:
        ``(size, size, C)``, same dtype.
    """
    h, w = image.shape[:2]
    ys = np.clip(np.arange(size) + int(start_xy[1]), 0, h - 1)
    xs = np.clip(np.arange(size) + int(start_xy[0]), 0, w - 1)
    return image[ys[:, None], xs[None, :]]


def scale_and_crop(
    image: np.ndarray,
    kp2d: np.ndarray,
    center_xy: np.ndarray,
    scale: float,
    crop_px: int,
) -> dict[str, np.ndarray]:
    """Resize a frame by ``scale`` and crop ``crop_px`` around the scaled ``center_xy`` (§6.4).

    Args:
        image: ``(H, W, 3)`` uint8.
        kp2d: ``(K, 3)`` pixel (x, y, vis) in ``image``.
        center_xy: ``(2,)`` person center in ``image`` pixels.
        scale: resize factor (e.g. ``150 / keypoint-box diagonal``).
        crop_px: crop side.
    Returns:
        ``image`` (crop_px, crop_px, 3), ``kp2d`` (K, 3) in crop pixels (vis unchanged),
        ``scale_factors`` (2,) actual (fx, fy), ``center`` (2,) int scaled center,
        ``crop_pt`` (2,) int crop start in the frame edge-padded by ``crop_px`` (the original's
        ``start_pt``; subtract ``crop_px`` for resized-frame pixels).
    """
    resized, factors = resize_by(image, scale)
    center = np.round(np.asarray(center_xy, np.float64) * factors).astype(np.int64)
    start = center - crop_px // 2
    kp = np.array(kp2d, dtype=np.float64, copy=True)
    kp[:, :2] = kp[:, :2] * factors - start
    return {
        "image": crop_edge_padded(resized, start, crop_px),
        "kp2d": kp,
        "scale_factors": factors,
        "center": center,
        "crop_pt": start + crop_px,
    }


def keypoint_scale(kp2d: np.ndarray, target_diag_px: float = PRECROP_PERSON_DIAG_PX) -> float:
    """Scale that maps the visible keypoints' bounding-box diagonal to ``target_diag_px``.

    Args:
        kp2d: ``(K, 3)`` pixel (x, y, vis).
    Raises:
        ValueError: fewer than two distinct visible points.
    """
    vis = np.asarray(kp2d)[:, 2] > 0
    pts = np.asarray(kp2d, np.float64)[vis, :2]
    diag = np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)) if len(pts) else 0.0
    if diag <= 0:
        raise ValueError("keypoint_scale: need two distinct visible keypoints")
    return float(target_diag_px / diag)


def keypoint_center(kp2d: np.ndarray) -> np.ndarray:
    """Center ``(2,)`` of the visible keypoints' bounding box."""
    vis = np.asarray(kp2d)[:, 2] > 0
    pts = np.asarray(kp2d, np.float64)[vis, :2]
    if not len(pts):
        raise ValueError("keypoint_center: no visible keypoint")
    return (pts.max(axis=0) + pts.min(axis=0)) / 2.0


def precrop(
    image: np.ndarray,
    kp2d: np.ndarray,
    center_xy: np.ndarray,
    scale: float,
) -> dict[str, np.ndarray]:
    """The converters' common 300-px pre-crop (§6.4): :func:`scale_and_crop` with 300 px."""
    return scale_and_crop(image, kp2d, center_xy, scale, PRECROP_PX)


def crop_for_test(
    image: np.ndarray,
    kp2d: np.ndarray,
    center_xy: np.ndarray,
    scale: float,
    img_size: int = IMG_SIZE,
    vis_threshold: float = TEST_VIS_THRESHOLD,
) -> dict[str, np.ndarray]:
    """A test-record crop (§6.2): no jitter, keypoints in crop pixels, vis = confidence > 0.1.

    Args:
        image: ``(H, W, 3)`` uint8 full frame.
        kp2d: ``(K, 3)`` pixel (x, y, confidence).
        center_xy, scale: from the smoothed bbox (``src.video.bbox``).
    Returns:
        As :func:`scale_and_crop`, with ``kp2d[:, 2]`` in {0, 1}.
    """
    out = scale_and_crop(image, kp2d, center_xy, scale, img_size)
    out["kp2d"][:, 2] = (np.asarray(kp2d)[:, 2] > vis_threshold).astype(np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# Tube augmentation
# ---------------------------------------------------------------------------------------------


def normalize_keypoints(kp2d: np.ndarray, img_size: int = IMG_SIZE) -> np.ndarray:
    """Crop pixels -> [-1, 1]: ``vis' = vis > 0``, ``x' = 2x/img_size - 1``, invisible -> zeros.

    Args:
        kp2d: ``(..., K, 3)`` pixel (x, y, vis).
    Returns:
        ``(..., K, 3)`` float32.
    """
    kp = np.asarray(kp2d, np.float64)
    vis = (kp[..., 2:] > 0).astype(np.float64)
    xy = 2.0 * kp[..., :2] / img_size - 1.0
    return (np.concatenate([xy, vis], axis=-1) * vis).astype(np.float32)


class TubeAugmenter:
    """Per-track flip and per-frame translation/scale jitter with 224 crops (§6.5).

    Args:
        img_size: output crop side (224).
        trans_max, delta_trans_max: translation bound and frame-to-frame bound (px).
        scale_max, delta_scale_max: scale-exponent bound and frame-to-frame bound.
        flip_probability: probability that a whole track is mirrored.

    Example:
        >>> aug = TubeAugmenter()
        >>> out = aug(frames_300, kp2d_300, rng=np.random.default_rng(0), pose=pose)
        >>> out["images"].shape, out["kp2d"].shape   # (N, 224, 224, 3), (N, 25, 3)
    """

    def __init__(
        self,
        img_size: int = IMG_SIZE,
        trans_max: int = TRANS_MAX,
        delta_trans_max: int = DELTA_TRANS_MAX,
        scale_max: float = SCALE_MAX,
        delta_scale_max: float = DELTA_SCALE_MAX,
        flip_probability: float = FLIP_PROBABILITY,
    ) -> None:
        self.img_size = img_size
        self.trans_max = trans_max
        self.delta_trans_max = delta_trans_max
        self.scale_max = scale_max
        self.delta_scale_max = delta_scale_max
        self.flip_probability = flip_probability

    def sample_jitter(self, num_frames: int, rng: np.random.Generator) -> TubeJitter:
        """Draw the flip, ``(N, 2)`` translations and ``(N,)`` scale exponents of one copy."""
        flip = bool(rng.uniform() < self.flip_probability)
        trans = bounded_random_walk(
            rng,
            num_frames,
            -self.trans_max,
            self.trans_max,
            self.delta_trans_max,
            dim=2,
            integer=True,
        )
        scales = bounded_random_walk(
            rng, num_frames, -self.scale_max, self.scale_max, self.delta_scale_max, dim=1
        )[:, 0]
        return TubeJitter(flip=flip, translations=trans.astype(np.int64), scale_exponents=scales)

    def augment_frame(
        self,
        image: np.ndarray,
        kp2d: np.ndarray,
        center_xy: np.ndarray,
        translation: np.ndarray,
        scale_exponent: float,
    ) -> dict[str, np.ndarray]:
        """Steps 1-3 for one frame (the original's ``preprocess_image`` up to the crop).

        Args:
            image: ``(H, W, 3)`` uint8, or float in [0, 1].
            kp2d: ``(K, 3)`` pixel (x, y, vis) in ``image``.
            center_xy: ``(2,)`` integer person center (truncated to int, as the original's
                int32 placeholder).
            translation: ``(2,)`` integer pixel offset.
            scale_exponent: u.
        Returns:
            ``image`` float32 [0, 1] crop, ``kp2d`` crop pixels (vis unchanged),
            ``scale_factors`` actual (fx, fy), ``center`` int jittered center in the resized
            frame.
        """
        image = to_unit_float(image)
        h, w = image.shape[:2]
        new_h, new_w = _resized_size(h, w, 2.0 ** float(scale_exponent))
        resized = resize_bilinear_tf1(image, new_h, new_w)
        factors = np.array([new_w / w, new_h / h], np.float64)
        factors32 = np.array([new_w, new_h], np.float32) / np.array([w, h], np.float32)
        center = np.asarray(center_xy).astype(np.int64) + np.asarray(translation).astype(np.int64)
        center = (center.astype(np.float32) * factors32).astype(np.int64)  # tf.cast: truncation
        start = center - self.img_size // 2
        kp = np.array(kp2d, dtype=np.float64, copy=True)
        kp[:, :2] = kp[:, :2] * factors - start
        return {
            "image": crop_edge_padded(resized, start, self.img_size),
            "kp2d": kp,
            "scale_factors": factors,
            "center": center,
        }

    def __call__(
        self,
        images: np.ndarray,
        kp2d: np.ndarray,
        rng: np.random.Generator | None = None,
        pose: np.ndarray | None = None,
        joints3d: np.ndarray | None = None,
        centers: np.ndarray | None = None,
        jitter: TubeJitter | None = None,
    ) -> dict[str, np.ndarray | bool | None]:
        """Augment one track.

        Args:
            images: ``(N, H, W, 3)`` uint8 RGB (the 300-px pre-crops; float frames are taken as
                [0, 1]) or a list of such frames.
            kp2d: ``(N, 25, 3)`` pixel (x, y, vis) in those frames.
            rng: random generator (ignored when ``jitter`` is given).
            pose: ``(N, 72)`` SMPL pose, reflected on flip.
            joints3d: ``(N, 14, 3)`` 3D joints, reflected on flip.
            centers: ``(N, 2)`` person centers; default the frame centers ``(W // 2, H // 2)``.
            jitter: fixed random choices (tests, reproducible copies).
        Returns:
            ``images`` (N, S, S, 3) float32 in [-1, 1] (the feature extractor's input);
            ``crops`` (N, S, S, 3) uint8 ``(images + 1) / 2 * 255`` for ``image/encoded``;
            ``kp2d`` (N, 25, 3) float32 normalised, invisible zeroed; ``pose`` (N, 72) and
            ``joints3d`` or None; ``centers`` (N, 2) int jittered centers in the resized frame;
            ``flipped`` bool; ``jitter`` the :class:`TubeJitter` used.
        """
        kp2d = np.asarray(kp2d, np.float64)
        n = len(images)
        if kp2d.shape != (n, NUM_KPS, 3):
            raise ValueError(f"TubeAugmenter: expected kp2d ({n}, {NUM_KPS}, 3), got {kp2d.shape}")
        if jitter is None:
            jitter = self.sample_jitter(n, rng if rng is not None else np.random.default_rng())
        if centers is None:
            centers = [(img.shape[1] // 2, img.shape[0] // 2) for img in images]
        frames = [
            self.augment_frame(
                images[i], kp2d[i], centers[i], jitter.translations[i], jitter.scale_exponents[i]
            )
            for i in range(n)
        ]
        crops = np.stack([f["image"] for f in frames])
        kp_px = np.stack([f["kp2d"] for f in frames])
        if jitter.flip:
            crops = crops[:, :, ::-1]
            kp_px = flip_keypoints(kp_px, img_width=self.img_size)
            pose = None if pose is None else reflect_pose(np.asarray(pose))
            joints3d = None if joints3d is None else reflect_joints3d(np.asarray(joints3d))
        images = np.ascontiguousarray((crops - np.float32(0.5)) * np.float32(2.0))
        return {
            "images": images,
            "crops": to_jpeg_ready(images),
            "kp2d": normalize_keypoints(kp_px, self.img_size),
            "pose": pose,
            "joints3d": joints3d,
            "centers": np.stack([f["center"] for f in frames]),
            "flipped": jitter.flip,
            "jitter": jitter,
        }
