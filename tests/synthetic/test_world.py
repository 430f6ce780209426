"""The synthetic world: exact ground truth, a frozen phi network, per-frame noise, tiers split by
subject in the original schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from src import constants
from src.data import schema
from src.smpl.standin import default_standin_path
from src.synthetic import world as W

SMALL = W.WorldConfig(
    tracks_3d=6,
    tracks_2d=6,
    track_frames=24,
    test_max_frames=30,
    mocap_samples=50,
    test_subjects=1,
    encoder_hidden=64,
    phi_dim=32,
)


def _walk(num_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 72) poses, (N, 3) trans of a made-up gait: legs and arms swing, root turns slowly."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / 30.0
    poses = np.zeros((num_frames, 72))
    poses[:, 1] = 0.3 * t + rng.uniform(0, 6)  # root yaw
    swing = 0.5 * np.sin(2 * np.pi * t)
    for joint, sign in ((1, 1), (2, -1), (16, -1), (17, 1)):  # hips, shoulders
        poses[:, 3 * joint] = sign * swing
    poses[:, 3 * 4] = poses[:, 3 * 5] = 0.4 * (1 + np.sin(2 * np.pi * t))  # knees
    trans = np.stack([np.zeros_like(t), 0.02 * np.sin(4 * np.pi * t), 1.2 * t], axis=1)
    return poses, trans


def _clips() -> list[W.Clip]:
    clips = []
    for subject in (1, 2, 3, 4):
        for trial in (1, 2):
            poses, trans = _walk(40 + 10 * trial, seed=subject * 10 + trial)
            clips.append(W.Clip(f"{subject:02d}_{trial:02d}", subject, poses, trans))
    return clips


@pytest.fixture(scope="module")
def body() -> W.BodyJoints:
    return W.BodyJoints(default_standin_path())


def test_split_is_by_subject_disjoint_and_seeded():
    split = W.split_subjects(range(1, 21), num_test=4, seed=7)
    groups = [set(split[k]) for k in ("test", "train_3d", "train_2d")]
    assert sum(len(g) for g in groups) == 20
    assert set().union(*groups) == set(range(1, 21))
    assert len(split["test"]) == 4
    assert split == W.split_subjects(list(range(20, 0, -1)), num_test=4, seed=7)
    assert split != W.split_subjects(range(1, 21), num_test=4, seed=8)
    with pytest.raises(ValueError, match="subjects"):
        W.split_subjects([1, 2], num_test=2, seed=0)


def test_root_rotation_is_expressed_in_the_camera_frame():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.7, (5, 72))
    view = Rotation.random(5, random_state=1).as_matrix()
    out = W.pose_in_camera(poses, view)
    expected = view @ Rotation.from_rotvec(poses[:, :3]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(out[:, :3]).as_matrix(), expected, atol=1e-9)
    np.testing.assert_array_equal(out[:, 3:], poses[:, 3:])


def test_camera_is_upright_and_moves_smoothly():
    view, scale, pan = W.camera_path(np.random.default_rng(3), 90, W.WorldConfig())
    np.testing.assert_allclose(
        view @ view.transpose(0, 2, 1), np.tile(np.eye(3), (90, 1, 1)), atol=1e-9
    )
    up_in_image = view @ np.array([0.0, 1.0, 0.0])  # world up -> image up is y < 0
    assert np.all(up_in_image[:, 1] < -0.9)
    assert np.all(np.abs(np.diff(scale)) < 0.01) and np.all(np.abs(np.diff(pan, axis=0)) < 0.01)
    assert np.ptp(np.arctan2(view[:, 0, 2], view[:, 2, 2])) > 0  # it orbits


def test_rendered_track_ground_truth_is_exact(body):
    clip = _clips()[0]
    cfg = dataclasses.replace(SMALL, hard_fraction=0.0)
    enc = W.FrozenEncoder(W.observation_dim(), cfg.encoder_hidden, cfg.phi_dim, cfg.encoder_seed)
    r = W.render_track(clip, 5, 20, np.random.default_rng(0), body, enc, cfg)
    theta = r["theta"]
    # theta reproduces the keypoints through the network's own weak-perspective camera
    joints = body(theta[0, constants.SHAPE_SLICE], theta[:, constants.POSE_SLICE])
    cam = theta[:, constants.CAM_SLICE]
    projected = cam[:, None, :1] * (joints[..., :2] + cam[:, None, 1:])
    np.testing.assert_allclose(projected, r["kp2d"], atol=1e-6)
    assert np.all(theta[:, constants.SHAPE_SLICE] == theta[:1, constants.SHAPE_SLICE])
    # 3D joints: the same body plus the camera-frame root trajectory (rigid per frame)
    offset = r["joints3d"] - joints
    np.testing.assert_allclose(offset, offset[:, :1].repeat(25, axis=1), atol=1e-6)
    assert np.linalg.norm(offset[-1, 0] - offset[0, 0]) > 0.3  # the person walks 1.2 m/s
    # the pelvis sits near the crop centre; the body fills a reasonable part of the crop
    pelvis = 0.5 * (r["kp2d"][:, 2] + r["kp2d"][:, 3])
    assert np.all(np.abs(pelvis) < 0.1)
    assert 0.5 < np.ptp(r["kp2d"][..., 1], axis=1).mean() < 1.9
    assert r["phi"].shape == (20, cfg.phi_dim) and r["phi"].dtype == np.float32


def test_phi_network_is_frozen_by_its_own_seed():
    a = W.FrozenEncoder(10, 16, 8, seed=5)
    b = W.FrozenEncoder(10, 16, 8, seed=5)
    z = np.random.default_rng(0).normal(size=(4, 10))
    np.testing.assert_array_equal(a(z), b(z))
    assert not np.allclose(a(z), W.FrozenEncoder(10, 16, 8, seed=6)(z))


def test_frame_noise_is_independent_across_frames_and_hard_frames_are_noisier(body):
    poses = np.zeros((400, 72))  # a still body: all change of phi is noise
    clip = W.Clip("still", 1, poses, np.zeros((400, 3)))
    cfg = dataclasses.replace(SMALL, orbit_rate=0.0, hard_fraction=0.2)
    enc = W.FrozenEncoder(W.observation_dim(), cfg.encoder_hidden, cfg.phi_dim, cfg.encoder_seed)
    rng = np.random.default_rng(1)
    r = W.render_track(clip, 0, 400, rng, body, enc, cfg)
    residual = r["phi"] - r["phi"].mean(axis=0)
    # the camera still zooms and pans slowly: remove that with a short moving average
    kernel = np.ones(9) / 9
    smooth = np.stack([np.convolve(c, kernel, mode="same") for c in residual.T], axis=1)
    noise = (residual - smooth)[10:-10]
    lag1 = np.mean([np.corrcoef(c[:-1], c[1:])[0, 1] for c in noise.T])
    assert abs(lag1 + 1 / 8) < 0.1  # white noise after a 9-tap moving average: -1/8
    hard = r["hard"][10:-10]
    assert 0.1 < r["hard"].mean() < 0.3
    energy = np.linalg.norm(noise, axis=1)
    assert energy[hard].mean() > 1.5 * energy[~hard].mean()


def _records(path) -> list[dict]:
    return [
        schema.parse_example_np(r) for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()
    ]


def test_world_tiers_schema_split_and_resume(tmp_path, body):
    out = tmp_path / "world"
    manifest = W.write_world(_clips(), out, SMALL, default_standin_path(), progress=False)
    split = manifest["split"]
    test_subjects = set(split["test"])

    def subjects(tracks: list[dict]) -> set[int]:
        return {int(name.split("_")[0]) for t in tracks for name in t["filenames"]}

    three_d = [
        t for p in sorted((out / W.TIER_3D / "train").glob("*.tfrecord")) for t in _records(p)
    ]
    two_d = [t for p in sorted((out / W.TIER_2D / "train").glob("*.tfrecord")) for t in _records(p)]
    assert len(three_d) == SMALL.tracks_3d and len(two_d) == SMALL.tracks_2d
    assert subjects(three_d) == set(split["train_3d"]) or subjects(three_d) < set(split["train_3d"])
    assert subjects(two_d) <= set(split["train_2d"]) and not subjects(two_d) & test_subjects
    for track in three_d:
        assert track["has_smpl"] == 1 and track["has_3d_joints"] == 1
        assert track["phi"].shape == (SMALL.track_frames, SMALL.phi_dim)
        kp = track["kp2d"]
        assert np.all(np.abs(kp[..., :2]) <= 1.0)
        assert np.all(kp[kp[..., 2] == 0] == 0)  # invisible rows all zero
    for track in two_d:
        assert track["has_smpl"] == 0 and track["has_3d_joints"] == 0
        assert not track["kp2d"][:, 14:, 2].any()  # no face or toe labels
    tests = sorted((out / W.TIER_3D / "test").glob("*.tfrecord"))
    assert tests and all(int(p.stem.split("_")[0]) in test_subjects for p in tests)
    vals = sorted((out / W.TIER_3D / "val").glob("*.tfrecord"))
    train_subjects = set(split["train_3d"]) | set(split["train_2d"])
    assert {int(p.stem.split("_")[0]) for p in vals} == train_subjects  # one clip per subject
    assert manifest["clips"]["val"] == [p.stem for p in vals]
    tube = _records(tests[0])[0]
    assert tube["kp2d"][..., :2].max() > 2.0  # crop pixels, not normalised
    assert tube["time_pts"].tolist() == [0, tube["N"]] and tube["joints3d"].shape[1] == 14
    mocap = list(
        tf.data.TFRecordDataset(str(out / W.MOCAP_DIR / f"neutrSMPL_{W.MOCAP_NAME}_000.tfrecord"))
    )
    assert len(mocap) == SMALL.mocap_samples
    # resumable: a second call keeps the finished files
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.tfrecord")}
    W.write_world(_clips(), out, SMALL, default_standin_path(), progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.tfrecord")} == stamps
    with pytest.raises(ValueError, match="other settings"):
        W.write_world(
            _clips(),
            out,
            dataclasses.replace(SMALL, seed=9),
            default_standin_path(),
            progress=False,
        )
