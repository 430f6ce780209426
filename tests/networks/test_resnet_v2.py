"""ResNet-50 v2 (§3.2) against tf-slim's own ``resnet_v2_50`` built in a TF1 graph.

tf-slim 1.1 imports ``tf_keras.legacy_tf_layers``; the tf-keras 2.21 wheel (installed with
``--no-deps``) keeps that module at ``tf_keras.src.legacy_tf_layers``, so it is registered under
the old name before ``import tf_slim``. The slim graph gets random weights (including the BN
moving statistics), they are copied into the Keras model by name through
``src.checkpoints.tf1_names.resnet_weight_map`` and the pooled features are compared.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import tensorflow as tf

from src.checkpoints.tf1_names import assign_from_tf1, resnet_tf1_scope, resnet_weight_map
from src.networks.resnet_v2 import build_resnet_v2_50, preprocess_images


def _import_slim_resnet_v2():
    legacy = importlib.import_module("tf_keras.src.legacy_tf_layers")
    sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    slim = importlib.import_module("tf_slim")
    return slim, importlib.import_module("tf_slim.nets.resnet_v2")


def _slim_features(images: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run slim resnet_v2_50 (inference mode, global pool, no logits) with random weights.

    Returns the (B, 2048) features and the TF1 variables by name.
    """
    slim, resnet_v2 = _import_slim_resnet_v2()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None,) + images.shape[1:])
        with slim.arg_scope(resnet_v2.resnet_arg_scope()):
            net, _ = resnet_v2.resnet_v2_50(
                x, num_classes=None, is_training=False, global_pool=True, scope="resnet_v2_50"
            )
        net = tf.squeeze(net, axis=[1, 2])
        variables = tf.compat.v1.global_variables()
        rng = np.random.default_rng(seed)
        values = {}
        for v in variables:
            name = v.op.name
            shape = v.shape.as_list()
            if name.endswith(("gamma", "moving_variance")):
                values[name] = rng.uniform(0.5, 1.5, shape)
            elif name.endswith(("beta", "moving_mean", "biases")):
                values[name] = rng.normal(0.0, 0.1, shape)
            else:  # LeCun-scaled kernels keep the features O(1) through 16 units
                values[name] = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:-1])), shape)
            values[name] = values[name].astype(np.float32)
        with tf.compat.v1.Session(graph=graph) as sess:
            for v in variables:
                v.load(values[v.op.name], sess)
            feats = sess.run(net, {x: images})
    return feats, values


def _check_parity(img_size: int, batch: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, (batch, img_size, img_size, 3)).astype(np.float32)
    want, values = _slim_features(images, seed)
    model = build_resnet_v2_50(img_size=img_size)
    mappings = resnet_weight_map(model)
    assert sorted(r.tf1_name for r in mappings) == sorted(values)  # 1:1, nothing left over
    assert assign_from_tf1(mappings, values, source="slim graph") == []
    got = model(images, training=False).numpy()
    assert got.shape == (batch, 2048)
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_matches_slim_resnet_v2_50_at_odd_size():
    # 97 px: every 'SAME' pad of the slim stem and of the strided units is asymmetric here
    _check_parity(img_size=97, batch=2, seed=0)


@pytest.mark.slow
def test_matches_slim_resnet_v2_50_at_224():
    _check_parity(img_size=224, batch=2, seed=1)


def test_parameter_count_matches_slim_layout():
    # by hand from §3.2; every BN holds 4 numbers per channel (gamma, beta, moving mean/variance)
    def unit(c_in, base, with_shortcut):
        """(weights and biases of the convs, BN channels) of one bottleneck_v2 unit."""
        out = 4 * base
        convs = (c_in * out + out) if with_shortcut else 0  # 1x1 shortcut conv with bias
        convs += c_in * base + 9 * base * base  # conv1, conv2 without bias (BN follows)
        convs += base * out + out  # conv3 with bias
        return convs, c_in + base + base  # preact, conv1 BN, conv2 BN

    convs, bn_channels = 7 * 7 * 3 * 64 + 64, 0  # root conv with bias, no BN
    c_in = 64
    for base, units in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for k in range(units):
            c, b = unit(c_in, base, with_shortcut=(k == 0))
            convs, bn_channels, c_in = convs + c, bn_channels + b, 4 * base
    bn_channels += 2048  # postnorm
    total = convs + 4 * bn_channels
    assert total == 23_564_800  # also keras.applications.ResNet50V2(include_top=False)
    model = build_resnet_v2_50(img_size=64)
    assert model.count_params() == total
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 2 * bn_channels == 45_440


