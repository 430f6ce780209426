"""The body model's forward pass as small stateless tf functions (docs/original_release.md §4.2).

Usable without Keras; every function works in float32 and float64 (the dtype of its inputs).
The recipe, as in the original ``batch_smpl.py``:

1. shape blend:   v_shaped = v_template + blend_shapes(betas, shapedirs)
2. rest joints:   J = vertices2joints(J_regressor, v_shaped) (taken straight from betas)
3. rotations:     R = batch_rodrigues(theta) for the 24 joints
4. pose blend:    v_posed = v_shaped + blend_shapes(pose_feature(R), posedirs)
5. kinematics:    posed joints and skinning transforms = batch_rigid_transform(R, J, parents)
6. skinning:      vertices = skin_vertices(v_posed, transforms, weights)

Where only the regressed joints are needed, :func:`joint_space_terms` contracts the model onto
them once and :func:`regressed_joints` gives the same joints without forming any vertex.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

RODRIGUES_EPS = 1e-8  # added component-wise to theta before the norm, as in the original
_SINC_TAYLOR_BELOW = 1e-2  # |x| under which sin(x)/x uses its Taylor series


def _sinc(x: tf.Tensor) -> tf.Tensor:
    """sin(x) / x, exact at 0 and with finite gradients everywhere. Any shape."""
    small = tf.abs(x) < _SINC_TAYLOR_BELOW
    x_safe = tf.where(small, tf.ones_like(x), x)
    x2 = x * x
    taylor = 1.0 - x2 / 6.0 + x2 * x2 / 120.0
    return tf.where(small, taylor, tf.sin(x_safe) / x_safe)


def _safe_norm(v: tf.Tensor) -> tf.Tensor:
    """Norm over the last axis with gradient 0 (not NaN) at 0. (..., 3) -> (...)."""
    sq = tf.reduce_sum(v * v, axis=-1)
    positive = sq > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, sq, tf.ones_like(sq))), tf.zeros_like(sq))


def skew(v: tf.Tensor) -> tf.Tensor:
    """Cross-product matrices [v]x with [v]x @ u = v x u.

    Args:
        v: (..., 3).
    Returns:
        (..., 3, 3); entries (0,1)=-z, (0,2)=y, (1,0)=z, (1,2)=-x, (2,0)=-y, (2,1)=x.
    """
    x, y, z = tf.unstack(v, axis=-1)
    zero = tf.zeros_like(x)
    rows = [tf.stack([zero, -z, y], -1), tf.stack([z, zero, -x], -1), tf.stack([-y, x, zero], -1)]
    return tf.stack(rows, axis=-2)


def batch_rodrigues(theta: tf.Tensor) -> tf.Tensor:
    """Axis-angle vectors to rotation matrices, with the original's epsilon semantics.

    angle = ||theta + 1e-8|| (epsilon added to each component), r = theta / angle,
    R = cos(angle) I + (1 - cos(angle)) r r^T + sin(angle) [r]x.
    Written as cos(a) I + (1 - cos a)/a^2 theta theta^T + sin(a)/a [theta]x with
    (1 - cos a)/a^2 = sinc(a/2)^2 / 2, which has no cancellation for small angles and a finite
    gradient at theta = 0 (where R = I and dR/dtheta_k = [e_k]x).

    Args:
        theta: (..., 3) axis-angle, angle in radians.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    theta = tf.convert_to_tensor(theta)
    angle = _safe_norm(theta + tf.constant(RODRIGUES_EPS, theta.dtype))  # (...)
    sin_over_a = _sinc(angle)
    half = _sinc(0.5 * angle)
    one_minus_cos_over_a2 = 0.5 * half * half
    eye = tf.eye(3, dtype=theta.dtype)
    outer = theta[..., :, None] * theta[..., None, :]
    expand = lambda s: s[..., None, None]  # noqa: E731
    return (
        expand(tf.cos(angle)) * eye
        + expand(one_minus_cos_over_a2) * outer
        + expand(sin_over_a) * skew(theta)
    )


