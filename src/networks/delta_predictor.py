"""Past/future ("delta") regressor for one frame offset dt (docs/original_release.md §3.6).

An IEF with its own weights and 72 outputs, started from the present prediction's pose; the
result is assembled into an 85-D theta ``[1, 0, 0 | pose at t + dt | present shape]`` (the
camera is a placeholder: training fits an optimal camera, inference uses the present camera).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from src import constants
from src.networks.ief_regressor import IEFRegressor

PLACEHOLDER_CAMERA = (1.0, 0.0, 0.0)


def delta_scope_name(delta_t: int) -> str:
    """Original scope suffix: -5 -> ``past5``, +5 -> ``future5``."""
    if delta_t == 0:
        raise ValueError("delta_scope_name: dt must be non-zero")
    return f"past{-delta_t}" if delta_t < 0 else f"future{delta_t}"


@keras.saving.register_keras_serializable(package="hmmr")
class DeltaPredictor(keras.layers.Layer):
    """Predict theta at t + dt from the movie strip at t and the present theta.

    Args:
        delta_t: frame offset (non-zero), e.g. -5 or 5.
        feature_dim: movie-strip width D.
        hidden: IEF hidden width.
        num_stages: IEF iterations.
        dropout_rate: IEF dropout (training only).

    Sublayer: ``ief`` (an :class:`IEFRegressor` with 72 outputs and no mean), TF1 scope
    ``single_view_ief_{past5|future5}/3D_module``.

    Example:
        >>> past = DeltaPredictor(-5, feature_dim=64, hidden=32)
        >>> theta_past = past(tf.zeros((6, 64)), theta_present)  # (6, 85)
    """

    def __init__(
        self,
        delta_t: int,
        feature_dim: int = constants.PHI_DIM,
        hidden: int = 1024,
        num_stages: int = constants.NUM_IEF_STAGES,
        dropout_rate: float = 0.5,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", f"delta_predictor_{delta_scope_name(int(delta_t))}")
        super().__init__(**kwargs)
        self.delta_t = int(delta_t)
        self.feature_dim = feature_dim
        self.hidden = hidden
        self.num_stages = num_stages
        self.dropout_rate = dropout_rate
        self.ief = IEFRegressor(
            feature_dim=feature_dim,
            output_dim=constants.NUM_POSE,
            hidden=hidden,
            num_stages=num_stages,
            dropout_rate=dropout_rate,
            learn_mean=False,
            name="ief",
        )

    def build(self, features_shape=None, theta_present_shape=None) -> None:
        """Args: features_shape (N, D), theta_present_shape (N, 85)."""
        self.ief.build((None, self.feature_dim))
        self.built = True

    def call(
        self, features: tf.Tensor, theta_present: tf.Tensor, training: bool = False
    ) -> tf.Tensor:
        """Args:
            features: (N, D) movie strip (or hallucinated strip) at t.
            theta_present: (N, 85) present prediction at t (gradient flows into it).
            training: enables dropout.
        Returns:
            (N, 85) = [1, 0, 0 | pose at t + dt (72) | theta_present shape (10)].
        """
        pose = self.ief(features, theta_present[:, constants.POSE_SLICE], training=training)
        camera = tf.broadcast_to(
            tf.constant(PLACEHOLDER_CAMERA, features.dtype), [tf.shape(pose)[0], constants.NUM_CAM]
        )
        return tf.concat([camera, pose, theta_present[:, constants.SHAPE_SLICE]], axis=-1)

    def compute_output_shape(self, features_shape, theta_present_shape=None):
        return (features_shape[0], constants.THETA_DIM)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            delta_t=self.delta_t,
            feature_dim=self.feature_dim,
            hidden=self.hidden,
            num_stages=self.num_stages,
            dropout_rate=self.dropout_rate,
        )
        return config
