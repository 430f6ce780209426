"""TF1-format checkpoints with the original names (docs/original_release.md §3.10), built the TF1
way.

Variables are created with ``tf.compat.v1.get_variable`` inside ``variable_scope``s in a TF1 graph,
optionally trained one step by two Adam optimisers sharing ``global_step`` (as the original
trainer: encoder and ``D_pose``), and saved with ``tf.compat.v1.train.Saver`` as
``<dir>/<name>-<step>`` plus the ``checkpoint`` pointer file.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

THETA = 85
POSE = 72
DISC_JOINTS = 23
SMPL_CONSTANT_SHAPES = {  # reduced sizes: only the names matter to the converter
    "v_template": (12, 3),
    "shapedirs": (10, 36),
    "J_regressor": (12, 24),
    "posedirs": (207, 36),
    "lbs_weights": (12, 24),
    "cocoplus_regressor": (12, 25),
}


def hmmr_tf1_shapes(
    phi_dim: int,
    ief_hidden: int,
    hal_hidden: int,
    num_blocks: int = 3,
    delta_scopes: tuple[str, ...] = ("past5", "future5"),
    disc: tuple[int, int] | None = (32, 1024),
) -> dict[str, tuple[int, ...]]:
    """The §3.10 table of ``hmmr_model.ckpt-*`` written out by hand (D = phi_dim)."""
    d = phi_dim
    shapes: dict[str, tuple[int, ...]] = {"mean_param": (1, THETA)}
    for i in range(num_blocks):
        for gn in ("gn1", "gn2"):
            for w in ("gamma", "beta"):
                shapes[f"AZ_FC_block_preact_{gn}block_{i}/{w}"] = (d,)
        for conv in ("conv1", "conv2"):
            shapes[f"AZ_FC_block2_{conv}block_{i}/weights"] = (3, 1, d, d)
            shapes[f"AZ_FC_block2_{conv}block_{i}/biases"] = (d,)
    for n, (a, b) in enumerate(((d, hal_hidden), (hal_hidden, hal_hidden), (hal_hidden, d)), 1):
        shapes[f"fc2_res/fc{n}/weights"], shapes[f"fc2_res/fc{n}/biases"] = (a, b), (b,)
    scopes = [("single_view_ief", THETA)] + [(f"single_view_ief_{s}", POSE) for s in delta_scopes]
    for scope, k in scopes:
        for n, (a, b) in enumerate(
            ((d + k, ief_hidden), (ief_hidden, ief_hidden), (ief_hidden, k)), 1
        ):
            shapes[f"{scope}/3D_module/fc{n}/weights"] = (a, b)
            shapes[f"{scope}/3D_module/fc{n}/biases"] = (b,)
    if disc is not None:
        shapes.update(disc_tf1_shapes("D_pose", *disc))
    return shapes


def disc_tf1_shapes(scope: str, joint_hidden: int, all_hidden: int) -> dict[str, tuple[int, ...]]:
    """``D_pose`` (or HMR's ``D`` pose part) names and shapes."""
    j, a = joint_hidden, all_hidden
    shapes = {
        f"{scope}/D_conv1/weights": (1, 1, 9, j),
        f"{scope}/D_conv1/biases": (j,),
        f"{scope}/D_conv2/weights": (1, 1, j, j),
        f"{scope}/D_conv2/biases": (j,),
        f"{scope}/D_alljoints_fc1/weights": (DISC_JOINTS * j, a),
        f"{scope}/D_alljoints_fc1/biases": (a,),
        f"{scope}/D_alljoints_fc2/weights": (a, a),
        f"{scope}/D_alljoints_fc2/biases": (a,),
        f"{scope}/D_alljoints_out/weights": (a, 1),
        f"{scope}/D_alljoints_out/biases": (1,),
    }
    for k in range(DISC_JOINTS):
        shapes[f"{scope}/pose_out_j{k}/weights"] = (j, 1)
        shapes[f"{scope}/pose_out_j{k}/biases"] = (1,)
    return shapes


def hmr_head_shapes(phi_dim: int, ief_hidden: int) -> dict[str, tuple[int, ...]]:
    """HMR's bare ``3D_module`` regressor, ``mean_param`` and a (reduced) ``D`` discriminator."""
    shapes: dict[str, tuple[int, ...]] = {"mean_param": (1, THETA)}
    dims = ((phi_dim + THETA, ief_hidden), (ief_hidden, ief_hidden), (ief_hidden, THETA))
    for n, (a, b) in enumerate(dims, 1):
        shapes[f"3D_module/fc{n}/weights"], shapes[f"3D_module/fc{n}/biases"] = (a, b), (b,)
    shapes.update(disc_tf1_shapes("D", 4, 8))
    shapes.update({"D/shape_fc1/fc1/weights": (10, 5), "D/shape_final/weights": (5, 1)})
    return shapes


def random_values(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """O(1) activations: LeCun-scaled kernels, small biases, gammas / variances near 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("beta", "moving_mean", "biases"):
            value = rng.normal(0.0, 0.1, shape)
        elif name == "mean_param":
            value = rng.normal(0.0, 0.5, shape)
        elif len(shape) > 1:
            value = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0.0, 1.0, shape)
        out[name] = value.astype(np.float32)
    return out


def create_variables(values: dict[str, np.ndarray], trainable: bool = True) -> list:
    """``get_variable`` per name inside its ``variable_scope`` (call inside a TF1 graph)."""
    variables = []
    for name, value in values.items():
        scope, _, leaf = name.rpartition("/")
        with tf.compat.v1.variable_scope(scope) if scope else contextlib.nullcontext():
            variables.append(
                tf.compat.v1.get_variable(
                    leaf,
                    shape=value.shape,
                    dtype=tf.as_dtype(value.dtype),
                    initializer=tf.compat.v1.zeros_initializer(),
                    trainable=trainable,
                )
            )
    return variables


def _add_two_adam_optimisers(trainable: list) -> None:
    """Encoder Adam over non-``D_`` variables and discriminator Adam over ``D_pose``, both
    stepping ``global_step`` (slots ``<var>/Adam``, ``<var>/Adam_1``; powers ``beta1_power``,
    ``beta1_power_1`` ...)."""
    step = tf.compat.v1.train.get_or_create_global_step()
    disc = [v for v in trainable if v.op.name.startswith("D_")]
    enc = [v for v in trainable if not v.op.name.startswith("D_")]
    for var_list, lr in ((enc, 1e-5), (disc, 1e-4)):
        if var_list:
            loss = tf.add_n([tf.reduce_sum(tf.square(v)) for v in var_list])
            tf.compat.v1.train.AdamOptimizer(lr).minimize(loss, step, var_list=var_list)


def write_tf1_checkpoint(
    folder: Path,
    name: str,
    values: dict[str, np.ndarray],
    step: int,
    with_adam: bool = True,
    smpl_constants: bool = True,
    graph_builder=None,
) -> str:
    """Save ``values`` (TF1 name -> array) as a TF1 checkpoint ``folder/name-step``.

    Args:
        graph_builder: optional ``fn() -> (variables, values, extra)`` run first inside the same
            graph (e.g. slim's ResNet); its variables are saved too and ``extra`` returned.
    Returns:
        (prefix, extra).
    """
    graph = tf.Graph()
    extra = None
    with graph.as_default():
        loaded = []
        if graph_builder is not None:
            built_vars, built_values, extra = graph_builder()
            loaded += [(v, built_values[v.op.name]) for v in built_vars]
        created = create_variables(values)
        loaded += list(zip(created, values.values(), strict=True))
        if smpl_constants:
            consts = {n: np.ones(s, np.float32) for n, s in SMPL_CONSTANT_SHAPES.items()}
            create_variables(consts, trainable=False)
        if with_adam:
            _add_two_adam_optimisers(created)
        else:
            tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for variable, value in loaded:
                variable.load(value, sess)
            if extra is not None and callable(extra):
                extra = extra(sess)
            prefix = saver.save(sess, str(Path(folder) / name), global_step=step)
    return prefix, extra


def import_slim_resnet_v2():
    """tf-slim 1.1 under TF 2.21: register ``tf_keras.legacy_tf_layers`` first."""
    legacy = importlib.import_module("tf_keras.src.legacy_tf_layers")
    sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    slim = importlib.import_module("tf_slim")
    return slim, importlib.import_module("tf_slim.nets.resnet_v2")


def slim_resnet_builder(images: np.ndarray, seed: int):
    """A ``graph_builder`` for :func:`write_tf1_checkpoint`: slim ``resnet_v2_50`` in inference
    mode with random weights (non-trivial BN statistics); ``extra`` = its (B, 2048) features."""

    def build():
        slim, resnet_v2 = import_slim_resnet_v2()
        x = tf.compat.v1.placeholder(tf.float32, (None,) + images.shape[1:])
        with slim.arg_scope(resnet_v2.resnet_arg_scope()):
            net, _ = resnet_v2.resnet_v2_50(
                x, num_classes=None, is_training=False, global_pool=True, scope="resnet_v2_50"
            )
        features = tf.squeeze(net, axis=[1, 2])
        variables = tf.compat.v1.global_variables()
        shapes = {v.op.name: tuple(v.shape.as_list()) for v in variables}
        values = random_values(shapes, seed)
        return variables, values, lambda sess: sess.run(features, {x: images})

    return build
