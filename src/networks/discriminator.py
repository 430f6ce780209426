"""Factorised pose discriminator (original ``PoseDiscriminator``, scope ``D_pose``, §3.9).

Input: rotation matrices of the 23 non-root SMPL joints. A shared per-joint embedding
(9 -> 32 -> 32, ReLU; the original's 1x1 convs) feeds 23 per-joint linear heads and one
all-joint MLP (23 * 32 -> 1024 -> 1024 -> 1). Output (N, 24) = [23 per-joint | all-joint].
There is no shape discriminator in HMMR.

The 23 heads keep one ``Dense(1)`` each (the TF1 names ``pose_out_j{j}`` map to them) but are
applied as one batched product over their stacked kernels (:func:`per_joint_scores`), instead
of 23 small matmuls and their gradients (issue #13).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from src import constants

NUM_DISC_JOINTS = constants.NUM_SMPL_JOINTS - 1  # root orientation excluded
ROTMAT_SIZE = 9
NUM_DISC_OUTPUTS = NUM_DISC_JOINTS + 1


def per_joint_scores(embed: tf.Tensor, kernels: tf.Tensor, biases: tf.Tensor) -> tf.Tensor:
    """One linear head per joint at once: ``scores[n, j] = embed[n, j] . kernels[:, j] + b[j]``.

    Args:
        embed: (N, J, H) per-joint embeddings.
        kernels: (H, J), column j = head j's Dense kernel (H, 1).
        biases: (J,).
    Returns:
        (N, J).
    """
    return tf.einsum("njh,hj->nj", embed, tf.cast(kernels, embed.dtype)) + tf.cast(
        biases, embed.dtype
    )


@keras.saving.register_keras_serializable(package="hmmr")
class PoseDiscriminator(keras.Model):
    """Scores 23 joint rotations, per joint and jointly.

    Args:
        joint_hidden: width of the shared per-joint embedding (32).
        all_hidden: width of the all-joint FC layers (1024).

    Sublayers: ``conv1``, ``conv2`` (Dense on the last axis; TF1 ``D_pose/D_conv{1,2}``),
    ``pose_out`` (list of 23 Dense(1); TF1 ``D_pose/pose_out_j{j}``), ``alljoints_fc1``,
    ``alljoints_fc2``, ``alljoints_out`` (TF1 ``D_pose/D_alljoints_{fc1,fc2,out}``).

    Attributes:
        batched_heads: apply the 23 heads with :func:`per_joint_scores` (default) or by calling
            each Dense layer (the reference); the weights are the same either way.

    Example:
        >>> disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
        >>> scores = disc(tf.eye(3, batch_shape=[4, 23]))  # (4, 24)
    """

    def __init__(self, joint_hidden: int = 32, all_hidden: int = 1024, **kwargs) -> None:
        kwargs.setdefault("name", "pose_discriminator")
        super().__init__(**kwargs)
        self.joint_hidden = joint_hidden
        self.all_hidden = all_hidden
        self.batched_heads = True
        self.conv1 = keras.layers.Dense(joint_hidden, activation="relu", name="conv1")
        self.conv2 = keras.layers.Dense(joint_hidden, activation="relu", name="conv2")
        self.pose_out = [
            keras.layers.Dense(1, name=f"pose_out_j{j}") for j in range(NUM_DISC_JOINTS)
        ]
        self.alljoints_fc1 = keras.layers.Dense(all_hidden, activation="relu", name="alljoints_fc1")
        self.alljoints_fc2 = keras.layers.Dense(all_hidden, activation="relu", name="alljoints_fc2")
        self.alljoints_out = keras.layers.Dense(1, name="alljoints_out")

    @classmethod
    def from_model_config(cls, config, **kwargs) -> PoseDiscriminator:
        """Widths from a :class:`~src.networks.config.ModelConfig`."""
        return cls(config.disc_joint_hidden, config.disc_all_hidden, **kwargs)

    def build(self, input_shape=None) -> None:
        """Args: input_shape (N, 23, 3, 3) or (N, 23, 9)."""
        self.conv1.build((None, NUM_DISC_JOINTS, ROTMAT_SIZE))
        self.conv2.build((None, NUM_DISC_JOINTS, self.joint_hidden))
        for head in self.pose_out:
            head.build((None, self.joint_hidden))
        self.alljoints_fc1.build((None, NUM_DISC_JOINTS * self.joint_hidden))
        self.alljoints_fc2.build((None, self.all_hidden))
        self.alljoints_out.build((None, self.all_hidden))
        self.built = True

    def call(self, rotmats: tf.Tensor) -> tf.Tensor:
        """Args: rotmats (N, 23, 3, 3) or (N, 23, 9), row-major. Returns: scores (N, 24)."""
        if len(rotmats.shape) not in (3, 4) or rotmats.shape[1] != NUM_DISC_JOINTS:
            raise ValueError(
                f"PoseDiscriminator: expected rotmats (N, {NUM_DISC_JOINTS}, 3, 3) or "
                f"(N, {NUM_DISC_JOINTS}, 9) without the root joint, got {rotmats.shape}"
            )
        x = tf.reshape(rotmats, [-1, NUM_DISC_JOINTS, ROTMAT_SIZE])
        embed = self.conv2(self.conv1(x))  # (N, 23, joint_hidden)
        if self.batched_heads:
            kernels = tf.concat([head.kernel for head in self.pose_out], axis=1)  # (hidden, 23)
            biases = tf.concat([head.bias for head in self.pose_out], axis=0)  # (23,)
            per_joint = per_joint_scores(embed, kernels, biases)  # (N, 23)
        else:
            per_joint = tf.concat(
                [head(embed[:, j]) for j, head in enumerate(self.pose_out)], axis=-1
            )  # (N, 23)
        flat = tf.reshape(embed, [-1, NUM_DISC_JOINTS * self.joint_hidden])  # joint-major
        all_joints = self.alljoints_out(self.alljoints_fc2(self.alljoints_fc1(flat)))  # (N, 1)
        return tf.concat([per_joint, all_joints], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], NUM_DISC_OUTPUTS)

    def get_config(self) -> dict:
        return {"name": self.name, "joint_hidden": self.joint_hidden, "all_hidden": self.all_hidden}
