"""tf.distribute strategy from a flag (the Model Garden pattern), with a CPU fallback.

- ``one_device``: the first GPU, else the CPU.
- ``mirrored``: every local GPU; without GPUs every logical CPU device (one, unless the process
  split the CPU with ``tf.config.set_logical_device_configuration``, as the tests do).
- ``multi_worker_mirrored``: the cluster in ``TF_CONFIG`` (each worker runs the same command);
  without ``TF_CONFIG`` a single local worker.

The trainer runs the same code under all three. Create the strategy before any other TF work
(multi-worker collectives must be configured first).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored")  # the --strategy choices


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Build the strategy named ``name`` (one of :data:`STRATEGIES`).

    Raises:
        ValueError: unknown name, or a malformed ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy={name!r}: expected one of {', '.join(STRATEGIES)}")
    if name == "multi_worker_mirrored":  # before anything initialises the TF runtime
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        device = gpus[0].name if gpus else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        if not gpus:
            logging.info("mirrored strategy: no GPU, using %d CPU device(s)", len(devices))
            return tf.distribute.MirroredStrategy(
                devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
            )
    return tf.distribute.MirroredStrategy(devices)


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        logging.warning("multi_worker_mirrored without TF_CONFIG: one local worker")
        return
    try:
        config = json.loads(raw)
        config["cluster"]["worker"]
        config["task"]["index"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            'TF_CONFIG: expected JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}} ({err})'
        ) from err


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's index (0 outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 0
    return int(resolver.task_id or 0)


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Workers in the cluster (1 outside multi-worker)."""
    return int(strategy.extended._num_workers) if hasattr(strategy.extended, "_num_workers") else 1


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries, params.json and the export."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    task_type = resolver.task_type
    return task_type == "chief" or (
        task_type == "worker"
        and worker_index(strategy) == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )
