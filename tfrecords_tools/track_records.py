"""The records of one track: what a worker needs to build them, the crops, the record bytes.

Training records (§6.1, §6.4-§6.6) are built per track as: per-frame 300-px pre-crop around the
person (:func:`precrop_track`) -> tube augmentation and phi (:func:`build_train_track`). Test
records (§6.2) are 224 crops around the smoothed box, keypoints in crop pixels
(:func:`build_test_track`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from src.constants import IMG_SIZE, NUM_KPS
from src.data import schema
from src.data.features import FeatureExtractor, precompute_copies
from src.data.tube_augmentation import (
    DELTA_SCALE_MAX,
    DELTA_TRANS_MAX,
    PRECROP_PX,
    SCALE_MAX,
    TRANS_MAX,
    TubeAugmenter,
    crop_for_test,
    precrop,
)
from src.video.bbox import SmoothBBoxes
from tfrecords_tools.encoder import EncoderSpec, get_extractor

# ---------------------------------------------------------------------------------------------
# Settings passed to the worker processes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """Everything a worker needs to turn pre-crops into training records."""

    precomputed_phi: bool = True
    encoder: EncoderSpec = EncoderSpec()
    img_size: int = IMG_SIZE
    trans_max: int = TRANS_MAX
    delta_trans_max: int = DELTA_TRANS_MAX
    scale_max: float = SCALE_MAX
    delta_scale_max: float = DELTA_SCALE_MAX
    save_img: bool = True

    def augmenter(self) -> TubeAugmenter:
        return TubeAugmenter(
            self.img_size,
            self.trans_max,
            self.delta_trans_max,
            self.scale_max,
            self.delta_scale_max,
        )

    def extractor(self) -> FeatureExtractor:
        return get_extractor(self.encoder)


def encoder_setup(settings: TrainSettings | None) -> Callable[[], Any] | None:
    """What a worker runs once before building training files: load the phi encoder."""
    if settings is None or not settings.precomputed_phi:
        return None
    return functools.partial(get_extractor, settings.encoder)


# ---------------------------------------------------------------------------------------------
# Crops and tracks
# ---------------------------------------------------------------------------------------------


def precrop_track(
    frames: Iterable[np.ndarray],
    kp2d: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
) -> dict[str, np.ndarray]:
    """The 300-px pre-crop of every frame of a track (§6.4).

    Args:
        frames: N ``(H, W, 3)`` uint8 RGB frames (read lazily, one at a time).
        kp2d: ``(N, 25, 3)`` pixel (x, y, vis) in the frames.
        centers: ``(N, 2)`` person centers; scales: ``(N,)`` resize factors (150 / diagonal).
    Returns:
        ``frames`` (N, 300, 300, 3) uint8, ``kp2d`` (N, 25, 3) pre-crop pixels, ``scale_factors``
        (N, 2) actual (fx, fy), ``crop_pts`` (N, 2) crop start in the frame padded by 300.
    """
    crops, kps, factors, starts = [], [], [], []
    for i, frame in enumerate(frames):
        out = precrop(frame, kp2d[i], centers[i], float(scales[i]))
        crops.append(out["image"])
        kps.append(out["kp2d"])
        factors.append(out["scale_factors"])
        starts.append(out["crop_pt"])
    if len(crops) != len(kp2d):
        raise ValueError(f"precrop_track: got {len(crops)} frames for {len(kp2d)} keypoint rows")
    return {
        "frames": np.stack(crops),
        "kp2d": np.stack(kps),
        "scale_factors": np.stack(factors),
        "crop_pts": np.stack(starts),
    }


def build_train_track(
    pre: Mapping[str, np.ndarray],
    settings: TrainSettings,
    rng: np.random.Generator,
    *,
    pose: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    joints3d: np.ndarray | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One augmented copy of a pre-cropped track, ready for ``schema.make_train_example``.

    With ``precomputed_phi``: tube augmentation (§6.5), phi (§6.6), 224 crops, normalised
    keypoints. Without: the 300-px pre-crops and their pixel keypoints, no phi (the original's
    non-precomputed records).

    Args:
        pre: :func:`precrop_track` output.
        pose, shape, joints3d: ``(N, 72)``, ``(10,)``, ``(N, 14, 3)`` ground truth or None.
        extra: per-track fields copied in (``filenames``, ``has_3d_joints``, ``cams`` ...).
    """
    fields = dict(extra or {})
    fields.update(scale_factors=pre["scale_factors"], crop_pts=pre["crop_pts"])
    if settings.precomputed_phi:
        return precompute_copies(
            pre["frames"],
            pre["kp2d"],
            settings.extractor(),
            settings.augmenter(),
            rng,
            1,
            pose=pose,
            shape=shape,
            joints3d=joints3d,
            save_images=settings.save_img,
            extra=fields,
        )[0]
    n = len(pre["kp2d"])
    kp = np.asarray(pre["kp2d"], np.float64).copy()
    kp[..., 2] = kp[..., 2] > 0
    kp *= kp[..., 2:]
    fields.update(
        kp2d=kp,
        pose=pose,
        shape=shape,
        joints3d=joints3d,
        heightwidths=np.full((n, 2), PRECROP_PX),
        centers=np.full((n, 2), PRECROP_PX // 2),
    )
    if settings.save_img:
        fields["images"] = pre["frames"]
    return fields


def build_test_track(
    frames: Iterable[np.ndarray],
    kp2d: np.ndarray,
    boxes: SmoothBBoxes,
    img_size: int = IMG_SIZE,
) -> dict[str, Any]:
    """A test/val track (§6.2): 224 crops around the smoothed box, no jitter, keypoints in crop
    pixels with vis = confidence > 0.1.

    Args:
        frames: the frames ``boxes.start .. boxes.end - 1`` (read lazily).
        kp2d: ``(N, 25, 3)`` pixel (x, y, confidence) of those frames.
        boxes: the smoothed crop parameters (``src.video.bbox``).
    Returns:
        Track fields: ``kp2d``, ``images`` (uint8 crops), ``centers``, ``scale_factors``,
        ``crop_pts``, ``time_pts`` (start, end).
    """
    crops, kps, centers, factors, starts = [], [], [], [], []
    for i, frame in enumerate(frames):
        out = crop_for_test(frame, kp2d[i], boxes.centers[i], float(boxes.scales[i]), img_size)
        crops.append(out["image"])
        kps.append(out["kp2d"])
        centers.append(out["center"])
        factors.append(out["scale_factors"])
        starts.append(out["crop_pt"])
    if len(crops) != len(kp2d):
        raise ValueError(f"build_test_track: got {len(crops)} frames for {len(kp2d)} keypoint rows")
    kp = np.stack(kps)
    kp[..., :2] *= kp[..., 2:]  # invisible points written as zeros
    return {
        "kp2d": kp,
        "images": np.stack(crops),
        "centers": np.stack(centers),
        "scale_factors": np.stack(factors),
        "crop_pts": np.stack(starts),
        "time_pts": np.array([boxes.start, boxes.end], np.int64),
    }


def serialize(tracks: Iterable[Mapping[str, Any]]) -> Iterable[bytes]:
    """Record bytes of each track (``schema.make_train_example``), serialised deterministically
    (the Example's feature map in key order: protobuf's default order varies between processes,
    so a resumed or repeated conversion would write other bytes for the same records)."""
    for track in tracks:
        yield schema.make_train_example(track).SerializeToString(deterministic=True)


def visible_count(kp2d: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """``(N,)`` number of keypoints with visibility/confidence above ``threshold``."""
    return (np.asarray(kp2d)[..., 2] > threshold).sum(axis=-1)


def check_kp25(kp2d: np.ndarray, where: str) -> np.ndarray:
    kp2d = np.asarray(kp2d, np.float64)
    if kp2d.ndim != 3 or kp2d.shape[1:] != (NUM_KPS, 3):
        raise ValueError(f"{where}: expected keypoints (N, {NUM_KPS}, 3), got {kp2d.shape}")
    return kp2d
