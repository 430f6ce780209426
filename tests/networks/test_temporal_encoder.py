"""Temporal encoder f_movie (§3.3) against float64 NumPy; GroupNorm semantics; receptive field."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.networks.temporal_encoder import TemporalEncoder, same_conv1d

from . import numpy_reference as ref
from .helpers import np64, randomize_weights

D, GROUPS, EPS = 32, 8, 1e-6


def _block_params(encoder):
    return [
        {
            "gn1_gamma": np64(b["gn1"].gamma),
            "gn1_beta": np64(b["gn1"].beta),
            "conv1_k": np64(b["conv1"].kernel),
            "conv1_b": np64(b["conv1"].bias),
            "gn2_gamma": np64(b["gn2"].gamma),
            "gn2_beta": np64(b["gn2"].beta),
            "conv2_k": np64(b["conv2"].kernel),
            "conv2_b": np64(b["conv2"].bias),
        }
        for b in encoder.blocks
    ]


def _encoder(seed=0, **kw):
    enc = TemporalEncoder(phi_dim=D, gn_groups=GROUPS, gn_epsilon=EPS, **kw)
    enc.build((None, None, D))
    randomize_weights(enc, seed)
    return enc


def test_keras_group_norm_reduces_over_time_and_group_channels():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (3, 7, D))
    gn = keras.layers.GroupNormalization(groups=GROUPS, epsilon=EPS)
    gn.build((None, None, D))
    gn.gamma.assign(rng.uniform(0.5, 1.5, D))
    gn.beta.assign(rng.normal(0, 1, D))
    got = gn(x.astype(np.float32)).numpy()
    want, _ = ref.group_norm(x, np64(gn.gamma), np64(gn.beta), GROUPS, EPS)
    np.testing.assert_allclose(got, want, atol=2e-5)
    # one group's statistics over (T x its channels) are mean 0 / var 1 before the affine part
    bare = keras.layers.GroupNormalization(groups=GROUPS, epsilon=0.0, center=False, scale=False)
    z = bare(x.astype(np.float32)).numpy().reshape(3, 7, GROUPS, D // GROUPS)
    np.testing.assert_allclose(z.mean(axis=(1, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.var(axis=(1, 3)), 1.0, atol=1e-4)
    # per-frame statistics (instance-norm style) would differ: the window couples the frames
    assert np.abs(z.mean(axis=3)).max() > 0.1


def test_temporal_encoder_matches_numpy_forward():
    enc = _encoder(seed=3)
    phi = np.random.default_rng(4).normal(0, 1, (2, 20, D))
    got = enc(phi.astype(np.float32)).numpy()
    want = ref.temporal_encoder(phi, _block_params(enc), GROUPS, EPS)
    assert np.abs(want - phi).max() > 0.5  # the blocks do something
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_temporal_encoder_runs_on_any_sequence_length():
    enc = _encoder(seed=5)
    for steps in (1, 13, 31):
        phi = np.random.default_rng(steps).normal(0, 1, (1, steps, D))
        want = ref.temporal_encoder(phi, _block_params(enc), GROUPS, EPS)
        np.testing.assert_allclose(enc(phi.astype(np.float32)).numpy(), want, atol=1e-4)


class _FrozenGroupNorm:
    """Stands in for a GroupNormalization sublayer: records its input statistics on the first
    call, then normalises later inputs with those statistics (gamma/beta from the real layer)."""

    def __init__(self, layer):
        self.layer = layer
        self.stats = None

    def __call__(self, x):
        g = self.layer.groups
        xg = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], g, -1])
        if self.stats is None:
            self.stats = tf.nn.moments(xg, axes=[1, 3], keepdims=True)
        mean, var = self.stats
        y = tf.reshape((xg - mean) * tf.math.rsqrt(var + self.layer.epsilon), tf.shape(x))
        return y * self.layer.gamma + self.layer.beta


def test_receptive_field_is_13_frames_with_group_norm_stats_frozen():
    steps, t0 = 31, 15
    enc = _encoder(seed=7)
    rng = np.random.default_rng(8)
    phi = rng.normal(0, 1, (1, steps, D)).astype(np.float32)
    moved = phi.copy()
    moved[0, t0] += rng.normal(0, 3, D).astype(np.float32)

    # with real GroupNorm the window statistics reach every frame
    coupled = np.abs(enc(moved).numpy() - enc(phi).numpy()).max(axis=-1)[0]
    assert coupled.min() > 0

    real = {k: [b[k] for b in enc.blocks] for k in ("gn1", "gn2")}
    try:
        for b in enc.blocks:
            b["gn1"], b["gn2"] = _FrozenGroupNorm(b["gn1"]), _FrozenGroupNorm(b["gn2"])
        base = enc.call(tf.constant(phi)).numpy()
        changed = np.abs(enc.call(tf.constant(moved)).numpy() - base).max(axis=-1)[0]
    finally:
        for i, b in enumerate(enc.blocks):
            b["gn1"], b["gn2"] = real["gn1"][i], real["gn2"][i]
    inside = np.abs(np.arange(steps) - t0) <= 6
    assert inside.sum() == 13
    assert (changed[inside] > 1e-6).all()
    assert (changed[~inside] == 0).all()


def test_frozen_group_norm_stand_in_reproduces_the_layer():
    enc = _encoder(seed=9)
    gn = enc.blocks[0]["gn1"]
    x = tf.constant(np.random.default_rng(2).normal(1, 2, (2, 9, D)), tf.float32)
    np.testing.assert_allclose(_FrozenGroupNorm(gn)(x).numpy(), gn(x).numpy(), atol=1e-5)


def test_initialisers_follow_spec():
    width = 64
    enc = TemporalEncoder(phi_dim=width, gn_groups=GROUPS)
    enc.build((None, None, width))
    fan_avg = 3 * (width + width) / 2  # kernel (3, in, out): receptive field 3
    for block in enc.blocks:
        conv1 = block["conv1"].kernel.numpy()
        conv2 = block["conv2"].kernel.numpy()
        glorot = np.sqrt(6.0 / (2 * fan_avg))
        tiny = np.sqrt(3.0 * 0.001 / fan_avg)
        assert 0.95 * glorot < np.abs(conv1).max() <= glorot
        assert 0.95 * tiny < np.abs(conv2).max() <= tiny
        assert conv1.shape == conv2.shape == (3, width, width)
        for name in ("conv1", "conv2"):
            assert not block[name].bias.numpy().any()
        for name in ("gn1", "gn2"):
            assert (block[name].gamma.numpy() == 1).all() and not block[name].beta.numpy().any()
    # hence each block starts close to the identity map
    phi = np.random.default_rng(0).normal(0, 1, (1, 20, width)).astype(np.float32)
    assert np.abs(enc(phi).numpy() - phi).mean() < 0.05 * np.abs(phi).mean()


def test_group_count_must_divide_width():
    bad_dim = 30
    enc = TemporalEncoder(phi_dim=bad_dim, gn_groups=GROUPS)
    with pytest.raises(ValueError):
        enc.build((None, None, bad_dim))


def _relative_error(got, want) -> float:
    """Largest difference over the largest magnitude of the reference."""
    return float(np.max(np.abs(np.asarray(got) - np.asarray(want))) / np.max(np.abs(want)))


@pytest.mark.parametrize("width", [2, 3, 5])
def test_same_conv1d_matches_keras_conv1d_and_its_gradients(width):
    conv = keras.layers.Conv1D(D, width, padding="same")
    conv.build((None, None, D))
    randomize_weights(conv, width)
    x = tf.constant(np.random.default_rng(width).normal(0, 1, (2, 9, D)), tf.float32)
    cotangent = tf.constant(np.random.default_rng(1).normal(0, 1, (2, 9, D)), tf.float32)

    def outputs_and_grads(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * cotangent)
        return [y] + tape.gradient(loss, [x, conv.kernel, conv.bias])

    want = outputs_and_grads(conv)
    got = outputs_and_grads(lambda v: same_conv1d(v, conv.kernel, conv.bias))
    for name, g, w in zip(("output", "d_x", "d_kernel", "d_bias"), got, want, strict=True):
        assert _relative_error(g, w) < 1e-5, name
    # the check resolves the tap order: the taps reversed give another result
    flipped = same_conv1d(x, conv.kernel[::-1], conv.bias)
    assert _relative_error(flipped, want[0]) > 0.1


def test_encoder_matmul_convolutions_equal_the_conv1d_layers_with_gradients():
    enc = _encoder(seed=11, num_conv_layers=2)
    phi = tf.constant(np.random.default_rng(12).normal(0, 1, (3, 20, D)), tf.float32)

    def outputs_and_grads(as_matmul):
        enc.conv_as_matmul = as_matmul
        with tf.GradientTape() as tape:
            tape.watch(phi)
            y = enc(phi)
            loss = tf.reduce_sum(tf.sin(y))
        return [y] + tape.gradient(loss, [phi] + enc.trainable_variables)

    want, got = outputs_and_grads(False), outputs_and_grads(True)
    assert enc.conv_as_matmul  # the default path
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert _relative_error(g, w) < 1e-5, i


def test_matmul_convolutions_trace_for_an_unknown_sequence_length():
    enc = _encoder(seed=13)
    fn = tf.function(enc, input_signature=[tf.TensorSpec((None, None, D), tf.float32)])
    for steps in (1, 6):
        phi = np.random.default_rng(steps).normal(0, 1, (2, steps, D))
        want = ref.temporal_encoder(phi, _block_params(enc), GROUPS, EPS)
        np.testing.assert_allclose(fn(phi.astype(np.float32)).numpy(), want, atol=1e-4)
