"""src.smpl.lbs: each op against closed forms and float64 NumPy references written here."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from src.joints import SMPL_PARENTS
from src.smpl import lbs

RNG = np.random.default_rng(1234)


# ------------------------------------------------------------------ NumPy references (float64)
def np_skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def np_rodrigues_original(theta: np.ndarray) -> np.ndarray:
    """docs/original_release.md §4.2 step 3 literally: angle = ||theta + 1e-8||, r = theta /
    angle."""
    angle = np.linalg.norm(theta + 1e-8, axis=-1)[..., None, None]
    r = theta / angle[..., 0]
    outer = r[..., :, None] * r[..., None, :]
    return np.cos(angle) * np.eye(3) + (1 - np.cos(angle)) * outer + np.sin(angle) * np_skew(r)


def np_forward_kinematics(rotmats, joints, parents):
    """Posed joints (N, J, 3) and skinning transforms (N, J, 4, 4) by an explicit loop."""
    n, num = joints.shape[:2]
    world = np.zeros((n, num, 4, 4))
    for i in range(num):
        local = np.tile(np.eye(4), (n, 1, 1))
        local[:, :3, :3] = rotmats[:, i]
        local[:, :3, 3] = joints[:, i] - (joints[:, parents[i]] if i else 0.0)
        world[:, i] = local if i == 0 else world[:, parents[i]] @ local
    transforms = world.copy()
    transforms[:, :, :3, 3] -= np.einsum("njab,njb->nja", world[:, :, :3, :3], joints)
    return world[:, :, :3, 3], transforms


def random_axis_angle(n: int, max_angle: float = np.pi) -> np.ndarray:
    axis = RNG.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * RNG.uniform(0.0, max_angle, size=(n, 1))


def random_rotmats(shape: tuple[int, ...]) -> np.ndarray:
    return (
        Rotation.from_rotvec(random_axis_angle(int(np.prod(shape))))
        .as_matrix()
        .reshape(shape + (3, 3))
    )


# ------------------------------------------------------------------ Rodrigues
def test_rodrigues_matches_closed_form_at_zero():
    out = lbs.batch_rodrigues(tf.zeros((2, 3), tf.float32)).numpy()
    np.testing.assert_allclose(out, np.tile(np.eye(3), (2, 1, 1)), atol=1e-7)


def test_rodrigues_matches_closed_form_at_half_pi():
    out = lbs.batch_rodrigues(tf.constant([[0.0, 0.0, np.pi / 2]], tf.float64)).numpy()[0]
    expected = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(out, expected, atol=1e-7)  # the 1e-8 shift moves it by ~1e-8


@pytest.mark.parametrize("dtype, atol", [(tf.float32, 2e-6), (tf.float64, 1e-7)])
def test_rodrigues_matches_closed_form_at_pi(dtype, atol):
    axes = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 2.0, -2.0]]) / np.array([[1.0], [1.0], [3.0]])
    out = lbs.batch_rodrigues(tf.constant(np.pi * axes, dtype)).numpy()
    expected = 2.0 * axes[:, :, None] * axes[:, None, :] - np.eye(3)  # R(pi n) = 2 n n^T - I
    np.testing.assert_allclose(out, expected, atol=atol)


@pytest.mark.parametrize("dtype, atol", [(tf.float32, 2e-6), (tf.float64, 1e-12)])
def test_rodrigues_matches_original_formula(dtype, atol):
    theta = np.concatenate([random_axis_angle(300), random_axis_angle(20, 1e-3)])
    out = lbs.batch_rodrigues(tf.constant(theta, dtype)).numpy()
    assert out.dtype == dtype.as_numpy_dtype
    np.testing.assert_allclose(out, np_rodrigues_original(theta), atol=atol)


def test_rodrigues_is_a_proper_rotation():
    theta = random_axis_angle(500)
    rot = lbs.batch_rodrigues(tf.constant(theta, tf.float32)).numpy().astype(np.float64)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, 1, 2), np.tile(np.eye(3), (500, 1, 1)),
                               atol=2e-6)  # fmt: skip
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=2e-6)


def test_rodrigues_accepts_leading_batch_dims():
    theta = random_axis_angle(6).reshape(2, 3, 3)
    out = lbs.batch_rodrigues(tf.constant(theta)).numpy()
    np.testing.assert_allclose(out, np_rodrigues_original(theta), atol=1e-12)


@pytest.mark.parametrize("point", [[0.0, 0.0, 0.0], [-1e-8, -1e-8, -1e-8]])
def test_rodrigues_gradient_at_zero_is_finite_and_equals_skew(point):
    theta = tf.constant([point], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        rot = lbs.batch_rodrigues(theta)
    jac = tape.jacobian(rot, theta).numpy()[0, :, :, 0, :]  # (3, 3, 3): dR_ij / dtheta_k
    assert np.all(np.isfinite(jac))
    for k in range(3):
        np.testing.assert_allclose(jac[:, :, k], np_skew(np.eye(3)[k]), atol=1e-6)


def test_rodrigues_gradient_matches_finite_differences():
    theta0 = np.concatenate([random_axis_angle(4), [[0.0, 0.0, np.pi - 1e-3]]])
    theta = tf.constant(theta0, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        rot = lbs.batch_rodrigues(theta)
    jac = tape.batch_jacobian(rot, theta).numpy()  # (N, 3, 3, 3)
    h = 1e-6
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        fd = (np_rodrigues_original(theta0 + step) - np_rodrigues_original(theta0 - step)) / (2 * h)
        np.testing.assert_allclose(jac[..., k], fd, atol=1e-7)


# ------------------------------------------------------------------ rotation matrix -> axis-angle
def test_axis_angle_round_trip_including_near_pi():
    angles = np.array([0.0, 1e-9, 1e-4, 0.5, 2.0, np.pi - 1e-3, np.pi - 1e-6])
    axes = RNG.normal(size=(len(angles), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    theta = axes * angles[:, None]
    rot = Rotation.from_rotvec(theta).as_matrix()  # independent rotation reference
    back = lbs.rotmat_to_axis_angle(tf.constant(rot, tf.float64)).numpy()
    np.testing.assert_allclose(back, theta, atol=1e-9)


def test_axis_angle_at_exactly_pi_gives_the_same_rotation():
    axes = np.array([[1.0, 0, 0], [0, 0, 1.0], [1.0, -1.0, 1.0]])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    rot = 2.0 * axes[:, :, None] * axes[:, None, :] - np.eye(3)
    back = lbs.rotmat_to_axis_angle(tf.constant(rot, tf.float64)).numpy()
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), np.pi, atol=1e-12)
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), rot, atol=1e-12)


@pytest.mark.parametrize("dtype, atol", [(tf.float32, 5e-6), (tf.float64, 1e-10)])
def test_rotmat_to_axis_angle_matches_scipy(dtype, atol):
    rot = random_rotmats((400,))
    out = lbs.rotmat_to_axis_angle(tf.constant(rot, dtype)).numpy().astype(np.float64)
    expected = Rotation.from_matrix(rot).as_rotvec()
    # angles near pi may flip sign in either implementation; compare rotations there
    near_pi = np.linalg.norm(expected, axis=1) > np.pi - 1e-3
    np.testing.assert_allclose(out[~near_pi], expected[~near_pi], atol=atol)
    np.testing.assert_allclose(
        Rotation.from_rotvec(out).as_matrix(), rot, atol=max(atol, 1e-6) * 10
    )


def test_float32_round_trip_near_pi_keeps_the_axis():
    axis = np.array([0.6, 0.0, 0.8])
    theta = axis * (np.pi - 1e-4)
    rot = tf.constant(Rotation.from_rotvec(theta).as_matrix()[None], tf.float32)
    back = lbs.rotmat_to_axis_angle(rot).numpy()[0]
    np.testing.assert_allclose(back, theta, atol=2e-4)  # arccos(trace) would lose ~1e-2 here


def test_rotmat_to_axis_angle_gradient_finite_at_identity():
    rot = tf.constant(np.eye(3)[None], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(rot)
        aa = lbs.rotmat_to_axis_angle(rot)
    grad = tape.jacobian(aa, rot).numpy()
    assert np.all(np.isfinite(grad))


# ------------------------------------------------------------------ blend shapes, joints
def test_pose_feature_is_rotations_minus_identity_of_joints_1_to_23():
    rot = random_rotmats((3, 24))
    out = lbs.pose_feature(tf.constant(rot)).numpy()
    np.testing.assert_allclose(out, (rot[:, 1:] - np.eye(3)).reshape(3, 207), atol=1e-15)


def test_blend_shapes_matches_einsum():
    coeffs, dirs = RNG.normal(size=(4, 10)), RNG.normal(size=(50, 3, 10))
    out = lbs.blend_shapes(tf.constant(coeffs), tf.constant(dirs)).numpy()
    expected = np.einsum("vcp,np->nvc", dirs, coeffs)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_vertices2joints_matches_matrix_product():
    reg, verts = RNG.uniform(size=(25, 50)), RNG.normal(size=(3, 50, 3))
    out = lbs.vertices2joints(tf.constant(reg), tf.constant(verts)).numpy()
    np.testing.assert_allclose(out, np.stack([reg @ v for v in verts]), atol=1e-12)


# ------------------------------------------------------------------ kinematics and skinning
@pytest.mark.parametrize("dtype, atol", [(tf.float32, 5e-6), (tf.float64, 1e-12)])
def test_batch_rigid_transform_matches_loop_reference(dtype, atol):
    rot = random_rotmats((3, 24))
    joints = RNG.normal(scale=0.3, size=(3, 24, 3))
    posed, transforms = lbs.batch_rigid_transform(
        tf.constant(rot, dtype), tf.constant(joints, dtype), SMPL_PARENTS
    )
    ref_posed, ref_transforms = np_forward_kinematics(rot, joints, SMPL_PARENTS)
    np.testing.assert_allclose(posed.numpy(), ref_posed, atol=atol)
    np.testing.assert_allclose(transforms.numpy(), ref_transforms, atol=atol)


def test_skinning_transform_maps_rest_joint_to_posed_joint():
    rot = random_rotmats((2, 24))
    joints = RNG.normal(scale=0.3, size=(2, 24, 3))
    posed, transforms = lbs.batch_rigid_transform(tf.constant(rot), tf.constant(joints),
                                                  SMPL_PARENTS)  # fmt: skip
    rest_h = np.concatenate([joints, np.ones((2, 24, 1))], axis=-1)
    mapped = np.einsum("njab,njb->nja", transforms.numpy(), rest_h)[..., :3]
    np.testing.assert_allclose(mapped, posed.numpy(), atol=1e-12)


def test_skin_vertices_blends_transforms_linearly():
    verts = RNG.normal(size=(2, 30, 3))
    transforms = np.tile(np.eye(4), (2, 24, 1, 1))
    transforms[:, :, :3, :3] = random_rotmats((2, 24))
    transforms[:, :, :3, 3] = RNG.normal(size=(2, 24, 3))
    weights = RNG.uniform(size=(30, 24))
    weights /= weights.sum(1, keepdims=True)
    out = lbs.skin_vertices(tf.constant(verts), tf.constant(transforms), tf.constant(weights))
    blended = np.einsum("vj,njab->nvab", weights, transforms)
    expected = np.einsum("nvab,nvb->nva", blended[..., :3, :3], verts) + blended[..., :3, 3]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)


def test_lbs_at_zero_pose_and_shape_returns_template_and_rest_joints():
    v = 40
    template = RNG.normal(size=(v, 3))
    reg = RNG.uniform(size=(24, v))
    reg /= reg.sum(1, keepdims=True)
    weights = RNG.uniform(size=(v, 24))
    weights /= weights.sum(1, keepdims=True)
    verts, joints, rot = lbs.lbs(
        tf.zeros((2, 10), tf.float64), tf.zeros((2, 72), tf.float64), template,
        RNG.normal(size=(v, 3, 10)), RNG.normal(size=(v, 3, 207)), reg, SMPL_PARENTS, weights,
    )  # fmt: skip
    np.testing.assert_allclose(verts.numpy(), np.tile(template, (2, 1, 1)), atol=1e-12)
    np.testing.assert_allclose(joints.numpy(), np.tile(reg @ template, (2, 1, 1)), atol=1e-12)
    np.testing.assert_allclose(rot.numpy(), np.tile(np.eye(3), (2, 24, 1, 1)), atol=1e-12)


# ------------------------------------------------------------------ the full pass, random models
def np_lbs(betas, thetas, template, shapedirs, posedirs, j_regressor, parents, weights):
    """Straightforward float64 LBS: v_shaped, J from v_shaped, rotations, pose blend, the
    kinematic loop, per-vertex (4, 4) transforms applied to homogeneous vertices."""
    n = len(betas)
    v_shaped = template + np.einsum("vcs,ns->nvc", shapedirs, betas)
    rest = np.einsum("jv,nvc->njc", j_regressor, v_shaped)
    rot = np_rodrigues_original(thetas.reshape(n, -1, 3))
    v_posed = v_shaped + np.einsum("vcp,np->nvc", posedirs, (rot[:, 1:] - np.eye(3)).reshape(n, -1))
    posed, transforms = np_forward_kinematics(rot, rest, parents)
    per_vertex = np.einsum("vj,njab->nvab", weights, transforms)
    homogeneous = np.concatenate([v_posed, np.ones(v_posed.shape[:-1] + (1,))], axis=-1)
    return np.einsum("nvab,nvb->nva", per_vertex, homogeneous)[..., :3], posed, rot


def random_model(v: int, parents=SMPL_PARENTS) -> tuple[np.ndarray, ...]:
    """A body model of random arrays (convex weights and regressor rows), SMPL-sized scales."""
    num_joints = len(parents)
    j_regressor = RNG.uniform(size=(num_joints, v)) * (RNG.uniform(size=(num_joints, v)) < 0.2)
    j_regressor /= j_regressor.sum(1, keepdims=True)
    weights = RNG.uniform(size=(v, num_joints)) * (RNG.uniform(size=(v, num_joints)) < 0.15)
    weights[np.arange(v), RNG.integers(0, num_joints, v)] += 0.5
    weights /= weights.sum(1, keepdims=True)
    return (
        RNG.normal(scale=0.3, size=(v, 3)),
        RNG.normal(scale=0.01, size=(v, 3, 10)),
        RNG.normal(scale=0.01, size=(v, 3, 9 * (num_joints - 1))),
        j_regressor,
        weights,
    )


@pytest.mark.parametrize("portable", [False, True], ids=["xla_skinning", "portable"])
@pytest.mark.parametrize("dtype, atol", [(tf.float32, 2e-6), (tf.float64, 1e-12)])
def test_lbs_matches_straightforward_float64_numpy_on_random_inputs(dtype, atol, portable):
    # portable: the plain-ops skinning traced into exported graphs (lbs.portable)
    template, shapedirs, posedirs, j_regressor, weights = random_model(500)
    betas = RNG.normal(scale=1.5, size=(5, 10))
    thetas = random_axis_angle(5 * 24).reshape(5, 72)
    ref_verts, ref_joints, ref_rot = np_lbs(
        betas, thetas, template, shapedirs, posedirs, j_regressor, SMPL_PARENTS, weights
    )
    model = [tf.constant(a, dtype) for a in (template, shapedirs, posedirs, j_regressor)]
    with lbs.portable() if portable else contextlib.nullcontext():
        verts, joints, rot = lbs.lbs(
            tf.constant(betas, dtype), tf.constant(thetas, dtype), *model, SMPL_PARENTS,
            tf.constant(weights, dtype),
        )  # fmt: skip
    assert verts.dtype == dtype
    np.testing.assert_allclose(verts.numpy(), ref_verts, atol=atol)
    np.testing.assert_allclose(joints.numpy(), ref_joints, atol=atol)
    np.testing.assert_allclose(rot.numpy(), ref_rot, atol=atol)


def test_lbs_gradients_match_finite_differences():
    model = random_model(60)
    betas0 = RNG.normal(size=(2, 10))
    thetas0 = random_axis_angle(48, 2.5).reshape(2, 72)
    upstream = RNG.normal(size=(2, 60, 3))

    def loss(betas, thetas):
        verts = lbs.lbs(betas, thetas, *model[:4], SMPL_PARENTS, model[4])[0]
        return tf.reduce_sum(verts * upstream) + 0.5 * tf.reduce_sum(verts**2)

    betas, thetas = tf.constant(betas0), tf.constant(thetas0)
    with tf.GradientTape() as tape:
        tape.watch([betas, thetas])
        value = loss(betas, thetas)
    d_betas, d_thetas = tape.gradient(value, [betas, thetas])
    for direction_b, direction_t in [(RNG.normal(size=betas0.shape), RNG.normal(size=thetas0.shape))
                                     for _ in range(3)]:  # fmt: skip
        h = 1e-6
        plus = loss(betas0 + h * direction_b, thetas0 + h * direction_t).numpy()
        minus = loss(betas0 - h * direction_b, thetas0 - h * direction_t).numpy()
        analytic = np.sum(d_betas.numpy() * direction_b) + np.sum(d_thetas.numpy() * direction_t)
        np.testing.assert_allclose(analytic, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


def test_lbs_inside_tf_function_and_xla_matches_eager():
    model = [tf.constant(a, tf.float32) for a in random_model(80)]
    betas = tf.constant(RNG.normal(size=(3, 10)), tf.float32)
    thetas = tf.constant(random_axis_angle(72).reshape(3, 72), tf.float32)

    def vertices(b, t):
        return lbs.lbs(b, t, *model[:4], SMPL_PARENTS, model[4])[0]

    eager = vertices(betas, thetas).numpy()
    for jit in (False, True):
        traced = tf.function(vertices, jit_compile=jit)(betas, thetas).numpy()
        np.testing.assert_allclose(traced, eager, atol=1e-6)


def test_skin_vertices_sums_its_parts_and_passes_gradients_to_each():
    parts = [RNG.normal(size=(30, 3)), RNG.normal(size=(2, 30, 3)), RNG.normal(size=(1, 30, 3))]
    transforms = tf.constant(np.tile(np.eye(4), (2, 24, 1, 1)))
    weights = tf.constant(RNG.dirichlet(np.ones(24), size=30))
    parts = [tf.constant(p) for p in parts]
    with tf.GradientTape() as tape:
        tape.watch(parts)
        out = lbs.skin_vertices(parts, transforms, weights)  # identity transforms: the sum
        loss = tf.reduce_sum(out**2)
    np.testing.assert_allclose(out.numpy(), (parts[0] + parts[1] + parts[2]).numpy(), atol=1e-12)
    grads = tape.gradient(loss, parts)
    assert [tuple(g.shape) for g in grads] == [(30, 3), (2, 30, 3), (1, 30, 3)]
    np.testing.assert_allclose(grads[0].numpy(), np.sum(2 * out.numpy(), axis=0), atol=1e-12)
    np.testing.assert_allclose(grads[1].numpy(), 2 * out.numpy(), atol=1e-12)


def test_batch_rigid_transform_with_joints_not_in_depth_order():
    parents = [-1, 0, 1, 0, 3, 2, 1]  # joint 3 (depth 1) after joint 2 (depth 2)
    assert lbs.tree_levels(parents) == [[0], [1, 3], [2, 4, 6], [5]]
    rot = random_rotmats((2, 7))
    joints = RNG.normal(scale=0.3, size=(2, 7, 3))
    posed, transforms = lbs.batch_rigid_transform(tf.constant(rot), tf.constant(joints), parents)
    ref_posed, ref_transforms = np_forward_kinematics(rot, joints, parents)
    np.testing.assert_allclose(posed.numpy(), ref_posed, atol=1e-12)
    np.testing.assert_allclose(transforms.numpy(), ref_transforms, atol=1e-12)


def test_tree_levels_rejects_a_child_before_its_parent():
    with pytest.raises(ValueError, match=r"parents\[1\] = 2"):
        lbs.tree_levels([-1, 2, 0])