def test_stem_max_pool_is_tf_same_not_keras_pad_then_valid():
    model = build_resnet_v2_50(img_size=64)
    pool = model.get_layer("pool1")
    assert pool.padding == "same" and pool.pool_size == (3, 3) and pool.strides == (2, 2)
    # on a negative map, SAME ignores the pad; zero-padding + VALID would return 0 at the border
    x = -np.arange(1, 1 + 4 * 4, dtype=np.float32).reshape(1, 4, 4, 1)
    got = pool(x).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(got, [[-1.0, -3.0], [-9.0, -11.0]])
    assert model.get_layer("postnorm").epsilon == 1e-5


def test_preprocess_maps_unit_range_to_minus_one_one():
    np.testing.assert_allclose(
        preprocess_images(np.array([0.0, 0.25, 1.0])).numpy(), [-1.0, -0.5, 1.0]
    )


def test_slim_scope_names():
    assert resnet_tf1_scope("block2_unit_4_conv2_bn") == (
        "resnet_v2_50/block2/unit_4/bottleneck_v2/conv2/BatchNorm"
    )
    assert resnet_tf1_scope("block1_unit_1_shortcut") == (
        "resnet_v2_50/block1/unit_1/bottleneck_v2/shortcut"
    )
    assert resnet_tf1_scope("postnorm") == "resnet_v2_50/postnorm"
    assert resnet_tf1_scope("pool1") is None


def _random_batch_norm(policy: str, channels: int, seed: int):
    from src.networks.resnet_v2 import FusedBatchNormalization

    rng = np.random.default_rng(seed)
    layer = FusedBatchNormalization(epsilon=1e-5, dtype=policy)
    layer.build((None, 5, 7, channels))
    stats = [
        rng.uniform(0.5, 1.5, channels),  # gamma
        rng.normal(0.0, 0.5, channels),  # beta
        rng.normal(0.0, 2.0, channels),  # moving mean
        rng.uniform(0.2, 3.0, channels),  # moving variance
    ]
    layer.set_weights([s.astype(np.float32) for s in stats])
    return layer, stats


@pytest.mark.parametrize("policy, atol", [("float32", 2e-5), ("mixed_bfloat16", 0.05)])
def test_fused_batch_norm_inference_matches_the_formula(policy, atol):
    layer, (gamma, beta, mean, var) = _random_batch_norm(policy, 6, seed=3)
    x = np.random.default_rng(4).normal(1.0, 3.0, (2, 5, 7, 6))
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta  # float64 reference
    got = layer(tf.constant(x, tf.float32), training=False)
    assert got.dtype == layer.compute_dtype
    np.testing.assert_allclose(np.asarray(tf.cast(got, tf.float64)), expected, atol=atol, rtol=0.01)
    # Keras's own implementation of the same layer, same variables: float rounding apart
    keras_form = tf.keras.layers.BatchNormalization.call(layer, tf.constant(x, tf.float32), False)
    np.testing.assert_allclose(
        np.asarray(tf.cast(got, tf.float64)),
        np.asarray(tf.cast(keras_form, tf.float64)),
        atol=atol,
        rtol=0.01,
    )


def test_fused_batch_norm_trains_with_batch_statistics():
    layer, _ = _random_batch_norm("float32", 4, seed=5)
    x = tf.constant(np.random.default_rng(6).normal(3.0, 2.0, (8, 3, 3, 4)), tf.float32)
    y = layer(x, training=True)
    # batch statistics, not the moving ones: per-channel mean beta, std gamma
    gamma, beta = (w.numpy() for w in (layer.gamma, layer.beta))
    np.testing.assert_allclose(tf.reduce_mean(y, axis=(0, 1, 2)), beta, atol=1e-4)
    np.testing.assert_allclose(tf.math.reduce_std(y, axis=(0, 1, 2)), gamma, rtol=1e-3)


def test_bf16_resnet_runs_each_batch_norm_as_one_kernel():
    """Under mixed_bfloat16 every norm is one bf16 FusedBatchNormV3, with no float32 detour.

    Keras's own batch norm casts each bf16 input to float32 and back (98 casts in the ResNet)
    and normalises with separate multiply/add ops, which took half the bf16 ResNet's time
    on a CPU with AMX; the fused form leaves only the input and output casts.
    """
    model = build_resnet_v2_50(64, dtype="mixed_bfloat16")
    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec((1, 64, 64, 3), tf.float32)).graph
    ops = [op for op in graph.get_operations()]
    norms = [op for op in ops if op.type == "FusedBatchNormV3"]
    assert len(norms) == 49  # 16 pre-activations, 32 in the bottlenecks, the post-norm
    assert {op.get_attr("T") for op in norms} == {tf.bfloat16}
    assert not any(op.type == "Rsqrt" for op in ops)
    activation_casts = [
        op for op in ops if op.type == "Cast" and op.inputs[0].op.type != "ReadVariableOp"
    ]
    # the images to bf16 and the last activations to float32 for the pool; not 2 per norm
    assert len(activation_casts) == 2, [op.name for op in activation_casts]
