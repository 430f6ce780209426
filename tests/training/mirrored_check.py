"""Subprocess body of test_trainer_distributed: one device vs MirroredStrategy on 2 logical CPUs.

Prints one JSON line with the largest differences. Run as a script (logical devices must be set
before TensorFlow initialises).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from src.losses.hmmr_losses import LossConfig  # noqa: E402
from src.losses.weights import LossWeights  # noqa: E402
from src.networks.config import ModelConfig  # noqa: E402
from src.training.trainer import Trainer, TrainSettings  # noqa: E402
from tests.training.helpers import TINY_B, TINY_MODEL, TINY_T, synthetic_batch  # noqa: E402


def build(strategy, smpl_path):
    keras.utils.set_random_seed(3)
    return Trainer(
        strategy,
        ModelConfig(**TINY_MODEL),
        LossWeights(),
        LossConfig(do_hallucinate=True, do_hallucinate_preds=True),
        TrainSettings(batch_size=TINY_B, seq_length=TINY_T, e_lr=1e-3, d_lr=1e-3),
        smpl_path,
    )


def max_rel(a, b):
    pairs = zip(a, b, strict=True)
    return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)) for x, y in pairs)


def main(smpl_path: str) -> None:
    one = build(tf.distribute.OneDeviceStrategy("/cpu:0"), smpl_path)
    two = build(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), smpl_path)
    for src, dst in ((one.model, two.model), (one.discriminator, two.discriminator)):
        for a, b in zip(src.weights, dst.weights, strict=True):
            b.assign(a.numpy())
    rng = np.random.default_rng(0)
    batches = [
        synthetic_batch(rng, TINY_B, TINY_T, TINY_MODEL["phi_dim"], one.mocap_batch_size)
        for _ in range(2)
    ]
    out = {"replicas": two.strategy.num_replicas_in_sync}
    g_one = one.global_gradients(one.distribute_batch(batches[0]))
    g_two = two.global_gradients(two.distribute_batch(batches[0]))
    out["grad_rel"] = max_rel(g_one[0] + g_one[1], g_two[0] + g_two[1])
    # what averaging per-replica means would give instead (must differ: the check can fail)
    halves = [
        {k: v[: len(v) // 2] if i == 0 else v[len(v) // 2 :] for k, v in batches[0].items()}
        for i in range(2)
    ]
    small = build(tf.distribute.OneDeviceStrategy("/cpu:0"), smpl_path)
    small.settings = dataclasses.replace(small.settings, batch_size=TINY_B // 2)
    for a, b in zip(
        one.model.weights + one.discriminator.weights,
        small.model.weights + small.discriminator.weights,
        strict=True,
    ):
        b.assign(a.numpy())
    g_halves = [small.global_gradients(small.distribute_batch(h)) for h in halves]
    naive = [
        (a + b) / 2
        for a, b in zip(
            g_halves[0][0] + g_halves[0][1], g_halves[1][0] + g_halves[1][1], strict=True
        )
    ]
    out["naive_grad_rel"] = max_rel(g_one[0] + g_one[1], naive)
    value_diffs = []
    for batch in batches:
        v_one, _ = one.train_step(one.distribute_batch(batch))
        v_two, _ = two.train_step(two.distribute_batch(batch))
        value_diffs.append(max(abs(v_one[k] - v_two[k]) / (abs(v_one[k]) + 1e-6) for k in v_one))
    out["value_rel"] = max(value_diffs)
    out["terms"] = sorted(v_one)
    w_one = [w.numpy() for w in one.model.weights + one.discriminator.weights]
    w_two = [w.numpy() for w in two.model.weights + two.discriminator.weights]
    out["weight_abs"] = max(float(np.max(np.abs(a - b))) for a, b in zip(w_one, w_two, strict=True))
    out["steps"] = [int(one.step.numpy()), int(two.step.numpy())]
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main(sys.argv[1])
