"""Shared pieces of the training tests: tiny configurations and fixed synthetic batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# A tiny model: every branch present (temporal block, hallucinator, two deltas, discriminator).
TINY_MODEL = dict(
    phi_dim=64,
    gn_groups=8,
    num_conv_layers=1,
    ief_hidden=16,
    hallucinator_hidden=16,
    disc_joint_hidden=8,
    disc_all_hidden=16,
    dropout_rate=0.0,
)
TINY_T = 8
TINY_B = 4
# Flags of a tiny main run on the 2048-D quick records (no temporal block: small checkpoints).
TINY_RUN_FLAGS = [
    "--datasets=h36m,penn_action",
    "--mocap_datasets=CMU",
    "--pretrained_model_path=",
    "--batch_size=2",
    "--T=6",
    "--num_conv_layers=0",
    "--ief_hidden=16",
    "--hallucinator_hidden=16",
    "--disc_joint_hidden=8",
    "--disc_all_hidden=16",
    "--do_hallucinate",
    "--do_hallucinate_preds",
    "--summary_every_steps=1",
    "--log_every_steps=1",
    "--log_img_step=2",
    "--log_img_count=3",
]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["KERAS_BACKEND"] = "tensorflow"
    env.pop("TF_CONFIG", None)
    return env


def run_python(
    args: list[str], timeout: float, env: dict | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or subprocess_env(),
        cwd=cwd,
    )


def synthetic_batch(
    rng: np.random.Generator, batch: int, steps: int, phi_dim: int, num_mocap: int
) -> dict[str, np.ndarray]:
    """A global batch whose samples differ in visibility and 3D labels, so that per-replica
    and global normalisations disagree."""
    kp = rng.uniform(-0.8, 0.8, (batch, steps, 25, 2))
    vis = rng.uniform(size=(batch, steps, 25)) > rng.uniform(0.1, 0.7, (batch, 1, 1))
    kp2d = np.concatenate([kp, vis[..., None]], axis=-1) * vis[..., None]
    return {
        "phi": rng.normal(0, 1, (batch, steps, phi_dim)).astype(np.float32),
        "kp2d": kp2d.astype(np.float32),
        "pose": rng.normal(0, 0.3, (batch, steps, 72)).astype(np.float32),
        "shape": rng.normal(0, 0.5, (batch, 10)).astype(np.float32),
        "joints3d": rng.normal(0, 0.3, (batch, steps, 14, 3)).astype(np.float32),
        "has_3d_joints": (np.arange(batch) % 3 == 0).astype(np.float32),
        "has_smpl": (np.arange(batch) % 2 == 0).astype(np.float32),
        "mocap_pose": rng.normal(0, 0.3, (num_mocap, 72)).astype(np.float32),
    }
