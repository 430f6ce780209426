"""Training checkpoints: ``tf.train.CheckpointManager`` in ``<run_dir>/ckpt``.

A checkpoint holds the model, the discriminator, both optimisers' state, the step counter, the
dropout RNG states and, with one replica on one worker, the input iterator. Weights are keyed by
their Keras paths (``hmmr/temporal_encoder/block0_conv1/kernel``), not by object position, so a
checkpoint reads back into any process that builds the same configuration. Learning rates are not
stored: a resumed run uses the flags' values.

Writes are atomic (the manager writes a new prefix, then replaces the ``checkpoint`` index file),
so a run killed at any moment resumes from the last complete checkpoint. Under multi-worker
training every worker saves at the same steps (the collectives need it); workers other than the
chief write to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

CKPT_DIR = "ckpt"
CKPT_PREFIX = "ckpt"


def named_variables(layer: keras.layers.Layer) -> dict[str, tf.Variable]:
    """The layer's weights as Keras path -> backing ``tf.Variable``.

    Raises:
        ValueError: two weights share a path.
    """
    out: dict[str, tf.Variable] = {}
    for weight in layer.weights:
        if weight.path in out:
            raise ValueError(f"{layer.name}: two weights named {weight.path}")
        out[weight.path] = weight.value
    return out


def rng_variables(layer: keras.layers.Layer) -> dict[str, tf.Variable]:
    """Non-weight state variables (dropout seed generators), by position."""
    weights = {id(w) for w in layer.weights}
    extra = [v for v in layer.variables if id(v) not in weights]
    return {str(i): v.value for i, v in enumerate(extra)}


def optimizer_variables(optimizer: keras.optimizers.Optimizer) -> dict[str, tf.Variable]:
    """Optimiser state (iterations, moments, loss scale) by path; the learning rate excluded."""
    out = {}
    for variable in optimizer.variables:
        if variable.path.endswith("learning_rate"):
            continue
        out[variable.path] = variable.value
    return out


def trainer_objects(trainer: Any) -> dict[str, Any]:
    """What a training checkpoint holds (without the iterator)."""
    return {
        "model": named_variables(trainer.model),
        "discriminator": named_variables(trainer.discriminator),
        "rng": rng_variables(trainer.model),
        "e_optimizer": optimizer_variables(trainer.e_optimizer),
        "d_optimizer": optimizer_variables(trainer.d_optimizer),
        "step": trainer.step,
    }


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CKPT_DIR


def latest_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """Prefix of the newest complete checkpoint of a run, or None."""
    return tf.train.latest_checkpoint(str(checkpoint_dir(run_dir)))


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether the run has recorded a checkpoint (its ``ckpt/checkpoint`` index file exists;
    a file check, safe before the strategy is built)."""
    return (checkpoint_dir(run_dir) / "checkpoint").is_file()


def checkpoint_step(prefix: str) -> int:
    """The step stored in a checkpoint."""
    return int(tf.train.load_checkpoint(prefix).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def escape_key(name: str) -> str:
    """A dict key as it appears in checkpoint keys (TF's local-name escaping: '.' -> '..',
    '/' -> '.S')."""
    return name.replace(".", "..").replace("/", ".S")


def unescape_key(escaped: str) -> str:
    """Inverse of :func:`escape_key`, read left to right."""
    return re.sub(r"\.([.S])", lambda m: "/" if m.group(1) == "S" else ".", escaped)


def read_arrays(prefix: str, group: str = "model") -> dict[str, np.ndarray]:
    """Arrays of one group of a checkpoint (``model``, ``discriminator``...) by Keras path."""
    reader = tf.train.load_checkpoint(prefix)
    start = f"{group}/"
    end = "/.ATTRIBUTES/VARIABLE_VALUE"
    out = {}
    for key in reader.get_variable_to_shape_map():
        if key.startswith(start) and key.endswith(end):
            escaped = key[len(start) : -len(end)]
            out[unescape_key(escaped)] = reader.get_tensor(key)
    return out


def has_iterator(prefix: str) -> bool:
    """Whether a checkpoint stored the input iterator."""
    keys = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    return any(k.startswith("iterator/") for k in keys)


class TrainCheckpoint:
    """Saves and restores a trainer's state in ``<run_dir>/ckpt``.

    Args:
        run_dir: the run directory.
        trainer: a :class:`~src.training.trainer.Trainer`.
        iterator: the input iterator when it is checkpointable, else None.
        every_steps: save when ``step % every_steps == 0``; 0 = by time.
        every_secs: save when this many seconds passed since the last save (``every_steps`` 0).
        max_to_keep: recent checkpoints kept.
        keep_every_n_hours: also keep one checkpoint per this many hours.
        chief: this worker writes the real checkpoint (others write a temporary copy).
        worker_index: names the temporary folder of non-chief workers.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        trainer: Any,
        iterator: Any = None,
        every_steps: int = 0,
        every_secs: float = 600.0,
        max_to_keep: int = 5,
        keep_every_n_hours: float | None = 5.0,
        chief: bool = True,
        worker_index: int = 0,
    ) -> None:
        self.directory = checkpoint_dir(run_dir)
        self.chief = chief
        self.every_steps = every_steps
        self.every_secs = every_secs
        self.trainer = trainer
        self._objects = trainer_objects(trainer)
        self._iterator = iterator
        self.checkpoint = tf.train.Checkpoint(**self._with_iterator(iterator is not None))
        write_dir = self.directory if chief else self.directory / f".worker_{worker_index}"
        self._write_dir = write_dir
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            str(write_dir),
            max_to_keep=max_to_keep if chief else 1,
            keep_checkpoint_every_n_hours=keep_every_n_hours if chief else None,
            checkpoint_name=CKPT_PREFIX,
        )
        self._last_save_time = time.monotonic()
        self.last_saved_step: int | None = None

    def _with_iterator(self, include: bool) -> dict[str, Any]:
        objects = dict(self._objects)
        if include:
            objects["iterator"] = self._iterator
        return objects

    def restore_latest(self) -> tuple[str, int] | None:
        """Restore the newest checkpoint of the run (every object must match).

        Returns:
            ``(prefix, step)`` or None when the run has none.
        Raises:
            ValueError: the checkpoint does not fit this configuration (names the prefix).
        """
        prefix = tf.train.latest_checkpoint(str(self.directory))
        if prefix is None:
            return None
        with_iterator = self._iterator is not None and has_iterator(prefix)
        checkpoint = (
            self.checkpoint
            if with_iterator or self._iterator is None
            else tf.train.Checkpoint(**self._with_iterator(False))
        )
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as err:
            raise ValueError(
                f"{prefix}: does not fit this model/optimiser configuration ({err})"
            ) from err
        step = int(self.trainer.step.numpy())
        self.last_saved_step = step
        return prefix, step

    def due(self, step: int) -> bool:
        """Whether the cadence asks for a checkpoint at ``step``."""
        if self.every_steps > 0:
            return step % self.every_steps == 0
        return time.monotonic() - self._last_save_time >= self.every_secs

    def save(self, step: int) -> str | None:
        """Write a checkpoint numbered ``step`` (skipped when that step is already saved)."""
        if step == self.last_saved_step:
            return None
        path = self.manager.save(checkpoint_number=step)
        self._last_save_time = time.monotonic()
        self.last_saved_step = step
        if not self.chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path

    def maybe_save(self, step: int) -> str | None:
        return self.save(step) if self.due(step) else None
