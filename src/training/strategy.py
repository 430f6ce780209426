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
import re

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


_REMOTE_TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")
_PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
)
_PEER_WORDS = ("reset by peer", "unavailable", "deadline", "timed out", "heartbeat", "check alive")


def op_error_line(err: tf.errors.OpError) -> str:
    """One line for a failed op: for a multi-worker step that failed because a peer is gone (its
    connection reset, or TF's health check, every 30 s with a 10 s timeout, aborted the
    collectives) the peer and what to do; otherwise the first line of the message that says
    something (not ``Graph execution error:``, not a node trace)."""
    text = err.message or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next(
        (
            line
            for line in lines
            if not line.startswith(("Graph execution error", "Detected at node", "File ", "["))
        ),
        lines[0] if lines else type(err).__name__,
    )
    if not isinstance(err, _PEER_ERRORS):
        return detail
    match = _REMOTE_TASK.search(text)
    reason = next((line for line in lines if any(w in line.lower() for w in _PEER_WORDS)), None)
    if match is None and reason is None:
        return detail
    peer = f"{match.group(1)} {match.group(2)}" if match else "a peer worker"
    return (
        f"lost {peer} of the multi-worker cluster ({type(err).__name__}: {reason or detail}); "
        "this worker stops too: restart every worker with the same command to resume from the "
        "last checkpoint"
    )
