"""FusedAdam: the update of keras.optimizers.Adam (and of a float64 NumPy Adam with Keras' float32
constants), one kernel per variable, under loss scaling, and checkpoints shared with Keras Adam."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.training.fused_adam import FusedAdam

SHAPES = [(), (3,), (7, 5), (2, 3, 17)]  # a scalar, sizes that are no multiple of a SIMD width
LR, BETA_1, BETA_2, EPSILON = 0.1, 0.9, 0.999, 1e-8
STEPS = 3
RTOL = 1e-6


def _gradients(seed: int = 0) -> list[list[np.ndarray]]:
    """STEPS gradient lists whose magnitudes span 1e-10..1 (where epsilon dominates sqrt(v) and
    where it does not), each element keeping its sign over the steps (the weights then sum
    updates of one sign, so that their relative error is the updates')."""
    rng = np.random.default_rng(seed)
    signs = [rng.choice([-1.0, 1.0], size=s) for s in SHAPES]
    return [
        [
            (sign * np.abs(rng.normal(size=s)) * 10 ** rng.uniform(-10, 0, size=s)).astype(
                np.float32
            )
            for s, sign in zip(SHAPES, signs, strict=True)
        ]
        for _ in range(STEPS)
    ]


def _adam(cls=FusedAdam, **kwargs) -> keras.optimizers.Optimizer:
    return cls(LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON, **kwargs)


def _train(optimizer, gradients, graph: bool = True) -> tuple[list[np.ndarray], ...]:
    """Weights (from zero, so that they are the sums of the updates), momentums and velocities
    after applying ``gradients`` step by step."""
    weights = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
    optimizer.build(weights)

    def step(grads):
        optimizer.apply_gradients(zip(grads, weights, strict=True))

    step = tf.function(step) if graph else step
    for grads in gradients:
        step([tf.constant(g) for g in grads])
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return (
        [w.numpy() for w in weights],
        [m.numpy() for m in inner._momentums],
        [v.numpy() for v in inner._velocities],
    )


def _assert_close(got, want, rtol=RTOL):
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


def numpy_adam(gradients, epsilon=EPSILON, tf1_constants=False) -> list[np.ndarray]:
    """Adam in float64 with the float32 values Keras uses: ``1 - beta`` rounded from float64 and
    the bias-correction powers of the float32 betas (``tf1_constants``: ``1 - beta`` formed from
    the float32 betas, as TF1's ApplyAdam kernel does)."""
    b1, b2 = np.float32(BETA_1), np.float32(BETA_2)
    c1, c2 = (1.0 - float(b1), 1.0 - float(b2)) if tf1_constants else (1 - BETA_1, 1 - BETA_2)
    c1, c2 = float(np.float32(c1)), float(np.float32(c2))
    w = [np.zeros(s) for s in SHAPES]
    m = [np.zeros(s) for s in SHAPES]
    v = [np.zeros(s) for s in SHAPES]
    for t, grads in enumerate(gradients, start=1):
        b1_power, b2_power = float(b1 ** np.float32(t)), float(b2 ** np.float32(t))
        alpha = LR * np.sqrt(1 - b2_power) / (1 - b1_power)
        for i, g in enumerate(grads):
            g = g.astype(np.float64)
            m[i] = m[i] + (g - m[i]) * c1
            v[i] = v[i] + (g * g - v[i]) * c2
            w[i] = w[i] - alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return w


@pytest.mark.parametrize("graph", [True, False], ids=["tf.function", "eager"])
def test_fused_adam_gives_keras_adams_weights_and_moments_after_three_steps(graph):
    gradients = _gradients()
    want = _train(_adam(keras.optimizers.Adam), gradients)
    got = _train(_adam(), gradients, graph=graph)
    for name, g, w in zip(("weights", "momentums", "velocities"), got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, err_msg=name)


def test_fused_adam_matches_a_float64_numpy_adam_that_the_check_can_tell_apart():
    gradients = _gradients(1)
    got, _, _ = _train(_adam(), gradients)
    _assert_close(got, numpy_adam(gradients))
    # the fixture is sensitive: epsilon 1e-7 (Keras' default) and TF1's float32 1 - beta each
    # move the result by more than the tolerance
    for wrong in (numpy_adam(gradients, epsilon=1e-7), numpy_adam(gradients, tf1_constants=True)):
        worst = max(
            float(np.max(np.abs(a - b) / np.abs(b))) for a, b in zip(got, wrong, strict=True)
        )
        assert worst > 4 * RTOL


def _op_types(optimizer, weights, grads) -> list[str]:
    optimizer.build(weights)
    fn = tf.function(lambda: optimizer.apply_gradients(zip(grads, weights, strict=True)))
    return [op.type for op in fn.get_concrete_function().graph.get_operations()]


def test_fused_adam_updates_each_variable_with_one_kernel_call():
    weights = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
    grads = [tf.ones(s) for s in SHAPES]
    fused = _op_types(_adam(), weights, grads)
    assert fused.count("StatefulPartitionedCall") == len(SHAPES)
    # no separate assignments: the kernels update the weights and moments; the iteration
    # counter is the one assignment left
    assert "AssignSubVariableOp" not in fused and "AssignAddVariableOp" not in fused
    assert fused.count("AssignVariableOp") == 1
    # Keras' own update (and the amsgrad fallback) assigns with separate ops
    keras_ops = _op_types(_adam(keras.optimizers.Adam), weights, grads)
    assert keras_ops.count("AssignSubVariableOp") == len(SHAPES)
    amsgrad = _op_types(_adam(amsgrad=True), weights, grads)
    assert amsgrad.count("AssignSubVariableOp") == len(SHAPES)


def test_amsgrad_falls_back_to_keras_adams_update():
    gradients = _gradients(2)
    want = _train(_adam(keras.optimizers.Adam, amsgrad=True), gradients)
    got = _train(_adam(amsgrad=True), gradients)
    for g, w in zip(got, want, strict=True):
        _assert_close(g, w, rtol=0)


def test_loss_scaled_fused_adam_skips_overflowing_steps_like_keras():
    gradients = _gradients(3)
    overflow = [np.full(s, np.inf, np.float32) for s in SHAPES]  # skipped, the scale halved
    scales = [2.0**4, 2.0**3, 2.0**3]
    scaled = [[g * scale for g in grads] for grads, scale in zip(gradients, scales, strict=True)]
    scaled.insert(1, overflow)
    results = []
    for cls in (keras.optimizers.Adam, FusedAdam):
        optimizer = keras.optimizers.LossScaleOptimizer(_adam(cls), initial_scale=scales[0])
        results.append(_train(optimizer, scaled))
        assert float(optimizer.dynamic_scale.numpy()) == 2.0**3
        assert int(optimizer.iterations.numpy()) == STEPS
    want, got = results
    for g, w in zip(got, want, strict=True):
        _assert_close(g, w)
    _assert_close(got[0], numpy_adam(gradients))


def test_keras_adam_checkpoints_restore_into_fused_adam(tmp_path):
    from src.training.checkpointing import optimizer_variables

    gradients = _gradients(4)
    weights = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
    source = _adam(keras.optimizers.Adam, name="e_adam")
    source.build(weights)
    for grads in gradients[:2]:
        source.apply_gradients(zip(grads, weights, strict=True))
    prefix = tf.train.Checkpoint(opt=optimizer_variables(source)).write(str(tmp_path / "c"))
    target = _adam(name="e_adam")
    target.build(weights)
    assert optimizer_variables(target).keys() == optimizer_variables(source).keys()
    tf.train.Checkpoint(opt=optimizer_variables(target)).read(prefix).assert_consumed()
    assert int(target.iterations.numpy()) == 2
    saved = [w.numpy() for w in weights]
    source.apply_gradients(zip(gradients[2], weights, strict=True))
    want = [w.numpy() for w in weights]
    for w, value in zip(weights, saved, strict=True):
        w.assign(value)
    target.apply_gradients(zip(gradients[2], weights, strict=True))
    _assert_close([w.numpy() for w in weights], want)
