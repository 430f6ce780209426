"""The HMMR model: temporal encoder, hallucinator and the shared regressors
(docs/original_release.md §3.1).

Three uses:
- training / inference on precomputed phi sequences: ``model(phi (B, T, D), training=...)``;
- the same with the hallucinator branch: ``model(phi, hallucinate=True)``;
- a single image: ``model.predict_single(phi (N, D))`` (hallucinator -> past/present/future).

The ResNet image encoder (:func:`src.networks.resnet_v2.build_resnet_v2_50`) and the
discriminator (:class:`src.networks.discriminator.PoseDiscriminator`) are separate models.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from src import constants
from src.networks.config import ModelConfig
from src.networks.delta_predictor import DeltaPredictor
from src.networks.hallucinator import Hallucinator
from src.networks.ief_regressor import IEFRegressor
from src.networks.temporal_encoder import TemporalEncoder


@keras.saving.register_keras_serializable(package="hmmr")
class HMMR(keras.Model):
    """Movie strip -> present theta and past/future thetas, with an optional hallucinated twin.

    Args:
        config: :class:`ModelConfig` (a dict is accepted too, as from ``get_config``).

    Attributes:
        temporal_encoder: :class:`TemporalEncoder` f_movie.
        hallucinator: :class:`Hallucinator` h.
        ief_regressor: present-frame :class:`IEFRegressor` (85 outputs, holds ``mean_theta``).
        delta_predictors: list of :class:`DeltaPredictor`, in sorted ``delta_t_values`` order.

    ``call`` returns a dict:
        ``movie_strip`` (B, T, D), ``theta`` (B, T, 85),
        ``theta_delta`` (B, T, len(dt), 85) with index i <-> ``config.delta_t_values[i]``
        (default 0 = past -5, 1 = future +5); with ``hallucinate=True`` also
        ``movie_strip_hal``, ``theta_hal``, ``theta_hal_delta`` of the same shapes.

    Example:
        >>> model = HMMR(ModelConfig(phi_dim=64, gn_groups=8))
        >>> out = model(tf.zeros((2, 20, 64)))
        >>> out["theta"].shape, out["theta_delta"].shape
        (TensorShape([2, 20, 85]), TensorShape([2, 20, 2, 85]))
    """

    def __init__(self, config: ModelConfig | dict | None = None, **kwargs) -> None:
        kwargs.setdefault("name", "hmmr")
        super().__init__(**kwargs)
        if config is None:
            config = ModelConfig()
        elif isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        self.config = config
        self.temporal_encoder = TemporalEncoder(
            phi_dim=config.phi_dim,
            num_conv_layers=config.num_conv_layers,
            gn_groups=config.gn_groups,
            gn_epsilon=config.gn_epsilon,
            conv_kernel=config.conv_kernel,
            name="temporal_encoder",
        )
        self.hallucinator = Hallucinator(
            phi_dim=config.phi_dim, hidden=config.hallucinator_hidden, name="hallucinator"
        )
        self.ief_regressor = IEFRegressor.present_from_config(config)
        self.delta_predictors = [
            DeltaPredictor(
                dt,
                feature_dim=config.phi_dim,
                hidden=config.ief_hidden,
                num_stages=config.num_ief_stages,
                dropout_rate=config.dropout_rate,
            )
            for dt in config.delta_t_values
        ]

    def build(self, input_shape=None) -> None:
        """Create every weight. Args: input_shape (B, T, D) (only D is used)."""
        shape = (None, None, self.config.phi_dim)
        self.temporal_encoder.build(shape)
        self.hallucinator.build(shape)
        self.ief_regressor.build((None, self.config.phi_dim))
        for predictor in self.delta_predictors:
            predictor.build((None, self.config.phi_dim))
        self.built = True

    def regress(self, features: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Present and delta regressors on frame features (shared by both branches).

        Args:
            features: (N, D) movie strip (real or hallucinated) per frame.
        Returns:
            theta (N, 85), theta_delta (N, len(dt), 85).
        """
        theta = self.ief_regressor(features, training=training)
        deltas = [p(features, theta, training=training) for p in self.delta_predictors]
        if not deltas:
            theta_delta = tf.zeros([tf.shape(theta)[0], 0, constants.THETA_DIM], theta.dtype)
        else:
            theta_delta = tf.stack(deltas, axis=1)
        return theta, theta_delta

    def _regress_sequence(self, strip: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """(B, T, D) -> theta (B, T, 85), theta_delta (B, T, len(dt), 85)."""
        batch, steps = tf.shape(strip)[0], tf.shape(strip)[1]
        theta, theta_delta = self.regress(tf.reshape(strip, [-1, self.config.phi_dim]), training)
        theta = tf.reshape(theta, [batch, steps, constants.THETA_DIM])
        num_dt = len(self.delta_predictors)
        theta_delta = tf.reshape(theta_delta, [batch, steps, num_dt, constants.THETA_DIM])
        return theta, theta_delta

    def call(
        self, phi: tf.Tensor, training: bool = False, hallucinate: bool = False
    ) -> dict[str, tf.Tensor]:
        """Args:
            phi: (B, T, D) per-frame features of a track.
            training: enables the regressors' dropout.
            hallucinate: also run the hallucinator branch on the same phi.
        Returns:
            dict, see the class docstring.
        """
        if len(phi.shape) != 3 or phi.shape[-1] != self.config.phi_dim:
            raise ValueError(
                f"HMMR: expected phi (B, T, {self.config.phi_dim}), got {tuple(phi.shape)}"
            )
        movie_strip = self.temporal_encoder(phi)
        theta, theta_delta = self._regress_sequence(movie_strip, training)
        out = {"movie_strip": movie_strip, "theta": theta, "theta_delta": theta_delta}
        if hallucinate:
            movie_strip_hal = self.hallucinator(phi)
            theta_hal, theta_hal_delta = self._regress_sequence(movie_strip_hal, training)
            out.update(
                movie_strip_hal=movie_strip_hal,
                theta_hal=theta_hal,
                theta_hal_delta=theta_hal_delta,
            )
        return out

    def predict_single(self, phi: tf.Tensor) -> dict[str, tf.Tensor]:
        """Single-image inference through the hallucinator (no temporal context).

        Args:
            phi: (N, D) features of N independent images.
        Returns:
            ``movie_strip_hal`` (N, D), ``theta`` (N, 85) present,
            ``theta_delta`` (N, len(dt), 85) past/future in sorted dt order.
        """
        phi = tf.convert_to_tensor(phi, tf.float32)
        if len(phi.shape) != 2 or phi.shape[-1] != self.config.phi_dim:
            raise ValueError(
                f"HMMR.predict_single: expected phi (N, {self.config.phi_dim}), "
                f"got {tuple(phi.shape)}"
            )
        if not self.built:
            self.build()
        movie_strip_hal = self.hallucinator(phi)
        theta, theta_delta = self.regress(movie_strip_hal, training=False)
        return {"movie_strip_hal": movie_strip_hal, "theta": theta, "theta_delta": theta_delta}

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> HMMR:
        config = dict(config)
        return cls(config=ModelConfig.from_dict(config.pop("config")), **config)
