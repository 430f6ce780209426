"""Factorised pose discriminator (§3.9) against float64 NumPy."""

import numpy as np
import pytest

from src.networks.discriminator import PoseDiscriminator

from . import numpy_reference as ref
from .helpers import dense_params, randomize_weights


def _random_rotations(rng, n):
    q = rng.normal(size=(n, 23, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def test_discriminator_matches_numpy_for_both_input_layouts():
    disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
    disc.build()
    randomize_weights(disc, 0)
    rots = _random_rotations(np.random.default_rng(1), 5)
    want = ref.pose_discriminator(
        rots,
        dense_params(disc.conv1),
        dense_params(disc.conv2),
        [dense_params(h) for h in disc.pose_out],
        dense_params(disc.alljoints_fc1),
        dense_params(disc.alljoints_fc2),
        dense_params(disc.alljoints_out),
    )
    got = disc(rots.astype(np.float32)).numpy()
    assert got.shape == (5, 24)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    flat = disc(rots.reshape(5, 23, 9).astype(np.float32)).numpy()
    np.testing.assert_allclose(flat, got, atol=1e-6)


def test_discriminator_rejects_24_joints():
    disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
    with pytest.raises(ValueError, match="without the root"):
        disc(np.zeros((2, 24, 3, 3), np.float32))
