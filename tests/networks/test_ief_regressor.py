"""IEF regressor (§3.5) and its mean theta (§3.7) against float64 NumPy."""

import h5py
import numpy as np
import pytest

from src.networks.ief_regressor import IEFRegressor, initial_mean_theta, read_mean_params

from . import numpy_reference as ref
from .helpers import dense_params, np64, randomize_weights

D, HIDDEN = 24, 16


def _ief(seed=0, **kw):
    ief = IEFRegressor(feature_dim=D, hidden=HIDDEN, **kw)
    ief.build((None, D))
    randomize_weights(ief, seed)
    return ief


def _fcs(ief):
    return [dense_params(fc) for fc in (ief.fc1, ief.fc2, ief.fc3)]


def test_initial_mean_theta_default_is_camera_and_upright_root():
    want = np.zeros((1, 85))
    want[0, :6] = [0.9, 0, 0, np.pi, 0, 0]
    got = initial_mean_theta()
    assert got.dtype == np.float32 and got.shape == (1, 85)
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_initial_mean_theta_reads_h5_and_overrides_root(tmp_path):
    rng = np.random.default_rng(0)
    pose, shape = rng.normal(size=72), rng.normal(size=10)
    path = tmp_path / "neutral_smpl_meanwjoints.h5"
    with h5py.File(path, "w") as f:
        f["pose"], f["shape"] = pose, shape
    want = np.concatenate([[0.9, 0, 0, np.pi, 0, 0], pose[3:], shape])[None]
    np.testing.assert_allclose(initial_mean_theta(path), want, atol=1e-6)
    np.testing.assert_allclose(initial_mean_theta(str(path)), want, atol=1e-6)
    np.testing.assert_allclose(initial_mean_theta(pose, shape), want, atol=1e-6)
    got_pose, got_shape = read_mean_params(path)
    np.testing.assert_array_equal(got_pose, pose)
    np.testing.assert_array_equal(got_shape, shape)


def test_mean_params_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_mean_params(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["pose"] = np.zeros(71)
        f["shape"] = np.zeros(10)
    with pytest.raises(ValueError, match="bad.h5.*pose.*72"):
        read_mean_params(bad)
    missing = tmp_path / "missing.h5"
    with h5py.File(missing, "w") as f:
        f["pose"] = np.zeros(72)
    with pytest.raises(ValueError, match="missing.h5"):
        read_mean_params(missing)


def test_ief_three_shared_stages_match_numpy_from_mean_theta():
    ief = _ief(seed=1)
    feats = np.random.default_rng(2).normal(size=(5, D))
    theta0 = np.tile(np64(ief.mean_theta), (5, 1))
    want = ref.ief(feats, theta0, _fcs(ief), num_stages=3)
    got = ief(feats.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    # a single stage would be far from it: the iterations really are applied
    assert np.abs(ref.ief(feats, theta0, _fcs(ief), 1) - want).max() > 1e-2


def test_ief_from_explicit_start_with_72_outputs():
    ief = _ief(seed=3, output_dim=72, learn_mean=False)
    rng = np.random.default_rng(4)
    feats, start = rng.normal(size=(4, D)), rng.normal(size=(4, 72))
    want = ref.ief(feats, start, _fcs(ief), 3)
    got = ief(feats.astype(np.float32), start.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert ief.mean_theta is None and ief.fc1.kernel.shape == (D + 72, HIDDEN)
    with pytest.raises(ValueError):
        ief(feats.astype(np.float32))


def test_dropout_only_in_training():
    ief = _ief(seed=5)
    feats = np.random.default_rng(6).normal(size=(64, D)).astype(np.float32)
    infer = ief(feats, training=False).numpy()
    np.testing.assert_array_equal(infer, ief(feats).numpy())
    train_a, train_b = ief(feats, training=True).numpy(), ief(feats, training=True).numpy()
    assert np.abs(train_a - infer).max() > 1e-3
    assert np.abs(train_a - train_b).max() > 1e-3


def test_initialisers_and_trainable_mean_theta():
    ief = IEFRegressor(feature_dim=2048, hidden=1024)
    ief.build((None, 2048))
    assert ief.fc1.kernel.shape == (2133, 1024)
    fc3 = ief.fc3.kernel.numpy()
    limit = np.sqrt(3 * 0.01 / ((1024 + 85) / 2))
    assert 0.95 * limit < np.abs(fc3).max() <= limit
    glorot = np.sqrt(6 / (2133 + 1024))
    assert 0.95 * glorot < np.abs(ief.fc1.kernel.numpy()).max() <= glorot
    assert not any(fc.bias.numpy().any() for fc in (ief.fc1, ief.fc2, ief.fc3))
    assert any(w is ief.mean_theta for w in ief.trainable_weights)
    np.testing.assert_array_equal(ief.mean_theta.numpy(), initial_mean_theta())
    ief.set_mean_theta(np.arange(85.0))
    np.testing.assert_array_equal(ief.mean_theta.numpy(), np.arange(85.0)[None])
