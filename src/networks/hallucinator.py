"""Hallucinator h (original ``fc2_res``, docs/original_release.md §3.4).

Maps a single frame's static feature phi_t to a guess of its movie strip Phi_t:
FC(ReLU) -> FC(ReLU) -> FC(linear, near-zero init) -> + phi_t, applied frame-wise.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from src import constants

LAST_FC_INIT_SCALE = 0.001


@keras.saving.register_keras_serializable(package="hmmr")
class Hallucinator(keras.layers.Layer):
    """Residual 3-layer MLP on the last axis.

    Args:
        phi_dim: feature width D (input and output).
        hidden: width of the two hidden layers (2048 in the original).

    Sublayers: ``fc1``, ``fc2``, ``fc3`` (TF1 ``fc2_res/fc{1,2,3}``).

    Example:
        >>> hal = Hallucinator(phi_dim=64, hidden=32)
        >>> movie_strip_hal = hal(tf.zeros((2, 20, 64)))  # (2, 20, 64)
    """

    def __init__(
        self, phi_dim: int = constants.PHI_DIM, hidden: int = constants.PHI_DIM, **kwargs
    ) -> None:
        kwargs.setdefault("name", "hallucinator")
        super().__init__(**kwargs)
        self.phi_dim = phi_dim
        self.hidden = hidden
        self.fc1 = keras.layers.Dense(hidden, activation="relu", name="fc1")
        self.fc2 = keras.layers.Dense(hidden, activation="relu", name="fc2")
        self.fc3 = keras.layers.Dense(
            phi_dim,
            kernel_initializer=keras.initializers.VarianceScaling(
                LAST_FC_INIT_SCALE, mode="fan_avg", distribution="uniform"
            ),
            name="fc3",
        )

    def build(self, input_shape) -> None:
        """Args: input_shape (..., D)."""
        self.fc1.build((None, self.phi_dim))
        self.fc2.build((None, self.hidden))
        self.fc3.build((None, self.hidden))
        self.built = True

    def call(self, phi: tf.Tensor) -> tf.Tensor:
        """Args: phi (..., D), e.g. (B, T, D). Returns: hallucinated movie strip (..., D)."""
        return phi + self.fc3(self.fc2(self.fc1(phi)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(phi_dim=self.phi_dim, hidden=self.hidden)
        return config
