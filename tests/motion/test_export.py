"""BVH export of predicted motion: joints back to 1 mm, an independent parser, axes, the CLI.

The body model is a 300-vertex generated stand-in (not SMPL). References: the Keras body-model
layer (TensorFlow, float64) for the posed and rest joints, scipy for the Euler angles, the
``bvh`` package from PyPI for the file's text.
"""

from __future__ import annotations

import bvh as pypi_bvh
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from src.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from src.motion import cli
from src.motion.bvh import forward_kinematics, matrix_to_euler, read_bvh
from src.motion.export import (
    CROP_FOCAL_PX,
    EULER_ORDER,
    FROM_CROP_CAMERA,
    FROM_RESULT_TRANS,
    STILL_FPS,
    continuous_euler,
    result_bvh,
    write_result_bvh,
)
from src.motion.retarget import rest_joints, retarget_bvh

MM = 1e-3
Y_UP = np.array([1.0, -1.0, -1.0])  # the documented axes: y and z of the camera negated


def _theta(n: int = 12, seed: int = 0, betas_jitter: float = 0.0) -> np.ndarray:
    """(n, 85) plausible predictions: a person roughly facing the camera (root about
    [pi, 0, 0], HMR's upright pose), joints within ~30 degrees, random betas."""
    rng = np.random.default_rng(seed)
    theta = np.zeros((n, 85))
    theta[:, 0] = rng.uniform(0.7, 1.1, n)  # crop camera scale s
    theta[:, 1:3] = rng.normal(scale=0.1, size=(n, 2))
    upright = Rotation.from_rotvec([np.pi, 0.0, 0.0])
    wobble = Rotation.from_rotvec(rng.normal(scale=0.2, size=(n, 3)))
    theta[:, 3:6] = (upright * wobble).as_rotvec()
    theta[:, 6:75] = rng.normal(scale=0.3, size=(n, 69))
    theta[:, 75:] = rng.normal(scale=1.0, size=10) + rng.normal(scale=betas_jitter, size=(n, 10))
    return theta


def _walk(n: int, seed: int = 1) -> np.ndarray:
    """(n, 3) camera-space translation in metres: across the image, 4-6 m away."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.array([-1.0, 0.3, 4.0]) + t * [2.0, 0.0, 2.0] + rng.normal(scale=0.01, size=(n, 3))


def _by_name(bvh, values: np.ndarray) -> np.ndarray:
    """(N, J, ...) values of a read BVH (file order) in SMPL_JOINT_NAMES order."""
    return values[:, [bvh.index(name) for name in SMPL_JOINT_NAMES]]


def _camera_joints(smpl, theta: np.ndarray) -> np.ndarray:
    """(N, 24, 3) the body model's posed skeleton joints, model space."""
    out = smpl(theta[:, 75:], theta[:, 3:75], joints_only=True)
    return out["smpl_joints"].numpy()


def test_exported_joints_are_the_body_models_posed_joints_within_1mm(tmp_path, params, smpl):
    theta, trans = _theta(), _walk(12)
    path, *_ = write_result_bvh(
        {"theta": theta, "trans": trans, "fps": 25.0}, params, tmp_path / "t.bvh"
    )
    back = read_bvh(path)
    got = _by_name(back, forward_kinematics(back)[0])
    want = (_camera_joints(smpl, theta) + trans[:, None]) * Y_UP
    err = np.linalg.norm(got - want, axis=-1)
    print(f"round-trip joint error: max {err.max() / MM:.5f} mm, mean {err.mean() / MM:.5f} mm")
    assert err.max() <= 1 * MM
    assert back.names[0] == "pelvis" and set(back.names) == set(SMPL_JOINT_NAMES)
    parents = {back.names[j]: back.names[p] for j, p in enumerate(back.parents) if p >= 0}
    assert parents == {
        SMPL_JOINT_NAMES[j]: SMPL_JOINT_NAMES[p] for j, p in enumerate(SMPL_PARENTS) if p >= 0
    }


def test_offsets_are_the_rest_skeleton_of_the_mean_betas_in_metres(tmp_path, params, smpl):
    theta = _theta(n=6, betas_jitter=0.5)  # betas differ per frame
    bvh, _ = result_bvh({"theta": theta, "fps": 30.0}, params)
    rest = smpl(theta[:, 75:], np.zeros((6, 72)), joints_only=True)["smpl_joints"].numpy()
    rest = rest.mean(axis=0)  # rest joints are linear in betas: those of the mean betas
    want = np.array(
        [rest[j] - rest[p] if p >= 0 else 0 * rest[j] for j, p in enumerate(SMPL_PARENTS)]
    )
    np.testing.assert_allclose(bvh.offsets, want, atol=1e-9)
    thigh = np.linalg.norm(bvh.offsets[SMPL_JOINT_NAMES.index("l_knee")])
    assert 0.2 < thigh < 0.6  # metres, not centimetres


