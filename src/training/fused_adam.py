"""Adam with one fused kernel per variable: ``keras.optimizers.Adam``'s arithmetic in one pass.

Keras 3's Adam updates each variable with about a dozen separate elementwise ops (two moment
updates, the square root, the division, three assignments), each a pass over the variable's
memory; on the 98M encoder weights that was a third of a CPU training step (issue #13).
:class:`FusedAdam` is that optimiser with only the per-variable update replaced: the same
variables (``momentum`` and ``velocity`` slots, ``iteration``), so checkpoints of either restore
into the other, and the same loss scaling, distribution and gradient filtering, which Keras
still does. The update, with Keras' float32 constants (``1 - beta`` rounded from float64):

1. the scalars, by the same TF ops as ``keras.optimizers.Adam.update_step``:
   ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``, t = iterations + 1;
2. one XLA-compiled kernel per variable (compiled once per shape):
   ``m <- m + (g - m)(1 - beta_1)``, ``v <- v + (g^2 - v)(1 - beta_2)``,
   ``w <- w - alpha m / (sqrt(v) + epsilon)`` (epsilon "hat", outside the bias correction, as
   in TF1's ``AdamOptimizer`` and Keras).

TF1's own fused kernel, ``tf.raw_ops.ResourceApplyAdam``, is as fast but forms ``1 - beta`` in
float32 from the float32 beta (``1 - 0.999f = 0.00099998713``, Keras: ``0.0010000000475``), so
every update would differ from today's by 6e-6 relative; the XLA kernel keeps Keras' values.
"""

from __future__ import annotations

import numbers

import keras
import tensorflow as tf


@tf.function(jit_compile=True, autograph=False)
def _adam_kernel(
    variable: tf.Tensor,
    momentum: tf.Tensor,
    velocity: tf.Tensor,
    gradient: tf.Tensor,
    alpha: tf.Tensor,
    one_minus_beta_1: tf.Tensor,
    one_minus_beta_2: tf.Tensor,
    epsilon: tf.Tensor,
) -> None:
    """One Adam update in place; the first three arguments are resource handles of one shape.

    Args:
        variable, momentum, velocity: handles of the weight and its two slots, any shape S.
        gradient: S, the weight's dtype.
        alpha: scalar step size ``lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``.
        one_minus_beta_1, one_minus_beta_2, epsilon: scalars.
    """
    dtype = gradient.dtype
    m = tf.raw_ops.ReadVariableOp(resource=momentum, dtype=dtype)
    m = m + (gradient - m) * one_minus_beta_1
    v = tf.raw_ops.ReadVariableOp(resource=velocity, dtype=dtype)
    v = v + (tf.square(gradient) - v) * one_minus_beta_2
    w = tf.raw_ops.ReadVariableOp(resource=variable, dtype=dtype)
    tf.raw_ops.AssignVariableOp(resource=momentum, value=m)
    tf.raw_ops.AssignVariableOp(resource=velocity, value=v)
    tf.raw_ops.AssignVariableOp(resource=variable, value=w - (m * alpha) / (tf.sqrt(v) + epsilon))


@keras.saving.register_keras_serializable(package="hmmr")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose dense update is one XLA kernel per variable.

    Takes Keras Adam's arguments. Falls back to Keras' own update (same result, unfused) where the
    kernel does not apply: ``amsgrad``, sparse (``IndexedSlices``) gradients, and ``beta_1``,
    ``beta_2`` or ``epsilon`` given as tensors or callables instead of numbers.

    Example:
        >>> opt = FusedAdam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        >>> opt.apply_gradients([(grad, weight)])  # the same new weight as keras Adam's
    """

    def _fusable(self, gradient) -> bool:
        constants = (self.beta_1, self.beta_2, self.epsilon)
        return (
            not self.amsgrad
            and not isinstance(gradient, tf.IndexedSlices)
            and all(isinstance(c, numbers.Real) for c in constants)
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        """Update one weight and its slots; ``variable`` is the backing ``tf.Variable`` (or, under a
        distribution strategy, its component on the current device)."""
        if not self._fusable(gradient):
            super().update_step(gradient, variable, learning_rate)
            return
        if isinstance(variable, keras.Variable):
            variable = variable.value
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        momentum, velocity = self._momentums[index], self._velocities[index]
        # the scalars by the ops (and in the order) of keras.optimizers.Adam.update_step
        lr = tf.cast(learning_rate, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), local_step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        _adam_kernel(
            variable.handle,
            momentum.value.handle,  # the current device's component under a strategy
            velocity.value.handle,
            tf.cast(gradient, dtype),
            alpha,
            tf.constant(1 - self.beta_1, dtype),  # rounded from float64, as Keras does
            tf.constant(1 - self.beta_2, dtype),
            tf.constant(self.epsilon, dtype),
        )
