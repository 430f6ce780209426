"""3D regressor with iterative error feedback (original ``encoder_fc3_dropout``, §3.5, §3.7).

One MLP ("3D_module"), shared across the IEF iterations:
``theta <- theta + fc3(drop(relu(fc2(drop(relu(fc1([feature, theta])))))))``.
The present-frame regressor starts from a learned ``mean_theta`` (1, 85); the delta regressors
(:mod:`src.networks.delta_predictor`) reuse this layer with 72 outputs and an explicit start.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import keras
import numpy as np
import tensorflow as tf

from src import constants, paths

LAST_FC_INIT_SCALE = 0.01
INITIAL_CAMERA = (0.9, 0.0, 0.0)  # [s, tx, ty]
INITIAL_ROOT_ORIENT = (math.pi, 0.0, 0.0)  # 180 deg about x: SMPL y-up -> image y-down
MEAN_PARAMS_FILENAME = paths.MEAN_PARAMS_FILENAME


def read_mean_params(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the mean SMPL pose (72,) and shape (10,) from ``neutral_smpl_meanwjoints.h5``.

    Raises:
        FileNotFoundError / ValueError naming ``path`` and the expected keys/sizes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: mean-parameter file not found (expected {MEAN_PARAMS_FILENAME})"
        )
    try:
        with h5py.File(path, "r") as f:
            values = {
                key: np.asarray(f[key][()], np.float64).reshape(-1) for key in ("pose", "shape")
            }
    except (OSError, KeyError) as err:
        raise ValueError(
            f"{path}: expected an HDF5 file with datasets 'pose' and 'shape' ({err})"
        ) from err
    for key, size in (("pose", constants.NUM_POSE), ("shape", constants.NUM_SHAPE)):
        if values[key].size != size:
            raise ValueError(f"{path}: '{key}' has {values[key].size} values, expected {size}")
    return values["pose"], values["shape"]


def initial_mean_theta(
    mean_pose72: np.ndarray | str | os.PathLike | None = None,
    mean_shape10: np.ndarray | None = None,
) -> np.ndarray:
    """The IEF starting point of §3.7: [0.9, 0, 0 | pi, 0, 0, mean body pose (69) | mean betas].

    Args:
        mean_pose72: (72,) mean SMPL pose (its root 3 are replaced by [pi, 0, 0]), or a path to
            ``neutral_smpl_meanwjoints.h5`` (then ``mean_shape10`` must be None), or None (zeros).
        mean_shape10: (10,) mean betas, or None (zeros).
    Returns:
        (1, 85) float32.
    """
    if isinstance(mean_pose72, (str, os.PathLike)):
        if mean_shape10 is not None:
            raise ValueError("initial_mean_theta: give either a file path or arrays, not both")
        mean_pose72, mean_shape10 = read_mean_params(mean_pose72)
    pose = (
        np.zeros(constants.NUM_POSE) if mean_pose72 is None else np.asarray(mean_pose72, np.float64)
    )
    shape = (
        np.zeros(constants.NUM_SHAPE)
        if mean_shape10 is None
        else np.asarray(mean_shape10, np.float64)
    )
    if pose.size != constants.NUM_POSE or shape.size != constants.NUM_SHAPE:
        raise ValueError(
            f"initial_mean_theta: expected pose ({constants.NUM_POSE},) and shape "
            f"({constants.NUM_SHAPE},), got {pose.shape} and {shape.shape}"
        )
    pose = pose.reshape(-1).copy()
    pose[:3] = INITIAL_ROOT_ORIENT
    theta = np.concatenate([INITIAL_CAMERA, pose, shape.reshape(-1)])
    return theta[None].astype(np.float32)


@keras.saving.register_keras_serializable(package="hmmr")
class IEFRegressor(keras.layers.Layer):
    """Iterative regressor: feature (N, D) and a start (N, K) -> refined (N, K).

    Args:
        feature_dim: width D of the input feature.
        output_dim: K, 85 (present theta) or 72 (delta pose).
        hidden: width of fc1 and fc2 (1024).
        num_stages: IEF iterations; the MLP weights are shared by all of them.
        dropout_rate: dropout after fc1 and fc2, active only when ``training=True``.
        learn_mean: hold a trainable ``mean_theta`` (1, K) used when no start is given.

    Sublayers: ``fc1``, ``fc2``, ``fc3`` (TF1 ``<scope>/3D_module/fc{1,2,3}``); weight
    ``mean_theta`` (TF1 ``mean_param``).

    Example:
        >>> ief = IEFRegressor(feature_dim=64, hidden=32)
        >>> theta = ief(tf.zeros((6, 64)))  # (6, 85), from mean_theta
    """

    def __init__(
        self,
        feature_dim: int = constants.PHI_DIM,
        output_dim: int = constants.THETA_DIM,
        hidden: int = 1024,
        num_stages: int = constants.NUM_IEF_STAGES,
        dropout_rate: float = 0.5,
        learn_mean: bool = True,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", "ief_regressor")
        super().__init__(**kwargs)
        self.feature_dim = feature_dim
        self.output_dim = output_dim
        self.hidden = hidden
        self.num_stages = num_stages
        self.dropout_rate = dropout_rate
        self.learn_mean = learn_mean
        self.fc1 = keras.layers.Dense(hidden, activation="relu", name="fc1")
        self.drop1 = keras.layers.Dropout(dropout_rate, name="dropout1")
        self.fc2 = keras.layers.Dense(hidden, activation="relu", name="fc2")
        self.drop2 = keras.layers.Dropout(dropout_rate, name="dropout2")
        self.fc3 = keras.layers.Dense(
            output_dim,
            kernel_initializer=keras.initializers.VarianceScaling(
                LAST_FC_INIT_SCALE, mode="fan_avg", distribution="uniform"
            ),
            name="fc3",
        )
        self.mean_theta = None

    @classmethod
    def present_from_config(cls, config, **kwargs) -> IEFRegressor:
        """The present-frame regressor (85 outputs, learned mean theta) of a
        :class:`~src.networks.config.ModelConfig`."""
        kwargs.setdefault("name", "ief_regressor")
        return cls(
            feature_dim=config.phi_dim,
            output_dim=constants.THETA_DIM,
            hidden=config.ief_hidden,
            num_stages=config.num_ief_stages,
            dropout_rate=config.dropout_rate,
            learn_mean=True,
            **kwargs,
        )

    def build(self, input_shape=None) -> None:
        """Args: input_shape (N, D) of the feature."""
        self.fc1.build((None, self.feature_dim + self.output_dim))
        self.fc2.build((None, self.hidden))
        self.fc3.build((None, self.hidden))
        if self.learn_mean:
            if self.output_dim != constants.THETA_DIM:
                raise ValueError(f"IEFRegressor: learn_mean needs output_dim {constants.THETA_DIM}")
            self.mean_theta = self.add_weight(
                shape=(1, self.output_dim),
                initializer=keras.initializers.Constant(initial_mean_theta()),
                trainable=True,
                name="mean_theta",
            )
        self.built = True

    def set_mean_theta(self, values: np.ndarray) -> None:
        """Overwrite ``mean_theta`` with (1, 85) or (85,) values (``initial_mean_theta(path)``)."""
        if not self.built:
            self.build()
        self.mean_theta.assign(np.asarray(values, np.float32).reshape(1, self.output_dim))

    def call(
        self, features: tf.Tensor, theta_start: tf.Tensor | None = None, training: bool = False
    ) -> tf.Tensor:
        """Run the IEF iterations.

        Args:
            features: (N, D).
            theta_start: (N, K) start, or None to tile ``mean_theta``.
            training: enables dropout.
        Returns:
            (N, K) final estimate (only the last iteration is returned, as in the original).
        """
        if theta_start is None:
            if self.mean_theta is None:
                raise ValueError("IEFRegressor: theta_start is required when learn_mean=False")
            theta_start = tf.tile(
                tf.cast(self.mean_theta, features.dtype), [tf.shape(features)[0], 1]
            )
        theta = theta_start
        for _ in range(self.num_stages):
            x = tf.concat([features, theta], axis=-1)
            x = self.drop1(self.fc1(x), training=training)
            x = self.drop2(self.fc2(x), training=training)
            theta = theta + self.fc3(x)
        return theta

    def compute_output_shape(self, features_shape, theta_start_shape=None):
        return (features_shape[0], self.output_dim)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            feature_dim=self.feature_dim,
            output_dim=self.output_dim,
            hidden=self.hidden,
            num_stages=self.num_stages,
            dropout_rate=self.dropout_rate,
            learn_mean=self.learn_mean,
        )
        return config