def test_rotation_channels_are_intrinsic_zxy_degrees(params):
    theta = _theta(n=5, seed=3)
    bvh, _ = result_bvh({"theta": theta, "fps": 30.0}, params)
    assert EULER_ORDER == "ZXY"
    rotations = ("Zrotation", "Xrotation", "Yrotation")
    assert bvh.channels[0] == ("Xposition", "Yposition", "Zposition") + rotations
    assert all(c == rotations for c in bvh.channels[1:])
    angles = bvh.motion[:, 3:].reshape(5, 24, 3)
    # scipy: upper-case axes are intrinsic rotations, R = Rz(z) Rx(x) Ry(y)
    got = Rotation.from_euler("ZXY", angles.reshape(-1, 3), degrees=True)
    want = Rotation.from_rotvec(theta[:, 3:75].reshape(-1, 3)).as_matrix().reshape(5, 24, 3, 3)
    want[:, 0] = np.diag(Y_UP) @ want[:, 0]  # the root in Y-up axes
    diff = got.inv() * Rotation.from_matrix(want.reshape(-1, 3, 3))
    assert np.degrees(diff.magnitude()).max() < 1e-6


def test_a_person_facing_the_camera_stands_along_plus_y_facing_plus_z(params):
    theta = np.zeros((1, 85))
    theta[0, :3] = [1.0, 0.0, 0.0]
    theta[0, 3:6] = [np.pi, 0.0, 0.0]  # HMR's upright person facing the camera
    bvh, _ = result_bvh({"theta": theta, "trans": np.array([[0.0, 0.0, 5.0]])}, params)
    pos = forward_kinematics(bvh)[0][0]
    np.testing.assert_allclose(bvh.motion[0, 3:6], 0.0, atol=1e-6)  # root: no rotation left
    head, pelvis = pos[SMPL_JOINT_NAMES.index("head")], pos[SMPL_JOINT_NAMES.index("pelvis")]
    toe, ankle = pos[SMPL_JOINT_NAMES.index("l_foot")], pos[SMPL_JOINT_NAMES.index("l_ankle")]
    assert head[1] - pelvis[1] > 0.3  # up is +y
    assert toe[2] > ankle[2]  # toes point to +z: towards the camera
    assert pelvis[2] < -4.0  # 5 m in front of the camera, which looks along -z
    assert pos[SMPL_JOINT_NAMES.index("l_hip"), 0] > pelvis[0]  # the body's left on +x


def test_root_trajectory_without_trans_uses_the_crop_camera_at_5000_px(params):
    from src.geometry.camera import approx_translation

    theta = _theta(n=4)
    bvh, origin = result_bvh({"theta": theta, "fps": 30.0}, params)
    assert origin == FROM_CROP_CAMERA
    crop = approx_translation(theta[:, :3], CROP_FOCAL_PX, np.array([224, 224]))
    np.testing.assert_allclose(crop[:, 2], 2 * 5000.0 / (224 * theta[:, 0]))
    pelvis = rest_joints(params, theta[:, 75:].mean(axis=0))[0]
    np.testing.assert_allclose(bvh.motion[:, :3], (crop + pelvis) * Y_UP, atol=1e-9)
    assert result_bvh({"theta": theta, "trans": crop, "fps": 30.0}, params)[1] == FROM_RESULT_TRANS


def test_frame_time_is_one_over_the_video_fps(params):
    theta = _theta(n=3)
    assert result_bvh({"theta": theta, "fps": 25.0}, params)[0].frame_time == pytest.approx(0.04)
    assert result_bvh({"theta": theta, "fps": 25.0}, params, fps=50.0)[0].fps == pytest.approx(50)
    still = result_bvh({"theta": theta[:1], "fps": 0.0}, params)[0]  # the demo's image result
    assert still.fps == pytest.approx(STILL_FPS)
    with pytest.raises(ValueError, match="clip.npz: no frame rate"):
        result_bvh({"theta": theta, "fps": 0.0}, params, source="clip.npz")


def test_euler_angles_are_continuous_over_frames():
    n = 72  # no frame exactly at 90 degrees (gimbal lock: scipy warns and zeroes an angle)
    # a root turning 2.5 turns about y, and a joint rotating 0 -> 180 degrees about x (the
    # middle axis of ZXY: scipy's angles flip at 90 degrees)
    yaw = Rotation.from_euler("Y", np.linspace(0, 900, n)[:, None], degrees=True)
    roll = Rotation.from_euler("X", np.linspace(0, 180, n)[:, None], degrees=True)
    mats = np.stack([yaw.as_matrix(), roll.as_matrix()], axis=1)  # (n, 2, 3, 3)
    raw = matrix_to_euler(mats, EULER_ORDER)
    assert np.abs(np.diff(raw, axis=0)).max() > 170  # the jumps to remove
    smooth = continuous_euler(raw)
    assert np.abs(np.diff(smooth, axis=0)).max() <= 900 / (n - 1) + 1e-6  # the yaw's step
    np.testing.assert_allclose(smooth[:, 0, 2], np.linspace(0, 900, n), atol=1e-6)
    np.testing.assert_allclose(smooth[:, 1, 1], np.linspace(0, 180, n), atol=1e-6)
    same = Rotation.from_euler("ZXY", smooth.reshape(-1, 3), degrees=True).as_matrix()
    np.testing.assert_allclose(same, mats.reshape(-1, 3, 3), atol=1e-9)


