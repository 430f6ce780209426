"""Test helpers: random, well-scaled weights and float64 copies of Keras weights."""

from __future__ import annotations

import keras
import numpy as np


def randomize_weights(layer: keras.layers.Layer, seed: int = 0) -> None:
    """Give every weight of ``layer`` a random, non-trivial value (kernels ~ N(0, 1 / fan_in)).

    gamma / moving_variance land in [0.5, 1.5]; biases, betas and means ~ N(0, 0.1).
    """
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        shape = tuple(w.shape)
        if w.name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2 and w.name != "mean_theta":
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        w.assign(value.astype(np.float32))


def np64(variable) -> np.ndarray:
    return np.asarray(variable.numpy(), np.float64)


def dense_params(layer) -> tuple[np.ndarray, np.ndarray]:
    return np64(layer.kernel), np64(layer.bias)
