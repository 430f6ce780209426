"""src.smpl.lbs: each op against closed forms and float64 NumPy references written here."""

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
