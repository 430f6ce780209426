"""Quick data: records readable by the schema, keypoints = the body model's joints through the
track's camera, phi a fixed linear function of theta (so the losses can go down)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.data import schema
from src.training import make_quick_data as mq


@pytest.fixture(scope="module")
def tracks(quick_data):
    from pathlib import Path

    out = {}
    for name in (mq.QUICK_3D, mq.QUICK_2D):
        files = sorted((Path(quick_data) / name / "train").glob("*.tfrecord"))
        assert len(files) == 2
        out[name] = [
            schema.parse_example_np(r.numpy(), str(f))
            for f in files
            for r in tf.data.TFRecordDataset(str(f))
        ]
    return out


def test_sides_hold_the_requested_tracks_and_labels(tracks):
    assert len(tracks[mq.QUICK_3D]) == len(tracks[mq.QUICK_2D]) == 4
    for track in tracks[mq.QUICK_3D]:
        assert track["kp2d"].shape == (12, 25, 3) and track["phi"].shape == (12, 2048)
        assert track["has_smpl"] == 1 and track["has_3d_joints"] == 1
    for track in tracks[mq.QUICK_2D]:
        assert track["has_smpl"] == 0 and track["has_3d_joints"] == 0
        assert 0.5 < track["kp2d"][..., 2].mean() < 1.0  # some keypoints hidden


def test_keypoints_are_the_joints_through_a_weak_perspective_camera(tracks, small_standin):
    from src.smpl import SMPL

    smpl = SMPL(small_standin)
    track = tracks[mq.QUICK_3D][0]
    out = smpl(tf.constant(np.repeat(track["shape"][None], 12, 0)), tf.constant(track["pose"]))
    joints = out["joints"].numpy().astype(np.float64)
    np.testing.assert_allclose(track["joints3d"], joints[:, :14], atol=1e-5)
    vis = track["kp2d"][..., 2] > 0
    # solve s, t per frame from the keypoints by least squares, then check the fit is exact
    for t in range(12):
        x, y = joints[t, vis[t], :2], track["kp2d"][t, vis[t], :2]
        a = np.concatenate(
            [
                np.concatenate([x[:, :1], np.ones_like(x[:, :1]), 0 * x[:, :1]], 1),
                np.concatenate([x[:, 1:], 0 * x[:, :1], np.ones_like(x[:, :1])], 1),
            ]
        )
        b = np.concatenate([y[:, 0], y[:, 1]])
        sol, *_ = np.linalg.lstsq(a, b, rcond=None)
        np.testing.assert_allclose(a @ sol, b, atol=1e-5)
        assert 0.7 < sol[0] < 1.3
    assert np.all(track["kp2d"][~vis] == 0)


def test_phi_is_a_linear_function_of_theta_plus_small_noise(tracks):
    theta_rows, phi_rows = [], []
    for track in tracks[mq.QUICK_3D]:
        vis = track["kp2d"][..., 2] > 0
        assert vis.any(axis=1).all()
        phi_rows.append(track["phi"])
        pose = track["pose"]
        theta_rows.append(
            np.concatenate([np.zeros((12, 3)), pose, np.repeat(track["shape"][None], 12, 0)], 1)
        )
    phi_map = mq._phi_map(0)
    phi = np.concatenate(phi_rows)
    residual = phi - np.concatenate(theta_rows) @ phi_map
    # what is left is the camera's share and the noise: small next to phi itself
    assert np.std(residual) < 0.5 * np.std(phi)


def test_generation_is_deterministic(tmp_path, small_standin):
    a = mq.make_quick_data(tmp_path / "a", 2, 8, 1, 20, seed=3, smpl_model_path=small_standin)
    b = mq.make_quick_data(tmp_path / "b", 2, 8, 1, 20, seed=3, smpl_model_path=small_standin)
    for name in a:
        for fa, fb in zip(a[name], b[name], strict=True):
            assert fa.read_bytes() == fb.read_bytes()
    assert mq.has_records(tmp_path / "a") and not mq.has_records(tmp_path / "c")


def test_reduced_phi_width_is_written_and_read_back(tmp_path, small_standin):
    written = mq.make_quick_data(
        tmp_path, 2, 8, 1, 20, seed=3, smpl_model_path=small_standin, phi_dim=64
    )
    for name in (mq.QUICK_3D, mq.QUICK_2D):
        for record in tf.data.TFRecordDataset(str(written[name][0])):
            assert schema.parse_example_np(record.numpy())["phi"].shape == (8, 64)
            parsed = schema.parse_track_tf(record, phi_dim=64)
            assert parsed["phi"].shape == (8, 64)
    assert mq._phi_map(3, 64).shape == (85, 64)
