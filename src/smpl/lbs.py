"""The body model's forward pass as small stateless tf functions (docs/original_release.md §4.2).

Usable without Keras; every function works in float32 and float64 (the dtype of its inputs).
The recipe, as in the original ``batch_smpl.py``:

1. shape blend:   v_shaped = v_template + blend_shapes(betas, shapedirs)
2. rest joints:   J = vertices2joints(J_regressor, v_shaped)
3. rotations:     R = batch_rodrigues(theta) for the 24 joints
4. pose blend:    v_posed = v_shaped + blend_shapes(pose_feature(R), posedirs)
5. kinematics:    posed joints and skinning transforms = batch_rigid_transform(R, J, parents)
6. skinning:      vertices = skin_vertices(v_posed, transforms, weights)

Where only the regressed joints are needed, :func:`joint_space_terms` contracts the model onto
them once and :func:`regressed_joints` gives the same joints without forming any vertex.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def _homogeneous(rot: tf.Tensor, trans: tf.Tensor) -> tf.Tensor:
    """[R | t; 0 0 0 1]. rot (N, J, 3, 3), trans (N, J, 3) -> (N, J, 4, 4)."""
    top = tf.concat([rot, trans[..., None]], axis=-1)  # (N, J, 3, 4)
    bottom = tf.concat([tf.zeros_like(trans), tf.ones_like(trans[..., :1])], axis=-1)
    return tf.concat([top, bottom[..., None, :]], axis=-2)


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
    parents = [int(p) for p in np.asarray(parents).ravel()]
    parent_idx = [0] + parents[1:]
    rel = tf.concat(
        [joints[:, :1], joints[:, 1:] - tf.gather(joints, parent_idx[1:], axis=1)], axis=1
    )
    local = _homogeneous(rotmats, rel)  # (N, J, 4, 4)
    chain = [local[:, 0]]
    for i in range(1, len(parents)):
        chain.append(tf.matmul(chain[parents[i]], local[:, i]))
    world = tf.stack(chain, axis=1)  # (N, J, 4, 4)
    posed_joints = world[:, :, :3, 3]
    rest_h = tf.concat([joints, tf.zeros_like(joints[..., :1])], axis=-1)[..., None]
    offset = tf.matmul(world, rest_h)  # (N, J, 4, 1)
    transforms = world - tf.pad(offset, [[0, 0], [0, 0], [0, 0], [3, 0]])
    return posed_joints, transforms


def skin_vertices(vertices: tf.Tensor, transforms: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Linear blend skinning: v' = (sum_k w_vk A_k) (v, 1).

    Args:
        vertices: (N, V, 3) posed-blend-shaped rest vertices.
        transforms: (N, J, 4, 4) skinning transforms A.
        weights: (V, J).
    Returns:
        (N, V, 3).
    """
    num_joints = transforms.shape[1]
    per_vertex = tf.einsum("vj,njk->nvk", weights, tf.reshape(transforms, (-1, num_joints, 16)))
    per_vertex = tf.reshape(per_vertex, (-1, tf.shape(weights)[0], 4, 4))
    rotated = tf.einsum("nvij,nvj->nvi", per_vertex[..., :3, :3], vertices)
    return rotated + per_vertex[..., :3, 3]


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
    num_joints = len(parents)
    v_shaped = v_template[None] + blend_shapes(betas, shapedirs)  # (N, V, 3)
    rest_joints = vertices2joints(j_regressor, v_shaped)  # (N, J, 3)
    rotmats = tf.reshape(batch_rodrigues(tf.reshape(thetas, (-1, 3))), (-1, num_joints, 3, 3))
    v_posed = v_shaped + blend_shapes(pose_feature(rotmats), posedirs)
    posed_joints, transforms = batch_rigid_transform(rotmats, rest_joints, parents)
    vertices = skin_vertices(v_posed, transforms, lbs_weights)
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