def _quaternion_candidates(rotmats: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The four Shepperd quaternion formulas and their pivots 4w^2, 4x^2, 4y^2, 4z^2.

    Args:
        rotmats: (N, 3, 3).
    Returns:
        candidates (N, 4, 4) as (w, x, y, z), each already divided by 2 sqrt(pivot);
        pivots (N, 4).
    """
    r = rotmats
    r00, r01, r02 = r[:, 0, 0], r[:, 0, 1], r[:, 0, 2]
    r10, r11, r12 = r[:, 1, 0], r[:, 1, 1], r[:, 1, 2]
    r20, r21, r22 = r[:, 2, 0], r[:, 2, 1], r[:, 2, 2]
    one = tf.ones_like(r00)
    pivots = tf.stack(
        [
            one + r00 + r11 + r22,
            one + r00 - r11 - r22,
            one - r00 + r11 - r22,
            one - r00 - r11 + r22,
        ],
        axis=-1,
    )
    dx, dy, dz = r21 - r12, r02 - r20, r10 - r01  # 4 w (x, y, z)
    sxy, sxz, syz = r01 + r10, r02 + r20, r12 + r21  # 4 (xy, xz, yz)
    unscaled = tf.stack(
        [
            tf.stack([pivots[:, 0], dx, dy, dz], -1),
            tf.stack([dx, pivots[:, 1], sxy, sxz], -1),
            tf.stack([dy, sxy, pivots[:, 2], syz], -1),
            tf.stack([dz, sxz, syz, pivots[:, 3]], -1),
        ],
        axis=1,
    )  # (N, 4, 4)
    denom = 2.0 * tf.sqrt(tf.maximum(pivots, tf.constant(1e-6, r.dtype)))
    return unscaled / denom[..., None], pivots


def rotmat_to_quaternion(rotmats: tf.Tensor) -> tf.Tensor:
    """Rotation matrices to unit quaternions (w, x, y, z) with w >= 0 (Shepperd's method).

    Uses the formula whose pivot (4w^2, 4x^2, 4y^2 or 4z^2) is largest, so it stays accurate for
    every angle, including pi, where arccos of the trace loses the axis.

    Args:
        rotmats: (..., 3, 3).
    Returns:
        (..., 4).
    """
    rotmats = tf.convert_to_tensor(rotmats)
    batch_shape = tf.shape(rotmats)[:-2]
    flat = tf.reshape(rotmats, (-1, 3, 3))
    candidates, pivots = _quaternion_candidates(flat)
    best = tf.argmax(pivots, axis=-1, output_type=tf.int32)
    quat = tf.gather(candidates, best, batch_dims=1)  # (N, 4)
    quat = quat / tf.norm(quat, axis=-1, keepdims=True)
    sign = tf.where(quat[:, :1] < 0, -tf.ones_like(quat[:, :1]), tf.ones_like(quat[:, :1]))
    return tf.reshape(quat * sign, tf.concat([batch_shape, [4]], 0))


def rotmat_to_axis_angle(rotmats: tf.Tensor) -> tf.Tensor:
    """Rotation matrices to axis-angle vectors with angle in [0, pi] (inverse of batch_rodrigues).

    Through the quaternion: angle = 2 atan2(|v|, w), axis-angle = v * angle / |v|
    (-> 2 v / w as |v| -> 0). At exactly pi the sign of the axis is arbitrary; both give the
    same rotation.

    Args:
        rotmats: (..., 3, 3).
    Returns:
        (..., 3).
    """
    quat = rotmat_to_quaternion(rotmats)
    w, v = quat[..., 0], quat[..., 1:]
    sin_half = _safe_norm(v)
    nonzero = sin_half > 0
    safe = tf.where(nonzero, sin_half, tf.ones_like(sin_half))
    factor = tf.where(nonzero, 2.0 * tf.atan2(safe, w) / safe, 2.0 / w)
    return v * factor[..., None]


def pose_feature(rotmats: tf.Tensor) -> tf.Tensor:
    """Pose-blend-shape coefficients: (R_j - I) of joints 1..J-1, flattened row-major.

    Args:
        rotmats: (N, J, 3, 3) (J = 24).
    Returns:
        (N, 9 (J - 1)) = (N, 207).
    """
    rotmats = tf.convert_to_tensor(rotmats)
    num_joints = rotmats.shape[1] or tf.shape(rotmats)[1]
    feat = rotmats[:, 1:] - tf.eye(3, dtype=rotmats.dtype)
    return tf.reshape(feat, (-1, 9 * (num_joints - 1)))


def blend_shapes(coeffs: tf.Tensor, dirs: tf.Tensor) -> tf.Tensor:
    """Linear blend shapes: offsets[n, v, c] = sum_p dirs[v, c, p] * coeffs[n, p].

    Used for shape (betas, shapedirs) and pose (pose_feature, posedirs).

    Args:
        coeffs: (N, P).
        dirs: (V, 3, P).
    Returns:
        (N, V, 3).
    """
    dirs = tf.convert_to_tensor(dirs)
    flat = tf.reshape(dirs, (-1, dirs.shape[-1]))  # (3V, P)
    offsets = tf.matmul(coeffs, flat, transpose_b=True)  # (N, 3V)
    return tf.reshape(offsets, (-1, dirs.shape[0], 3))


def vertices2joints(regressor: tf.Tensor, vertices: tf.Tensor) -> tf.Tensor:
    """Joints as fixed linear combinations of vertices, per coordinate.

    Args:
        regressor: (J, V).
        vertices: (N, V, 3).
    Returns:
        (N, J, 3).
    """
    return tf.einsum("jv,nvc->njc", regressor, vertices)


def tree_levels(parents: Sequence[int]) -> list[list[int]]:
    """The joints grouped by depth in the kinematic tree, root first, each group ascending.

    A joint's parent lies in the previous group, so each group's transforms are one batched
    product of its parents' (9 products for SMPL's 24 joints instead of 23).

    Args:
        parents: J parent indices, parents before children; the root's entry is ignored.
    Returns:
        the groups of joint indices, depth 0, 1, ...
    """
    depth = [0] * len(parents)
    for i in range(1, len(parents)):
        if not 0 <= parents[i] < i:
            raise ValueError(f"parents[{i}] = {parents[i]}: a parent must come before its child")
        depth[i] = depth[parents[i]] + 1
    return [[i for i, d in enumerate(depth) if d == level] for level in range(max(depth) + 1)]


def rigid_transform_rows(
    rotmats: tf.Tensor, joints: tf.Tensor, parents: Sequence[int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`batch_rigid_transform` without the constant bottom rows [0 0 0 1].

    The tree is walked a depth at a time (:func:`tree_levels`): G = G_parent [R | J - J_parent]
    for all joints of one depth in one batched (3 x 4) (4 x 4) product.

    Args:
        rotmats: (N, J, 3, 3) local rotations.
        joints: (N, J, 3) rest-pose joint locations.
        parents: J parent indices, parents before children; the root's entry is ignored.
    Returns:
        posed_joints (N, J, 3) and the top rows [Rot | t] of the transforms A (N, J, 3, 4).
    """
    parents = [int(p) for p in np.asarray(parents).ravel()]
    levels = tree_levels(parents)
    rel = tf.concat([joints[:, :1], joints[:, 1:] - tf.gather(joints, parents[1:], axis=1)], axis=1)
    local = tf.concat([rotmats, rel[..., None]], axis=-1)  # (N, J, 3, 4)
    bottom = tf.broadcast_to(
        tf.constant([0.0, 0.0, 0.0, 1.0], local.dtype), tf.shape(local[:, :, :1])
    )
    local_h = tf.concat([local, bottom], axis=-2)  # (N, J, 4, 4)
    world = [local[:, :1]]  # per level (N, L, 3, 4)
    for prev, level in zip(levels[:-1], levels[1:], strict=False):
        slot = {joint: k for k, joint in enumerate(prev)}
        parent_world = tf.gather(world[-1], [slot[parents[j]] for j in level], axis=1)
        world.append(tf.matmul(parent_world, tf.gather(local_h, level, axis=1)))
    world = tf.concat(world, axis=1)  # (N, J, 3, 4), joints in level order
    order = [joint for level in levels for joint in level]
    if order != list(range(len(parents))):
        world = tf.gather(world, np.argsort(order), axis=1)
    posed_joints = world[..., 3]
    offset = tf.linalg.matvec(world[..., :3], joints)  # (N, J, 3): G_i (J_i, 0)^T
    return posed_joints, tf.concat([world[..., :3], (posed_joints - offset)[..., None]], -1)


def batch_rigid_transform(
    rotmats: tf.Tensor, joints: tf.Tensor, parents: Sequence[int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward kinematics along the kinematic tree (no extra base rotation).

    G_0 = [R_0 | J_0]; G_i = G_parent(i) [R_i | J_i - J_parent(i)].
    Skinning transforms A_i = G_i - [0 | G_i (J_i, 0)^T] (the rest-pose joint offset removed).

    Args:
        rotmats: (N, J, 3, 3) local rotations.
        joints: (N, J, 3) rest-pose joint locations.
        parents: J parent indices, parents before children; the root's entry is ignored.
    Returns:
        posed_joints (N, J, 3) and transforms A (N, J, 4, 4).
    """
    posed_joints, rows = rigid_transform_rows(rotmats, joints, parents)
    bottom = tf.broadcast_to(
        tf.constant([0.0, 0.0, 0.0, 1.0], rows.dtype), tf.shape(rows[:, :, :1])
    )
    return posed_joints, tf.concat([rows, bottom], axis=-2)


def _vertex_sum(parts: Sequence[tf.Tensor]) -> tf.Tensor:
    """Sum of (N, V, 3) / (V, 3) tensors, left to right (the rest vertices and their offsets)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _vertex_major(per_vertex: tf.Tensor) -> tf.Tensor:
    """(N, 12, V) blended rows -> (N, V, 3, 4) (a transposed read inside the XLA kernels)."""
    shape = tf.shape(per_vertex)
    rows = tf.reshape(per_vertex, tf.stack([shape[0], 3, 4, shape[2]]))
    return tf.transpose(rows, (0, 3, 1, 2))


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _apply_rows(per_vertex: tf.Tensor, parts: Sequence[tf.Tensor]) -> tf.Tensor:
    """Blended rows [Rot | t] (N, 12, V) applied to the vertices sum(parts) (N, V, 3).

    One XLA kernel: no (N, V, 3, 4) product or (N, V, 3) sum is written to memory.
    """
    vertices = _vertex_sum(parts)
    rows = _vertex_major(per_vertex)  # (N, V, 3, 4)
    return tf.reduce_sum(rows[..., :3] * vertices[..., None, :], axis=-1) + rows[..., 3]


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _apply_rows_grad(
    per_vertex: tf.Tensor, parts: Sequence[tf.Tensor], upstream: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Gradients of :func:`_apply_rows` w.r.t. the rows (N, 12, V) and the vertices (N, V, 3)."""
    vertices = _vertex_sum(parts)
    homogeneous = tf.concat([vertices, tf.ones_like(vertices[..., :1])], axis=-1)  # (N, V, 4)
    d_rows = upstream[..., None] * homogeneous[..., None, :]  # (N, V, 3, 4)
    d_rows = tf.reshape(tf.transpose(d_rows, (0, 2, 3, 1)), tf.shape(per_vertex))
    d_vertices = tf.reduce_sum(_vertex_major(per_vertex)[..., :3] * upstream[..., None], axis=-2)
    return d_rows, d_vertices


def _sum_to_shape_of(grad: tf.Tensor, part: tf.Tensor) -> tf.Tensor:
    """The gradient (N, V, 3) of a sum, summed over the batch where ``part`` was broadcast:
    (V, 3) and (1, V, 3) parts."""
    if part.shape.rank == 2:
        return tf.reduce_sum(grad, axis=0)
    if part.shape[0] == 1 and grad.shape[0] != 1:
        return tf.reduce_sum(grad, axis=0, keepdims=True)
    return grad


@tf.custom_gradient
def _skin_apply(per_vertex: tf.Tensor, *parts: tf.Tensor):
    """:func:`_apply_rows` with a gradient that computes only what the caller reads (an XLA
    function's own gradient returns every input's, the broadcast template's included)."""

    def grad(upstream: tf.Tensor) -> list[tf.Tensor]:
        d_rows, d_vertices = _apply_rows_grad(per_vertex, parts, upstream)
        return [d_rows, *(_sum_to_shape_of(d_vertices, part) for part in parts)]

    return _apply_rows(per_vertex, parts), grad


def blended_rows(transforms: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Per-vertex skinning transforms sum_k w_vk A_k, top rows only, as one matmul.

    Args:
        transforms: (N, J, 4, 4) skinning transforms A, or their top rows (N, J, 3, 4).
        weights: (V, J).
    Returns:
        (N, 12, V): the rows [Rot | t] of each vertex's transform, row-major, vertex last (one
        (N 12, J) by (J, V) product: a better matmul shape than (V, J) by (N, J, 12)).
    """
    weights = tf.convert_to_tensor(weights, transforms.dtype)
    num_joints = weights.shape[1]
    rows = tf.reshape(transforms[:, :, :3, :], (-1, num_joints, 12))  # (N, J, 12)
    rows = tf.reshape(tf.transpose(rows, (0, 2, 1)), (-1, num_joints))  # (N 12, J)
    per_vertex = tf.matmul(rows, weights, transpose_b=True)  # (N 12, V)
    return tf.reshape(per_vertex, (-1, 12, tf.shape(weights)[0]))


def skin_vertices(
    vertices: tf.Tensor | Sequence[tf.Tensor], transforms: tf.Tensor, weights: tf.Tensor
) -> tf.Tensor:
    """Linear blend skinning: v' = (sum_k w_vk A_k) (v, 1).

    The blended rows are one matmul (:func:`blended_rows`); applying them is one fused XLA
    kernel, with no (N, V, 4, 4) or homogeneous (N, V, 4) tensor in memory.

    Args:
        vertices: (N, V, 3) posed-blend-shaped rest vertices, or parts that sum to them
            ((N, V, 3) or (V, 3) each, e.g. template, shape and pose offsets), summed in the
            same kernel.
        transforms: (N, J, 4, 4) skinning transforms A, or their top rows (N, J, 3, 4).
        weights: (V, J).
    Returns:
        (N, V, 3).
    """
    parts = list(vertices) if isinstance(vertices, list | tuple) else [vertices]
    parts = [tf.convert_to_tensor(part, transforms.dtype) for part in parts]
    per_vertex = blended_rows(transforms, weights)
    if _PORTABLE.active:  # plain ops, the same arithmetic
        rows = _vertex_major(per_vertex)
        return tf.reduce_sum(rows[..., :3] * _vertex_sum(parts)[..., None, :], -1) + rows[..., 3]
    return _skin_apply(per_vertex, *parts)


class _Portable(threading.local):
    active = False


_PORTABLE = _Portable()


@contextlib.contextmanager
def portable() -> Iterator[None]:
    """Trace the body model without XLA kernels inside this block, for graphs that leave this
    process: TF Serving runs no XLA:CPU JIT by default (``--xla_cpu_compilation_enabled``) and
    converters (TFLite, ONNX) do not take XLA functions. Same results, a little slower."""
    before = _PORTABLE.active
    _PORTABLE.active = True
    try:
        yield
    finally:
        _PORTABLE.active = before


def lbs(
    betas: tf.Tensor,
    thetas: tf.Tensor,
    v_template: tf.Tensor,
    shapedirs: tf.Tensor,
    posedirs: tf.Tensor,
    j_regressor: tf.Tensor,
    parents: Sequence[int],
    lbs_weights: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The full body-model forward pass (steps 1-6 of the module docstring).

    The rest joints come straight from betas (J_regressor v_template + betas J_regressor
    shapedirs: no vertex is regressed); the template and the shape and pose offsets are summed
    inside the skinning kernel (:func:`skin_vertices`), so the vertices are written once. The
    matmuls run as TensorFlow ops, the elementwise skinning as one XLA kernel; this is faster
    on CPU than either all TensorFlow ops or all XLA (docs/benchmarks.md, "SMPL layer").

    Args:
        betas: (N, 10) shape coefficients.
        thetas: (N, 3 J) = (N, 72) axis-angle, root first.
        v_template: (V, 3).
        shapedirs: (V, 3, 10).
        posedirs: (V, 3, 9 (J - 1)) = (V, 3, 207).
        j_regressor: (J, V) dense.
        parents: J parent indices (kintree_table row 0).
        lbs_weights: (V, J).
    Returns:
        vertices (N, V, 3), posed skeleton joints (N, J, 3), rotation matrices (N, J, 3, 3).
    """
    betas = tf.convert_to_tensor(betas)
    v_template, shapedirs, posedirs, j_regressor, lbs_weights = (
        tf.convert_to_tensor(a, betas.dtype)
        for a in (v_template, shapedirs, posedirs, j_regressor, lbs_weights)
    )
    num_joints = len(parents)
    rest_shapedirs = tf.einsum("jv,vcs->jcs", j_regressor, shapedirs)  # (J, 3, 10)
    rest_joints = tf.matmul(j_regressor, v_template)[None] + blend_shapes(betas, rest_shapedirs)
    rotmats = tf.reshape(batch_rodrigues(tf.reshape(thetas, (-1, 3))), (-1, num_joints, 3, 3))
    v_posed = [  # summed inside the skinning kernel
        v_template,
        blend_shapes(betas, shapedirs),  # (N, V, 3)
        blend_shapes(pose_feature(rotmats), posedirs),
    ]
    posed_joints, rows = rigid_transform_rows(rotmats, rest_joints, parents)
    vertices = skin_vertices(v_posed, rows, lbs_weights)
    return vertices, posed_joints, rotmats


# ----------------------------------------------------------------------------------------------
# Joints without the mesh
#
# The extra regressor Q (K, V) reads the skinned vertices linearly and skinning is linear in the
# posed rest vertices, so with [Rot_b | t_b] the skinning transform A_b of bone b:
#
#   joint_k = sum_v Q_kv sum_b W_vb (Rot_b v_posed_v + t_b)
#           = sum_b (Rot_b P_kb + C_kb t_b),
#   P_kb = sum_v Q_kv W_vb v_posed_v,    C_kb = sum_v Q_kv W_vb,
#
# and P_kb is linear in (1, betas, pose feature) with coefficients sum_v Q_kv W_vb
# [v_template | shapedirs | posedirs]_v, formed once per model. Only the (joint k, bone b) pairs
# with a vertex read by joint k and skinned to bone b contribute (60 of 25 x 24 for the stand-in),
# so a body costs O(pairs x 218) instead of O(V x 218). The rest skeleton likewise comes
# straight from betas through J_regressor v_template and J_regressor shapedirs.


def regressor_support(regressor: np.ndarray) -> np.ndarray:
    """Indices of the vertices a (K, V) regressor reads (columns with a nonzero entry).

    Returns:
        (S,) int64, ascending.
    """
    return np.flatnonzero(np.any(np.asarray(regressor) != 0, axis=0))


def joint_space_terms(
    v_template: np.ndarray,
    shapedirs: np.ndarray,
    posedirs: np.ndarray,
    j_regressor: np.ndarray,
    lbs_weights: np.ndarray,
    joint_regressor: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The model contracted onto its joints, for :func:`regressed_joints` (float64 NumPy).

    Args:
        v_template, shapedirs, posedirs, j_regressor, lbs_weights: as for :func:`lbs`.
        joint_regressor: (K, V) extra regressor, or None (then there are no pairs).
    Returns:
        dict of ``rest_template`` (J, 3) = J_regressor v_template, ``rest_shapedirs``
        (J, 3, 10) = J_regressor shapedirs, and for the P (joint k, bone b) pairs:
        ``pair_bone`` (P,) int32 b, ``pair_select`` (K, P) one-hot of k, ``pair_dirs``
        (P, 3, 1 + 10 + 207) = sum_v Q_kv W_vb [v_template | shapedirs | posedirs]_v and
        ``pair_weight`` (P,) = C_kb.
    """
    v_template, shapedirs, posedirs, j_regressor, lbs_weights = (
        np.asarray(a, np.float64)
        for a in (v_template, shapedirs, posedirs, j_regressor, lbs_weights)
    )
    terms = {
        "rest_template": j_regressor @ v_template,
        "rest_shapedirs": np.einsum("jv,vcs->jcs", j_regressor, shapedirs),
    }
    num_coeffs = 1 + shapedirs.shape[-1] + posedirs.shape[-1]
    if joint_regressor is None:
        joint_regressor = np.zeros((0, v_template.shape[0]))
    joint_regressor = np.asarray(joint_regressor, np.float64)
    support = regressor_support(joint_regressor)
    reg, weights = joint_regressor[:, support], lbs_weights[support]  # (K, S), (S, J)
    pair_joint, pair_bone = np.nonzero((reg != 0).astype(np.int64) @ (weights != 0))
    mix = reg[pair_joint] * weights[:, pair_bone].T  # (P, S): Q_kv W_vb
    dirs = np.concatenate(
        [v_template[support, :, None], shapedirs[support], posedirs[support]], axis=-1
    )  # (S, 3, num_coeffs)
    terms["pair_bone"] = pair_bone.astype(np.int32)
    terms["pair_select"] = (np.arange(len(reg))[:, None] == pair_joint[None]).astype(np.float64)
    terms["pair_dirs"] = (mix @ dirs.reshape(len(support), 3 * num_coeffs)).reshape(
        -1, 3, num_coeffs
    )
    terms["pair_weight"] = mix.sum(axis=1)
    return terms


def regressed_joints(
    betas: tf.Tensor,
    thetas: tf.Tensor,
    terms: Mapping[str, tf.Tensor | np.ndarray],
    parents: Sequence[int],
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The body model's regressed joints without its vertices: equals :func:`lbs` followed by
    ``vertices2joints(joint_regressor, .)`` up to round-off (see the comment above).

    Args:
        betas: (N, 10); thetas: (N, 3 J).
        terms: :func:`joint_space_terms` of the model, the float arrays as tensors of the
            inputs' dtype (``pair_bone`` may stay NumPy).
        parents: J parent indices.
    Returns:
        joints (N, K, 3) (K = 0 without an extra regressor), posed skeleton joints (N, J, 3),
        rotation matrices (N, J, 3, 3).
    """
    num_bones = len(parents)
    rest = terms["rest_template"][None] + blend_shapes(betas, terms["rest_shapedirs"])
    rotmats = tf.reshape(batch_rodrigues(tf.reshape(thetas, (-1, 3))), (-1, num_bones, 3, 3))
    posed_joints, transforms = batch_rigid_transform(rotmats, rest, parents)
    select = terms["pair_select"]  # (K, P)
    if select.shape[1] == 0:
        return tf.zeros_like(posed_joints[:, : select.shape[0]]), posed_joints, rotmats
    coeffs = tf.concat([tf.ones_like(betas[:, :1]), betas, pose_feature(rotmats)], axis=-1)
    blended = blend_shapes(coeffs, terms["pair_dirs"])  # (N, P, 3): P_kb
    bone = tf.gather(transforms, terms["pair_bone"], axis=1)  # (N, P, 4, 4): A_b
    rotated = tf.reduce_sum(bone[..., :3, :3] * blended[:, :, None, :], axis=-1)
    per_pair = rotated + terms["pair_weight"][:, None] * bone[..., :3, 3]  # (N, P, 3)
    return tf.einsum("kp,npc->nkc", select, per_pair), posed_joints, rotmats