def test_an_independent_parser_reads_the_same_skeleton_and_motion(tmp_path, params):
    theta, trans = _theta(n=7, seed=5), _walk(7)
    path, bvh, _ = write_result_bvh(
        {"theta": theta, "trans": trans, "fps": 29.97}, params, tmp_path / "p.bvh"
    )
    ours = read_bvh(path)
    theirs = pypi_bvh.Bvh(path.read_text())
    assert theirs.get_joints_names() == list(ours.names)
    assert theirs.nframes == 7 == bvh.num_frames
    assert theirs.frame_time == pytest.approx(1 / 29.97, abs=1e-8)
    for j, name in enumerate(ours.names):
        assert tuple(theirs.joint_channels(name)) == ours.channels[j]
        assert len(theirs.joint_channels(name)) == (6 if j == 0 else 3)
        np.testing.assert_allclose(theirs.joint_offset(name), ours.offsets[j])
        parent = theirs.joint_parent_index(name)
        assert parent == ours.parents[j]
        values = np.array(theirs.frames_joint_channels(name, list(ours.channels[j])))
        start = ours.channel_start(j)
        np.testing.assert_array_equal(values, ours.motion[:, start : start + len(values[0])])
        k = SMPL_JOINT_NAMES.index(name)  # and those are the exported values, to 1e-6
        want = bvh.motion[:, bvh.channel_start(k) : bvh.channel_start(k) + len(values[0])]
        np.testing.assert_allclose(values, want, atol=1e-6)


def test_retargeting_the_file_gives_back_the_pose(tmp_path, params):
    theta = _theta(n=5, seed=7)
    theta[:, 75:] = 0.0  # retargeting keeps the body model's own proportions (betas zeros)
    path, *_ = write_result_bvh({"theta": theta, "fps": 30.0}, params, tmp_path / "r.bvh")
    clip = retarget_bvh(read_bvh(path), rest_joints(params), fps=30.0)
    assert clip["skeleton"] == "smpl24"
    got = Rotation.from_rotvec(clip["poses"].reshape(-1, 3).astype(np.float64))
    want = Rotation.from_rotvec(theta[:, 3:75].reshape(-1, 3)).as_matrix().reshape(5, 24, 3, 3)
    want[:, 0] = np.diag(Y_UP) @ want[:, 0]
    diff = got.inv() * Rotation.from_matrix(want.reshape(-1, 3, 3))
    assert np.degrees(diff.magnitude()).max() < 0.01


# ------------------------------------------------------------------------------------------
# Command line


def _result_npz(path, body_path, **extra):
    theta = _theta(n=9)
    arrays = {"theta": theta.astype(np.float32), "trans": _walk(9).astype(np.float32)}
    arrays.update(fps=np.float64(30.0), body_model=np.asarray(str(body_path)), **extra)
    np.savez(path, **arrays)
    return path


def test_export_command_writes_the_bvh(tmp_path, body_path, capsys):
    npz = _result_npz(tmp_path / "hmmr_output.npz", body_path)
    out = tmp_path / "clip.bvh"
    assert cli.run(["export", str(npz), "--bvh", str(out)]) == 0
    text = capsys.readouterr().out
    assert "9 frames at 30 fps" in text and str(body_path) in text and str(out) in text
    back = read_bvh(out)
    assert back.num_frames == 9 and back.frame_time == pytest.approx(1 / 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.bvh", "hmmr_output.npz"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "result file not found"),
        ("no_theta", "no 'theta' array"),
        ("garbage", "not a readable .npz"),
        ("bad_shape", "'theta' has shape (9, 72)"),
        ("no_fps", "no frame rate"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(
    tmp_path, body_path, capsys, case, message
):
    npz = tmp_path / "result.npz"
    if case == "no_theta":
        np.savez(npz, trans=np.zeros((9, 3)), fps=30.0)
    elif case == "garbage":
        npz.write_bytes(b"not a zip file")
    elif case == "bad_shape":
        np.savez(npz, theta=np.zeros((9, 72)), fps=30.0)
    elif case == "no_fps":
        np.savez(npz, theta=_theta(n=9))
    out = tmp_path / "out" / "clip.bvh"
    args = ["export", str(npz), "--bvh", str(out), "--smpl_model_path", str(body_path)]
    assert cli.run(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "result.npz" in err and message in err, err
    assert not out.parent.exists()


def test_output_must_be_a_bvh_file(tmp_path, body_path, capsys):
    npz = _result_npz(tmp_path / "r.npz", body_path)
    assert cli.run(["export", str(npz), "--bvh", str(tmp_path / "clip.txt")]) == 1
    assert "clip.txt: the output must end in .bvh" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]
