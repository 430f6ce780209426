"""Time per stage (decode, pose, crop, features, regress, render) and the progress bars."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from tqdm import tqdm

STAGES = ("decode", "pose", "crop", "features", "regress", "render")


class StageTimer:
    """Seconds and frames per stage; nested stages are subtracted from the enclosing one, so
    each stage's time is its own (e.g. ``regress`` excludes the decoding it pulls through)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.frames: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._nested: list[float] = []

    @contextmanager
    def stage(self, name: str, frames: int = 0) -> Iterator[None]:
        start = time.perf_counter()
        self._nested.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            nested = self._nested.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - nested
            self.frames[name] = self.frames.get(name, 0) + frames
            if self._nested:
                self._nested[-1] += elapsed

    def add_frames(self, name: str, count: int) -> None:
        self.frames[name] = self.frames.get(name, 0) + count

    def timed_iter(self, name: str, items: Iterable) -> Iterator:
        """Iterate ``items``, timing each ``next`` as one frame of stage ``name``."""
        iterator = iter(items)
        while True:
            with self.stage(name):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            self.frames[name] += 1
            yield item

    def summary(self) -> dict[str, dict[str, float]]:
        """``{stage: {"frames", "seconds", "fps"}}`` for the stages that ran."""
        out = {}
        for name, seconds in self.seconds.items():
            frames = self.frames.get(name, 0)
            if frames or seconds:
                fps = frames / seconds if seconds > 0 else float("inf")
                out[name] = {"frames": frames, "seconds": round(seconds, 3), "fps": round(fps, 2)}
        return out


class TimedEncoder:
    """The ResNet as one traced function with the ``features`` stage timed.

    Call: ``encoder(images (n, S, S, 3) in [-1, 1], training=False)`` -> ``(n, D)`` numpy.
    """

    def __init__(self, resnet: Callable, img_size: int, timer: StageTimer) -> None:
        import tensorflow as tf

        spec = tf.TensorSpec((None, img_size, img_size, 3), tf.float32)
        self._fn = tf.function(  # no autograph: nothing to convert, and a lambda's source
            lambda x: resnet(x, training=False),  # cannot be parsed (a warning on every run)
            input_signature=[spec],
            autograph=False,
        )
        self.timer = timer

    def __call__(self, images, training: bool = False) -> np.ndarray:
        images = np.asarray(images, np.float32)
        with self.timer.stage("features", frames=int(images.shape[0])):
            return self._fn(images).numpy()


def progress_bar(show: bool, total: int | None, desc: str) -> tqdm:
    """A tqdm bar of frames on stderr (disabled when not ``show``)."""
    return tqdm(
        total=total, desc=desc, unit="frame", disable=not show, file=sys.stderr,
        dynamic_ncols=True, leave=True,
    )  # fmt: skip
