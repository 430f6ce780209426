"""Hallucinator fc2_res (§3.4) against float64 NumPy."""

import numpy as np

from src.networks.hallucinator import Hallucinator

from . import numpy_reference as ref
from .helpers import dense_params, randomize_weights


def test_hallucinator_matches_numpy_framewise():
    hal = Hallucinator(phi_dim=24, hidden=16)
    hal.build((None, None, 24))
    randomize_weights(hal, 0)
    phi = np.random.default_rng(1).normal(size=(2, 7, 24))
    fcs = [dense_params(fc) for fc in (hal.fc1, hal.fc2, hal.fc3)]
    want = ref.hallucinator(phi.reshape(-1, 24), fcs).reshape(phi.shape)
    got = hal(phi.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert np.abs(want - phi).max() > 0.1
    # per frame: a single frame alone gives the same answer
    np.testing.assert_allclose(hal(phi[:, 3].astype(np.float32)).numpy(), got[:, 3], atol=1e-6)


def test_hallucinator_initialisers():
    width = 256
    hal = Hallucinator(phi_dim=width, hidden=width)
    hal.build((None, width))
    limit = np.sqrt(3 * 0.001 / width)  # fan_avg = (256 + 256) / 2
    assert 0.95 * limit < np.abs(hal.fc3.kernel.numpy()).max() <= limit
    glorot = np.sqrt(6 / (2 * width))
    assert 0.95 * glorot < np.abs(hal.fc1.kernel.numpy()).max() <= glorot
    assert not any(fc.bias.numpy().any() for fc in (hal.fc1, hal.fc2, hal.fc3))
