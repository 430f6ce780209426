"""theta_to_body: slicing of theta, leading-dim handling, camera choice, projection (§3.8, §4.4)."""

import numpy as np
import pytest
import tensorflow as tf

from src.networks.outputs import theta_to_body


class _FakeBody:
    """A deterministic stand-in for the SMPL layer: joints / vertices / rotmats are simple
    functions of (betas, thetas), so the expected outputs are known in closed form."""

    def __call__(self, betas, thetas, joints_only=False):
        n = tf.shape(thetas)[0]
        joints = tf.reshape(thetas[:, :15], [n, 5, 3]) + betas[:, :1, None]
        verts = tf.reshape(thetas[:, 15:36], [n, 7, 3])
        rot = tf.reshape(tf.tile(thetas[:, :9], [1, 24]), [n, 24, 3, 3])
        out = {"joints": joints, "rotmats": rot, "smpl_joints": joints}
        return out if joints_only else {**out, "vertices": verts}


def _expected(theta, cam):
    """NumPy float64 expectation for one theta (85,) and camera (3,)."""
    pose, shape = theta[3:75], theta[75:]
    joints = pose[:15].reshape(5, 3) + shape[0]
    return {
        "cam": cam,
        "pose": pose,
        "shape": shape,
        "joints": joints,
        "vertices": pose[15:36].reshape(7, 3),
        "rotmats": np.tile(pose[:9], 24).reshape(24, 3, 3),
        "kp2d": cam[0] * (joints[:, :2] + cam[1:]),
    }


@pytest.mark.parametrize("with_vertices", [True, False])
@pytest.mark.parametrize("with_cam", [False, True])
def test_theta_to_body_restores_leading_dims_and_projects(with_cam, with_vertices):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 3, 85))
    cam = rng.normal(size=(2, 3, 3)) if with_cam else None
    out = theta_to_body(
        _FakeBody(),
        tf.constant(theta),
        None if cam is None else tf.constant(cam),
        with_vertices=with_vertices,
    )
    assert ("vertices" in out) == with_vertices
    for b in range(2):
        for t in range(3):
            c = cam[b, t] if with_cam else theta[b, t, :3]
            for key, value in _expected(theta[b, t], c).items():
                if key in out or with_vertices:
                    np.testing.assert_allclose(
                        out[key][b, t].numpy(), value, atol=1e-12, err_msg=key
                    )
    assert out["kp2d"].shape == (2, 3, 5, 2) and out["rotmats"].shape == (2, 3, 24, 3, 3)


def test_theta_to_body_rejects_wrong_width():
    with pytest.raises(ValueError, match="85"):
        theta_to_body(_FakeBody(), tf.zeros((4, 82)))


def _rodrigues(aa):
    """(3,) axis-angle -> (3, 3), float64 closed form."""
    angle = np.linalg.norm(aa)
    if angle < 1e-12:
        return np.eye(3)
    k = aa / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def test_theta_to_body_with_the_smpl_layer(tmp_path):
    from src.smpl import SMPL
    from src.smpl.standin import write_standin_model

    smpl = SMPL(write_standin_model(tmp_path / "standin.pkl", num_verts=300))
    rng = np.random.default_rng(1)
    theta = np.concatenate(
        [rng.uniform(0.5, 1.5, (2, 3, 1)), rng.normal(0, 0.2, (2, 3, 2)),
         rng.normal(0, 0.3, (2, 3, 72)), rng.normal(0, 1, (2, 3, 10))], axis=-1,
    ).astype(np.float32)  # fmt: skip
    out = theta_to_body(smpl, theta)
    direct = smpl(theta.reshape(6, 85)[:, 75:], theta.reshape(6, 85)[:, 3:75])
    assert out["vertices"].shape == (2, 3, 300, 3) and out["kp2d"].shape == (2, 3, 25, 2)
    np.testing.assert_allclose(out["joints"].numpy().reshape(6, 25, 3), direct["joints"], atol=1e-6)
    joints = out["joints"].numpy().astype(np.float64)
    cam = theta[..., :3].astype(np.float64)
    want_kp = cam[..., None, :1] * (joints[..., :2] + cam[..., None, 1:])
    np.testing.assert_allclose(out["kp2d"].numpy(), want_kp, atol=1e-5)
    want_rot = np.array([[[_rodrigues(a) for a in p.reshape(24, 3)] for p in row]
                         for row in theta[..., 3:75].astype(np.float64)])  # fmt: skip
    np.testing.assert_allclose(out["rotmats"].numpy(), want_rot, atol=1e-5)


@pytest.mark.parametrize("with_cam", [False, True])
def test_theta_to_body_without_vertices_equals_the_full_body(tmp_path, with_cam):
    """The joints-only body model on the 6890-vertex stand-in: same joints, keypoints and
    rotations as the full pass (float32 round-off), projected with the same camera."""
    from src.smpl import SMPL
    from src.smpl.standin import default_standin_path

    smpl = SMPL(default_standin_path())
    rng = np.random.default_rng(2)
    theta = np.concatenate(
        [rng.uniform(0.5, 1.5, (2, 4, 1)), rng.normal(0, 0.2, (2, 4, 2)),
         rng.normal(0, 1.0, (2, 4, 72)), rng.normal(0, 1.5, (2, 4, 10))], axis=-1,
    ).astype(np.float32)  # fmt: skip
    cam = rng.uniform(0.5, 1.5, (2, 4, 3)).astype(np.float32) if with_cam else None
    full = theta_to_body(smpl, theta, cam)
    fast = theta_to_body(smpl, theta, cam, with_vertices=False)
    assert set(full) - set(fast) == {"vertices"}
    for key in ("cam", "pose", "shape"):
        np.testing.assert_array_equal(fast[key].numpy(), full[key].numpy(), err_msg=key)
    for key in ("joints", "kp2d", "rotmats"):
        assert fast[key].shape == full[key].shape and fast[key].dtype == full[key].dtype
        np.testing.assert_allclose(fast[key].numpy(), full[key].numpy(), atol=5e-6, err_msg=key)
    # the joints moved: a test of equal outputs that cannot pass on a constant body
    assert np.std(fast["joints"].numpy(), axis=(0, 1)).min() > 1e-2
