"""Feature ("phi") precomputation for training records (§6.6).

After the tube augmentation of a whole track, its 224 crops in [-1, 1] go through the frozen
ResNet-50 v2 in inference mode in fixed-size batches (the last batch zero-padded and trimmed), and
the features are stored as ``image/phis``. Each of the ``num_copy`` copies of a track has its own
jitter, so the stored features are all the augmentation that training with precomputed phi sees.

The encoder is any callable ``(B, 224, 224, 3) -> (B, 2048)``; converters pass
``src.networks.resnet_v2.build_resnet_v2_50()`` restored from ``hmr_noS5.ckpt-642561``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from src.constants import IMG_SIZE, PHI_DIM
from src.data.tube_augmentation import TubeAugmenter

PHI_BATCH_SIZE = 64  # the original's batch for feature extraction


class FeatureExtractor:
    """Batched, inference-mode phi extraction.

    Args:
        resnet_model: Keras model/layer or callable ``(B, S, S, 3) -> (B, 2048)``; Keras objects
            are called with ``training=False``.
        batch_size: images per call; every call sees exactly this many (zero-padded).
        img_size: crop side S.

    Example:
        >>> extractor = FeatureExtractor(build_resnet_v2_50())
        >>> phi = extractor(images)   # (N, 224, 224, 3) in [-1, 1] -> (N, 2048) float32
    """

    def __init__(
        self,
        resnet_model: Callable[..., Any],
        batch_size: int = PHI_BATCH_SIZE,
        img_size: int = IMG_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"FeatureExtractor: batch_size must be >= 1, got {batch_size}")
        self.resnet_model = resnet_model
        self.batch_size = batch_size
        self.img_size = img_size

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if isinstance(self.resnet_model, keras.Layer):
            out = self.resnet_model(batch, training=False)
        else:
            out = self.resnet_model(batch)
        out = np.asarray(out, np.float32)
        if out.shape != (self.batch_size, PHI_DIM):
            raise ValueError(
                f"FeatureExtractor: the encoder returned {out.shape}, expected "
                f"({self.batch_size}, {PHI_DIM})"
            )
        return out

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(N, S, S, 3)`` float in [-1, 1] -> ``(N, 2048)`` float32."""
        images = np.asarray(images, np.float32)
        expected = (self.img_size, self.img_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(
                f"FeatureExtractor: expected images (N, {self.img_size}, "
                f"{self.img_size}, 3), got {images.shape}"
            )
        outputs = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            padded = np.zeros((self.batch_size,) + expected, np.float32)
            padded[: len(chunk)] = chunk
            outputs.append(self._run(padded)[: len(chunk)])
        if not outputs:
            return np.zeros((0, PHI_DIM), np.float32)
        return np.concatenate(outputs, axis=0)


def precompute_copies(
    frames: np.ndarray | Sequence[np.ndarray],
    kp2d: np.ndarray,
    extractor: FeatureExtractor,
    augmenter: TubeAugmenter,
    rng: np.random.Generator,
    num_copy: int = 1,
    *,
    pose: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    joints3d: np.ndarray | None = None,
    centers: np.ndarray | None = None,
    save_images: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``num_copy`` independently jittered copies of one track, with phi, ready to serialize.

    Args:
        frames: ``(N, H, W, 3)`` uint8 RGB pre-crops (§6.4).
        kp2d: ``(N, 25, 3)`` pixel (x, y, vis) in ``frames``.
        extractor: phi encoder.
        augmenter: tube augmentation (§6.5).
        rng: random generator; copies use consecutive draws from it.
        num_copy: copies to make.
        pose, shape, joints3d: ``(N, 72)``, ``(10,)``, ``(N, 14, 3)`` ground truth or None.
        centers: ``(N, 2)`` person centers in ``frames`` (default frame centers).
        save_images: keep the 224 crops (``image/encoded``), as the original's ``save_img``.
        extra: fields copied into every track (``filenames``, ``scale_factors``, ``crop_pts``,
            ``cams``, ``has_3d_joints`` ...).
    Returns:
        Track dicts for :func:`src.data.schema.make_train_example`.
    """
    tracks = []
    for _ in range(num_copy):
        aug = augmenter(frames, kp2d, rng=rng, pose=pose, joints3d=joints3d, centers=centers)
        track: dict[str, Any] = dict(extra or {})
        track.update(
            {
                "kp2d": aug["kp2d"],
                "phi": extractor(aug["images"]),
                "pose": aug["pose"],
                "shape": shape,
                "joints3d": aug["joints3d"],
                "centers": aug["centers"],
            }
        )
        if save_images:
            track["images"] = aug["crops"]
        tracks.append(track)
    return tracks


_PER_FRAME_KEYS = (
    "kp2d",
    "phi",
    "pose",
    "joints3d",
    "images",
    "images_og",
    "filenames",
    "heightwidths",
    "centers",
    "crop_pts",
    "scale_factors",
    "cams",
)


def chunk_track(track: Mapping[str, Any], max_length: int) -> list[dict[str, Any]]:
    """Cut a track into records of ``max_length`` consecutive frames; the last chunk is the last
    ``max_length`` frames (so it overlaps the previous one), as the H3.6M converter (§6.4).

    Args:
        track: a track dict (per-frame fields have N first).
        max_length: frames per record; ``<= 0`` keeps the track whole.
    Returns:
        Track dicts; per-track fields (``shape``, flags) are shared.
    """
    n = len(track["kp2d"])
    if max_length <= 0 or n <= max_length:
        return [dict(track)]
    starts = list(range(0, n - max_length + 1, max_length))
    if starts[-1] + max_length < n:
        starts.append(n - max_length)
    chunks = []
    for start in starts:
        chunk = dict(track)
        for key in _PER_FRAME_KEYS:
            if chunk.get(key) is not None:
                chunk[key] = chunk[key][start : start + max_length]
        chunks.append(chunk)
    return chunks
