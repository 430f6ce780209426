"""Keras layer holding the body-model constants and running :func:`src.smpl.lbs.lbs`."""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from src.smpl import lbs as lbs_ops
from src.smpl.io import load_smpl_params


@keras.saving.register_keras_serializable(package="hmmr")
class SMPL(keras.layers.Layer):
    """The body model (SMPL or the stand-in) as a Keras layer (docs/original_release.md §4.2).

    The model arrays are non-trainable weights, so a saved model carries them; the vertex count
    V and joint count K come from the file.

    Args:
        model_path: a body-model file readable by :func:`src.smpl.load_smpl_params`
            (official ``.pkl``, numpy-only ``.pkl`` or ``.npz``).
        dtype: compute/weight dtype, "float32" (default) or "float64".

    Attributes:
        faces: (F, 3) int32 numpy triangles, for renderers.
        parents: the 24 parent indices of the kinematic tree (root -1).
        num_verts, num_joints: V and K.
        joint_terms: :func:`src.smpl.lbs.joint_space_terms` of the weights (float64 NumPy),
            what the ``joints_only`` pass reads; rebuilt whenever the weights are loaded.
        regressor_support: the vertices the extra regressor reads
            (:func:`src.smpl.lbs.regressor_support`; the full pass gathers only those), or None.

    Call:
        ``smpl(betas, thetas)`` with betas (N, 10) and axis-angle thetas (N, 72) returns a dict:
        ``vertices`` (N, V, 3), ``joints`` (N, K, 3) from the extra regressor (the 25 HMMR
        joints) or the 24 posed skeleton joints when the file has none, ``smpl_joints``
        (N, 24, 3), ``rotmats`` (N, 24, 3, 3). Model space, metres, no global translation.

        ``smpl(betas, thetas, joints_only=True)`` returns the same dict without ``vertices``,
        equal to the full pass up to round-off and far cheaper: no vertex is formed; the model
        is contracted onto its joints once (:func:`src.smpl.lbs.joint_space_terms`), so a body
        costs O(joint-bone pairs) instead of O(V) (:func:`src.smpl.lbs.regressed_joints`).

    Example:
        >>> from src.smpl.standin import default_standin_path
        >>> smpl = SMPL(default_standin_path())
        >>> out = smpl(tf.zeros((2, 10)), tf.zeros((2, 72)))
        >>> out["joints"].shape
        TensorShape([2, 25, 3])
    """

    def __init__(self, model_path: str | os.PathLike, dtype: Any = "float32", **kwargs: Any):
        kwargs.setdefault("trainable", False)
        super().__init__(dtype=dtype, **kwargs)
        self.model_path = str(model_path)
        params = load_smpl_params(self.model_path)
        self.faces = params["f"].astype(np.int32)
        self.parents = tuple(int(p) for p in params["kintree_table"][0])
        self.has_joint_regressor = "joint_regressor" in params
        self.num_verts = int(params["v_template"].shape[0])
        self.v_template = self._constant("v_template", params["v_template"])
        self.shapedirs = self._constant("shapedirs", params["shapedirs"])
        self.posedirs = self._constant("posedirs", params["posedirs"])
        self.j_regressor = self._constant("J_regressor", params["J_regressor"])
        self.lbs_weights = self._constant("weights", params["weights"])
        if self.has_joint_regressor:
            self.joint_regressor = self._constant("joint_regressor", params["joint_regressor"])
            self.num_joints = int(params["joint_regressor"].shape[0])
        else:
            self.joint_regressor = None
            self.num_joints = len(self.parents)
        self._set_joint_terms()
        self.built = True

    def _constant(self, name: str, value: np.ndarray) -> keras.Variable:
        weight = self.add_weight(
            name=name, shape=value.shape, initializer="zeros", trainable=False, autocast=False
        )
        weight.assign(value.astype(self.variable_dtype))
        return weight

    def call(
        self, betas: tf.Tensor, thetas: tf.Tensor, joints_only: bool = False
    ) -> dict[str, tf.Tensor]:
        """betas (N, 10), thetas (N, 72) -> dict of vertices (unless ``joints_only``), joints,
        smpl_joints, rotmats."""
        betas = tf.cast(betas, self.compute_dtype)
        thetas = tf.cast(thetas, self.compute_dtype)
        if joints_only:
            return self._joints_only(betas, thetas)
        weights = [
            tf.cast(w.value, self.compute_dtype)
            for w in (self.v_template, self.shapedirs, self.posedirs, self.j_regressor)
        ]
        vertices, smpl_joints, rotmats = lbs_ops.lbs(
            betas,
            thetas,
            *weights,
            parents=self.parents,
            lbs_weights=tf.cast(self.lbs_weights.value, self.compute_dtype),
        )
        if self.joint_regressor is not None:
            # only the vertices the regressor reads (1603 of 6890 for the stand-in)
            support = self.regressor_support
            regressor = tf.gather(self.joint_regressor.value, support, axis=1)
            joints = lbs_ops.vertices2joints(
                tf.cast(regressor, self.compute_dtype), tf.gather(vertices, support, axis=1)
            )
        else:
            joints = smpl_joints
        return {
            "vertices": vertices,
            "joints": joints,
            "smpl_joints": smpl_joints,
            "rotmats": rotmats,
        }

    def _set_joint_terms(self) -> None:
        """Contract the weights (as stored, so exactly the model of the full pass) onto the
        joints, in float64; once per set of weights."""
        arrays = {w.name: np.asarray(w.numpy(), np.float64) for w in self.non_trainable_weights}
        self.joint_terms = lbs_ops.joint_space_terms(
            arrays["v_template"],
            arrays["shapedirs"],
            arrays["posedirs"],
            arrays["J_regressor"],
            arrays["weights"],
            arrays.get("joint_regressor"),
        )
        self.regressor_support = (
            lbs_ops.regressor_support(arrays["joint_regressor"])
            if self.has_joint_regressor
            else None
        )

    def load_own_variables(self, store: Any) -> None:
        """Load the weights (Keras saving) and rebuild :attr:`joint_terms` from them."""
        super().load_own_variables(store)
        self._set_joint_terms()

    def _joints_only(self, betas: tf.Tensor, thetas: tf.Tensor) -> dict[str, tf.Tensor]:
        """The ``joints_only`` pass; the contracted arrays enter the graph as constants."""
        terms = {
            key: value if key == "pair_bone" else tf.constant(value, self.compute_dtype)
            for key, value in self.joint_terms.items()
        }
        joints, smpl_joints, rotmats = lbs_ops.regressed_joints(betas, thetas, terms, self.parents)
        if self.joint_regressor is None:
            joints = smpl_joints
        return {"joints": joints, "smpl_joints": smpl_joints, "rotmats": rotmats}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"model_path": self.model_path})
        return config
