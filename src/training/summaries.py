"""TensorBoard summaries and the console log of a training run.

Scalars: every loss term under ``loss/`` (``loss/e_kp``, ``loss/e_joints_dt_past``, ...),
``loss/e_loss`` and ``loss/d_loss`` (the weighted totals), ``lr/e_lr``, ``lr/d_lr`` and
``perf/steps_per_sec``. Images (every ``log_img_step``): for the first sequence of the batch,
``log_img_count`` frames centred in the window, ground-truth keypoints (top row) and predicted
ones (second row; a third row for the hallucinated prediction), drawn on the crops when the
batch carries them, else on a grey canvas.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from src.constants import IMG_SIZE
from src.render.draw import crop_to_uint8, draw_skeleton, normalized_to_pixels

BLANK_GREY = 96


def centred_window(num_frames: int, count: int) -> slice:
    """``count`` frames centred in ``num_frames`` (all of them when fewer)."""
    count = min(count, num_frames)
    start = (num_frames - count) // 2
    return slice(start, start + count)


def keypoint_panel(
    kp_gt: np.ndarray,
    kp_preds: list[np.ndarray],
    images: np.ndarray | None = None,
    count: int = 10,
) -> np.ndarray:
    """A grid of frames: GT keypoints on the first row, each prediction on the next rows.

    Args:
        kp_gt: (T, 25, 3) normalised GT keypoints with visibility.
        kp_preds: list of (T, 25, 2) normalised predicted keypoints.
        images: (T, H, W, 3) crops in [-1, 1], or None (grey canvas).
        count: frames shown, centred in T.
    Returns:
        uint8 (rows * 224, count * 224, 3).
    """
    window = centred_window(kp_gt.shape[0], count)
    frames = range(kp_gt.shape[0])[window]
    rows = []
    for kp_rows in [kp_gt] + list(kp_preds):
        tiles = []
        for t in frames:
            canvas = (
                crop_to_uint8(images[t])
                if images is not None
                else np.full((IMG_SIZE, IMG_SIZE, 3), BLANK_GREY, np.uint8)
            )
            points = normalized_to_pixels(np.asarray(kp_rows[t], np.float64), canvas.shape[0])
            if points.shape[-1] == 2:
                points = np.concatenate([points, np.ones_like(points[:, :1])], axis=-1)
            tiles.append(draw_skeleton(canvas, points))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


class Summaries:
    """TensorBoard writer of a run (a no-op writer on non-chief workers).

    Args:
        log_dir: directory of the event files (the run directory).
        enabled: False for workers that must not write.
    """

    def __init__(self, log_dir: str | os.PathLike | None, enabled: bool = True) -> None:
        self.enabled = enabled and log_dir is not None
        self.writer = (
            tf.summary.create_file_writer(str(log_dir))
            if self.enabled
            else tf.summary.create_noop_writer()
        )

    def scalars(
        self,
        values: Mapping[str, float],
        step: int,
        learning_rates: Mapping[str, float] = (),
        steps_per_sec: float | None = None,
    ) -> None:
        if not self.enabled:
            return
        with self.writer.as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(f"loss/{key}", value)
            for key, value in dict(learning_rates).items():
                tf.summary.scalar(f"lr/{key}", value)
            if steps_per_sec is not None:
                tf.summary.scalar("perf/steps_per_sec", steps_per_sec)

    def keypoints(
        self,
        batch: Mapping[str, tf.Tensor],
        extras: Mapping[str, tf.Tensor],
        step: int,
        count: int,
    ) -> None:
        """Image summary ``keypoints/gt_pred[_hal]`` of the first sequence of a local batch."""
        if not self.enabled:
            return
        kp_gt = np.asarray(batch["kp2d"][0])
        preds = [np.asarray(extras["kp2d_pred"][0])]
        name = "keypoints/gt_pred"
        if "kp2d_hal" in extras:
            preds.append(np.asarray(extras["kp2d_hal"][0]))
            name += "_hal"
        images = np.asarray(batch["images"][0]) if "images" in batch else None
        panel = keypoint_panel(kp_gt, preds, images, count)
        with self.writer.as_default(step=step):
            tf.summary.image(name, panel[None], max_outputs=1)

    def flush(self) -> None:
        self.writer.flush()


def format_console(step: int, values: Mapping[str, float], steps_per_sec: float) -> str:
    """One concise console line: step, the two totals, the largest encoder terms, speed."""
    terms = sorted(
        ((k, v) for k, v in values.items() if k.startswith("e_") and k != "e_loss"),
        key=lambda kv: -abs(kv[1]),
    )[:3]
    shown = " ".join(f"{k} {v:.4g}" for k, v in terms)
    return (
        f"step {step}  e_loss {values.get('e_loss', 0.0):.4g}  d_loss "
        f"{values.get('d_loss', 0.0):.4g}  [{shown}]  {steps_per_sec:.2f} steps/s"
    )
