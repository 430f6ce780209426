"""Past/future regressors (§3.6) against float64 NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from src.networks.delta_predictor import DeltaPredictor, delta_scope_name

from . import numpy_reference as ref
from .helpers import dense_params, randomize_weights

D, HIDDEN = 24, 16


def _predictor(dt, seed):
    p = DeltaPredictor(dt, feature_dim=D, hidden=HIDDEN)
    p.build((None, D))
    randomize_weights(p, seed)
    return p


def test_delta_predictor_matches_numpy_and_assembles_theta():
    p = _predictor(-5, seed=0)
    rng = np.random.default_rng(1)
    feats, present = rng.normal(size=(6, D)), rng.normal(size=(6, 85))
    fcs = [dense_params(fc) for fc in (p.ief.fc1, p.ief.fc2, p.ief.fc3)]
    want = ref.delta_theta(feats, present, fcs, 3)
    got = p(feats.astype(np.float32), present.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(got[:, :3], np.tile([1.0, 0.0, 0.0], (6, 1)))
    np.testing.assert_allclose(got[:, 75:], present[:, 75:], atol=1e-7)
    assert p.ief.fc1.kernel.shape == (D + 72, HIDDEN) and p.ief.fc3.kernel.shape == (HIDDEN, 72)


def test_gradient_reaches_the_present_prediction():
    p = _predictor(5, seed=2)
    present = tf.Variable(np.random.default_rng(3).normal(size=(2, 85)), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(p(tf.ones((2, D)), present)[:, 3:75] ** 2)
    grad = tape.gradient(loss, present).numpy()
    assert np.abs(grad[:, 3:75]).max() > 0  # pose start (use_delta_from_pred)
    assert not grad[:, :3].any()  # the present camera does not enter


def test_scope_names_follow_the_original():
    assert delta_scope_name(-5) == "past5" and delta_scope_name(5) == "future5"
    assert DeltaPredictor(-5).name == "delta_predictor_past5"
    assert DeltaPredictor(10).name == "delta_predictor_future10"
    with pytest.raises(ValueError):
        delta_scope_name(0)
