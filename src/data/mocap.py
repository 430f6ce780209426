"""Mocap (pose + shape) records for the adversarial prior (§6.3).

The number of real samples per step (§5.5) is ``src.losses.hmmr_losses.num_real_mocap`` (the
single formula, used by the trainer); this module only takes it as ``batch_size``.

Files: ``<data_dir>/mocap_neutrMosh/neutrSMPL_<name>_*.tfrecord`` for each name of
``mocap_datasets`` (default CMU, H3.6, jointLim); missing names are skipped as long as one file
exists. Each Example holds ``pose`` (72 floats) and ``shape`` (10 floats).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from src.data import schema
from src.data.tfrecord_lib import ReadStats, checked_record_dataset

MOCAP_DIR = "mocap_neutrMosh"
MOCAP_FILE_PREFIX = "neutrSMPL_"
DEFAULT_MOCAP_DATASETS = ("CMU", "H3.6", "jointLim")
MOCAP_SHUFFLE_BUFFER = 10000  # one original mocap file's worth of examples


def mocap_files(
    data_dir: str | os.PathLike, datasets: Sequence[str] = DEFAULT_MOCAP_DATASETS
) -> list[str]:
    """Sorted mocap record files of the named sets; names without files are skipped.

    Raises:
        FileNotFoundError: none of the names has a file (the message lists the patterns tried).
    """
    root = Path(data_dir) / MOCAP_DIR
    patterns = [f"{MOCAP_FILE_PREFIX}{name}_*.tfrecord" for name in datasets]
    files = sorted({str(p) for pattern in patterns for p in root.glob(pattern)})
    if not files:
        raise FileNotFoundError(
            f"{root}: no mocap records matching {', '.join(patterns)} (build them with "
            f"python -m tfrecords_tools.mocap)"
        )
    return files


def make_mocap_dataset(
    data_dir: str | os.PathLike | None,
    batch_size: int,
    datasets: Sequence[str] = DEFAULT_MOCAP_DATASETS,
    *,
    files: Sequence[str] | None = None,
    skip_corrupt: bool = False,
    stats: ReadStats | None = None,
    shuffle_buffer: int = MOCAP_SHUFFLE_BUFFER,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Endless shuffled batches ``{"pose": (M, 72), "shape": (M, 10)}`` of real mocap.

    Args:
        data_dir: the TFRecord root (ignored when ``files`` is given).
        batch_size: M, the global batch (divided by the replicas under ``input_context``):
            ``src.losses.hmmr_losses.num_real_mocap`` for training.
        datasets: mocap set names.
        files: explicit record files instead of ``data_dir``/``datasets``.
        skip_corrupt: skip damaged records (counted in ``stats``) instead of failing.
        stats: skip counters.
        shuffle_buffer: examples in the shuffle buffer.
        seed: shuffle seed.
        input_context: per-worker file sharding (record sharding when there are fewer files
            than workers) and per-replica batch size.
    """
    files = list(files) if files is not None else mocap_files(data_dir, datasets)
    shard_records = None  # (count, index): fewer files than workers, so split their records
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
        if len(files) >= count:
            files = files[index::count]
        elif count > 1:
            shard_records = (count, index)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_single_example(serialized, schema.mocap_feature_spec())

    # with fewer files than workers, every worker reads them all but keeps its own records, so
    # no two workers draw the same real poses
    records = checked_record_dataset(
        files, parse, skip_corrupt=skip_corrupt, stats=stats, seed=seed, record_shard=shard_records
    )
    samples = records.map(
        lambda path, raw: schema.mocap_from_raw(raw, path),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    samples = _repeat_or_fail(samples, files)
    samples = samples.shuffle(shuffle_buffer, seed=seed)
    return samples.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _repeat_or_fail(samples: tf.data.Dataset, files: Sequence[str]) -> tf.data.Dataset:
    """Repeat forever; if a whole pass yields nothing, fail naming the files (never spin)."""

    def fail(sample: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        message = f"no readable mocap record in {len(files)} file(s), e.g. {files[0]}"
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return {k: tf.identity(v) for k, v in sample.items()}

    spec = samples.element_spec
    dummy = {k: tf.zeros(v.shape, v.dtype) for k, v in spec.items()}
    return samples.repeat().concatenate(tf.data.Dataset.from_tensors(dummy).map(fail))
