"""Time one HMMR training step: seconds per step and sequences per second, with and without XLA.

    python bench/train_step.py [--batch_size 8] [--T 20] [--steps 5] [--warmup 2] [--quick]

Precomputed phi (synthetic, 2048-D), the full-width model of the release run (3 temporal blocks,
hallucinator with past/future losses, discriminator with the matching 960 mocap poses at B=8,
T=20) on the generated stand-in body model (6890 vertices, like SMPL), one device (the first GPU,
else the CPU). ``--quick`` times configs/cpu_quick.cfg's reduced widths instead. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from src.losses.hmmr_losses import LossConfig  # noqa: E402
from src.losses.weights import LossWeights  # noqa: E402
from src.networks.config import ModelConfig  # noqa: E402
from src.smpl.standin import default_standin_path  # noqa: E402
from src.training.trainer import Trainer, TrainSettings  # noqa: E402

QUICK_WIDTHS = dict(num_conv_layers=1, ief_hidden=256, hallucinator_hidden=256, disc_all_hidden=256)


def synthetic_batch(rng, batch: int, steps: int, num_mocap: int) -> dict[str, np.ndarray]:
    kp = rng.uniform(-0.8, 0.8, (batch, steps, 25, 2))
    vis = rng.uniform(size=(batch, steps, 25, 1)) > 0.2
    return {
        "phi": rng.normal(0, 1, (batch, steps, 2048)).astype(np.float32),
        "kp2d": (np.concatenate([kp, vis], -1) * vis).astype(np.float32),
        "pose": rng.normal(0, 0.3, (batch, steps, 72)).astype(np.float32),
        "shape": rng.normal(0, 0.5, (batch, 10)).astype(np.float32),
        "joints3d": rng.normal(0, 0.3, (batch, steps, 14, 3)).astype(np.float32),
        "has_3d_joints": (np.arange(batch) % 2).astype(np.float32),
        "has_smpl": np.zeros(batch, np.float32),
        "mocap_pose": rng.normal(0, 0.3, (num_mocap, 72)).astype(np.float32),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_steps(xla: bool, args: argparse.Namespace, device: str) -> dict[str, float]:
    import keras

    keras.utils.set_random_seed(0)
    config = ModelConfig(**(QUICK_WIDTHS if args.quick else {}))
    trainer = Trainer(
        tf.distribute.OneDeviceStrategy(device),
        config,
        LossWeights(),
        LossConfig(do_hallucinate=True, do_hallucinate_preds=True),
        TrainSettings(args.batch_size, args.T, xla=xla),
        default_standin_path(),
    )
    rng = np.random.default_rng(0)
    batches = [
        trainer.distribute_batch(
            synthetic_batch(rng, args.batch_size, args.T, trainer.mocap_batch_size)
        )
        for _ in range(2)
    ]
    start = time.perf_counter()
    trainer.train_step(batches[0])
    first = time.perf_counter() - start
    for i in range(args.warmup - 1):
        trainer.train_step(batches[i % 2])
    times = []
    for i in range(args.steps):
        start = time.perf_counter()
        trainer.train_step(batches[i % 2])  # returns host floats: the step has finished
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    return {
        "sec_per_step": round(seconds, 4),
        "sequences_per_sec": round(args.batch_size / seconds, 3),
        "sec_per_step_min": round(float(np.min(times)), 4),
        "first_step_sec_with_trace_and_compile": round(first, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--T", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="cpu_quick.cfg widths")
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    args = parser.parse_args()
    gpus = tf.config.list_logical_devices("GPU")
    device = gpus[0].name if gpus else "/cpu:0"
    result = {
        "device": (
            tf.config.experimental.get_device_details(
                tf.config.list_physical_devices("GPU")[0]
            ).get("device_name", "GPU")
            if gpus
            else f"CPU {cpu_name()}, {os.cpu_count()} cores"
        ),
        "batch_size": args.batch_size,
        "T": args.T,
        "model": "cpu_quick widths" if args.quick else "full width (release)",
        "steps_timed": args.steps,
    }
    for xla in {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]:
        result["xla" if xla else "no_xla"] = time_steps(xla, args, device)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
