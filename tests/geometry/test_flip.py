"""Horizontal-flip augmentation: pose, keypoints and 3D joints (docs/original_release.md §4.5,
§6.5)."""

import numpy as np
import pytest
import tensorflow as tf

from src.geometry.flip import (
    flip_keypoints,
    flip_keypoints_tf,
    reflect_joints3d,
    reflect_joints3d_tf,
    reflect_pose,
    reflect_pose_tf,
)

SPEC_SMPL_PAIRS = [
    (1, 2),
    (4, 5),
    (7, 8),
    (10, 11),
    (13, 14),
    (16, 17),
    (18, 19),
    (20, 21),
    (22, 23),
]
SPEC_HMMR_FLIP = [
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    16,
    15,
    18,
    17,
    20,
    19,
    22,
    21,
    24,
    23,
]
SPEC_LSP_FLIP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]
# SMPL kinematic tree, written out here independently of src.joints
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def _ref_reflect_pose(pose):
    out = pose.reshape(-1, 24, 3).copy()
    for a, b in SPEC_SMPL_PAIRS:
        out[:, [a, b]] = out[:, [b, a]]
    out[:, :, 1:] *= -1
    return out.reshape(pose.shape)


def _rodrigues(w):
    angle = np.linalg.norm(w)
    if angle < 1e-12:
        return np.eye(3)
    k = w / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _forward_kinematics(pose, rest):
    """Posed joint positions (24, 3) of a skeleton with rest joints ``rest`` (24, 3)."""
    rot = [None] * 24
    pos = np.zeros((24, 3))
    for i in range(24):
        r = _rodrigues(pose[3 * i : 3 * i + 3])
        p = PARENTS[i]
        if p < 0:
            rot[i], pos[i] = r, rest[i]
        else:
            rot[i] = rot[p] @ r
            pos[i] = pos[p] + rot[p] @ (rest[i] - rest[p])
    return pos


def _symmetric_rest_skeleton(rng):
    rest = np.zeros((24, 3))
    rest[:, 1:] = rng.normal(size=(24, 2))
    for a, b in SPEC_SMPL_PAIRS:  # left joint at +x, right joint mirrored
        rest[b] = rest[a] * [-1, 1, 1]
        rest[a, 0] = abs(rng.normal()) + 0.1
        rest[b, 0] = -rest[a, 0]
    return rest


def test_reflect_pose_matches_reference_and_is_an_involution():
    pose = np.random.default_rng(0).normal(size=(2, 5, 72))
    flipped = reflect_pose(pose)
    np.testing.assert_array_equal(flipped, _ref_reflect_pose(pose))
    np.testing.assert_array_equal(reflect_pose(flipped), pose)
    np.testing.assert_array_equal(reflect_pose_tf(tf.constant(pose)).numpy(), flipped)


def test_reflected_pose_gives_mirrored_joints_through_forward_kinematics():
    rng = np.random.default_rng(1)
    rest = _symmetric_rest_skeleton(rng)
    swap = list(range(24))
    for a, b in SPEC_SMPL_PAIRS:
        swap[a], swap[b] = b, a
    for _ in range(3):
        pose = rng.uniform(-1.5, 1.5, size=72)
        mirrored = _forward_kinematics(pose, rest)[swap] * [-1, 1, 1]
        np.testing.assert_allclose(
            _forward_kinematics(reflect_pose(pose), rest), mirrored, atol=1e-12
        )


def test_flip_normalised_keypoints_negates_x_and_swaps_sides():
    rng = np.random.default_rng(2)
    kp = rng.uniform(-1, 1, size=(3, 25, 3))
    out = flip_keypoints(kp)
    ref = kp[:, SPEC_HMMR_FLIP] * [-1, 1, 1]
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(flip_keypoints(out), kp)
    np.testing.assert_array_equal(flip_keypoints_tf(tf.constant(kp)).numpy(), ref)


def test_flip_pixel_keypoints_follows_a_mirrored_image():
    width, height = 37, 20
    rng = np.random.default_rng(3)
    xs, ys = rng.integers(0, width, 25), rng.integers(0, height, 25)
    kp = np.stack([xs, ys, np.ones(25)], axis=-1).astype(np.float64)
    out = flip_keypoints(kp, img_width=width)
    for i in range(25):
        image = np.zeros((height, width))
        image[ys[i], xs[i]] = 1
        y_m, x_m = np.argwhere(np.fliplr(image))[0]
        j = SPEC_HMMR_FLIP[i]  # joint i becomes joint j after the flip
        np.testing.assert_array_equal(out[j], [x_m, y_m, 1])
    np.testing.assert_array_equal(flip_keypoints(out, img_width=width), kp)
    np.testing.assert_allclose(flip_keypoints_tf(tf.constant(kp), img_width=width).numpy(), out)


def test_flip_lsp_keypoints_uses_the_14_joint_permutation():
    kp = np.random.default_rng(4).normal(size=(14, 2))
    np.testing.assert_array_equal(flip_keypoints(kp), kp[SPEC_LSP_FLIP] * [-1, 1])


def test_reflect_joints3d_matches_original_recipe_and_twice_gives_centred_input():
    joints = np.random.default_rng(5).normal(size=(4, 14, 3))
    ref = joints[:, SPEC_LSP_FLIP] * [-1, 1, 1]
    ref -= ref.mean(axis=1, keepdims=True)
    out = reflect_joints3d(joints)
    np.testing.assert_allclose(out, ref, atol=1e-15)
    np.testing.assert_allclose(
        reflect_joints3d(out), joints - joints.mean(axis=1, keepdims=True), atol=1e-14
    )
    np.testing.assert_allclose(reflect_joints3d_tf(tf.constant(joints)).numpy(), ref, atol=1e-14)


@pytest.mark.parametrize("fn", [flip_keypoints, reflect_joints3d])
def test_unknown_joint_count_is_refused(fn):
    with pytest.raises(ValueError, match="25"):
        fn(np.zeros((17, 3)))


def test_pose_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match="72"):
        reflect_pose(np.zeros((2, 69)))
