"""Shared test helpers: an independent forward kinematics and the CMU folder location."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

REPO_ROOT = Path(__file__).resolve().parents[2]
CMU_DIR = REPO_ROOT.parent / "shared" / "data" / "mocap" / "cmu"


def reference_fk(
    parents, offsets: np.ndarray, local: list[Rotation], root_pos: np.ndarray
) -> np.ndarray:
    """(N, J, 3) joint positions from scipy rotations, written without src.motion.

    ``local[j]`` is joint j's local rotation over N frames; the root sits at offsets[0] + root_pos.
    """
    glob: list[Rotation] = []
    pos: list[np.ndarray] = []
    for j, p in enumerate(parents):
        if p < 0:
            glob.append(local[j])
            pos.append(offsets[j] + root_pos)
        else:
            glob.append(glob[p] * local[j])
            pos.append(pos[p] + glob[p].apply(offsets[j]))
    return np.stack(pos, axis=1)


def random_rotations(rng: np.random.Generator, n: int, max_deg: float) -> Rotation:
    """n rotations about random axes by angles uniform in [0, max_deg]."""
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.radians(rng.uniform(0.0, max_deg, size=(n, 1)))
    return Rotation.from_rotvec(axes * angles)
