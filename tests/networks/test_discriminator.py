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


def _relative_error(got, want) -> float:
    """Largest difference over the largest magnitude of the reference."""
    return float(np.max(np.abs(np.asarray(got) - np.asarray(want))) / np.max(np.abs(want)))


def test_batched_heads_equal_the_per_joint_dense_layers_with_gradients():
    import tensorflow as tf

    disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
    disc.build()
    randomize_weights(disc, 2)
    rots = tf.constant(_random_rotations(np.random.default_rng(3), 6), tf.float32)
    cotangent = tf.constant(np.random.default_rng(4).normal(0, 1, (6, 24)), tf.float32)

    def outputs_and_grads(batched):
        disc.batched_heads = batched
        with tf.GradientTape() as tape:
            tape.watch(rots)
            scores = disc(rots)
            loss = tf.reduce_sum(scores * cotangent)
        return [scores] + tape.gradient(loss, [rots] + disc.trainable_variables)

    want, got = outputs_and_grads(False), outputs_and_grads(True)
    assert disc.batched_heads  # the default path
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert _relative_error(g, w) < 1e-5, i
    # the check resolves the head order: two heads swapped give other per-joint scores
    first, second = disc.pose_out[0].kernel, disc.pose_out[1].kernel
    first_value = first.numpy()
    first.assign(second.numpy())
    second.assign(first_value)
    assert _relative_error(disc(rots)[:, :2], want[0][:, :2]) > 0.01
