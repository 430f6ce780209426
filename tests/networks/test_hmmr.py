"""HMMR assembly (§3.1): temporal and hallucinated branches vs a float64 NumPy pipeline,
single-image mode, full-size parameter counts, Keras serialisation of every network."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.networks import (
    HMMR,
    DeltaPredictor,
    Hallucinator,
    IEFRegressor,
    ModelConfig,
    PoseDiscriminator,
    TemporalEncoder,
)

from . import numpy_reference as ref
from .helpers import dense_params, np64, randomize_weights

SMALL = ModelConfig(phi_dim=32, gn_groups=8, ief_hidden=16, hallucinator_hidden=24)


@pytest.fixture(scope="module")
def model():
    m = HMMR(SMALL)
    m.build((None, None, SMALL.phi_dim))
    randomize_weights(m, seed=0)
    return m


def _te_params(enc):
    return [
        {
            f"{k}_{w}": np64(getattr(b[k], attr))
            for k in ("gn1", "gn2", "conv1", "conv2")
            for w, attr in (
                (("gamma", "gamma"), ("beta", "beta"))
                if k.startswith("gn")
                else (("k", "kernel"), ("b", "bias"))
            )
        }
        for b in enc.blocks
    ]


def _fcs(ief):
    return [dense_params(fc) for fc in (ief.fc1, ief.fc2, ief.fc3)]


def _np_regress(m, strip2d):
    theta0 = np.tile(np64(m.ief_regressor.mean_theta), (strip2d.shape[0], 1))
    theta = ref.ief(strip2d, theta0, _fcs(m.ief_regressor), SMALL.num_ief_stages)
    deltas = [
        ref.delta_theta(strip2d, theta, _fcs(p.ief), SMALL.num_ief_stages)
        for p in m.delta_predictors
    ]
    return theta, np.stack(deltas, axis=1)


def test_call_matches_numpy_pipeline_for_both_branches(model):
    b, t, d = 2, 9, SMALL.phi_dim
    phi = np.random.default_rng(1).normal(size=(b, t, d))
    out = model(phi.astype(np.float32), hallucinate=True)
    strip = ref.temporal_encoder(phi, _te_params(model.temporal_encoder), 8, SMALL.gn_epsilon)
    hal_fcs = _fcs(model.hallucinator)
    strip_hal = ref.hallucinator(phi.reshape(-1, d), hal_fcs).reshape(b, t, d)
    theta, theta_delta = _np_regress(model, strip.reshape(-1, d))
    theta_hal, theta_hal_delta = _np_regress(model, strip_hal.reshape(-1, d))
    want = {
        "movie_strip": strip,
        "theta": theta.reshape(b, t, 85),
        "theta_delta": theta_delta.reshape(b, t, 2, 85),
        "movie_strip_hal": strip_hal,
        "theta_hal": theta_hal.reshape(b, t, 85),
        "theta_hal_delta": theta_hal_delta.reshape(b, t, 2, 85),
    }
    assert sorted(out) == sorted(want)
    for key, value in want.items():
        np.testing.assert_allclose(out[key].numpy(), value, atol=2e-4, rtol=2e-4, err_msg=key)
    assert sorted(model(phi.astype(np.float32))) == ["movie_strip", "theta", "theta_delta"]


def test_delta_index_0_is_past_and_1_is_future():
    m = HMMR(ModelConfig(phi_dim=16, gn_groups=4, ief_hidden=8, delta_t_values=(5, -5)))
    assert [p.delta_t for p in m.delta_predictors] == [-5, 5]
    assert [p.name for p in m.delta_predictors] == [
        "delta_predictor_past5",
        "delta_predictor_future5",
    ]


def test_predict_single_is_the_hallucinated_branch(model):
    phi = np.random.default_rng(2).normal(size=(5, SMALL.phi_dim)).astype(np.float32)
    single = model.predict_single(phi)
    seq = model(phi[:, None], hallucinate=True)
    np.testing.assert_allclose(single["theta"], seq["theta_hal"][:, 0], atol=1e-5)
    np.testing.assert_allclose(single["theta_delta"], seq["theta_hal_delta"][:, 0], atol=1e-5)
    np.testing.assert_allclose(single["movie_strip_hal"], seq["movie_strip_hal"][:, 0], atol=1e-6)
    assert single["theta_delta"].shape == (5, 2, 85)


def test_training_flag_only_drops_out_in_the_regressors(model):
    phi = np.random.default_rng(3).normal(size=(2, 6, SMALL.phi_dim)).astype(np.float32)
    infer, train = model(phi), model(phi, training=True)
    np.testing.assert_array_equal(infer["movie_strip"], train["movie_strip"])
    assert np.abs(infer["theta"] - train["theta"]).max() > 1e-3


def test_rejects_wrong_feature_width(model):
    with pytest.raises(ValueError, match=r"\(B, T, 32\)"):
        model(np.zeros((1, 4, 31), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 32\)"):
        model.predict_single(np.zeros((2, 4, 32), np.float32))


def test_parameter_counts_at_full_size():
    d, h, k = 2048, 1024, 3  # phi, IEF hidden, temporal kernel (§3.3-§3.6)
    theta, pose = 85, 72
    te = 6 * (k * d * d + d) + 6 * 2 * d  # 6 convs with bias + 6 GroupNorms (gamma, beta)
    hal = 3 * (d * d + d)
    ief_present = ((d + theta) * h + h) + (h * h + h) + (h * theta + theta) + theta  # + mean
    ief_delta = ((d + pose) * h + h) + (h * h + h) + (h * pose + pose)
    assert te == 75_534_336 and hal == 12_589_056
    assert ief_present == 3_322_026 and ief_delta == 3_295_304

    m = HMMR(ModelConfig())
    m.build((None, None, d))
    assert m.temporal_encoder.count_params() == te
    assert m.hallucinator.count_params() == hal
    assert m.ief_regressor.count_params() == ief_present
    assert [p.count_params() for p in m.delta_predictors] == [ief_delta, ief_delta]
    assert m.count_params() == te + hal + ief_present + 2 * ief_delta == 98_036_026
    assert m.ief_regressor.fc1.kernel.shape == (2133, 1024)
    assert m.delta_predictors[0].ief.fc1.kernel.shape == (2120, 1024)

    j, jh, ah = 23, 32, 1024  # §3.9
    disc = (9 * jh + jh) + (jh * jh + jh) + j * (jh + 1)
    disc += (j * jh * ah + ah) + (ah * ah + ah) + (ah + 1)
    assert disc == 1_807_448
    pd = PoseDiscriminator.from_model_config(ModelConfig())
    pd.build()
    assert pd.count_params() == disc


def _roundtrip(tmp_path, keras_model, inputs):
    path = tmp_path / f"{keras_model.name}.keras"
    keras_model.save(path)
    loaded = keras.saving.load_model(path)
    return keras_model(inputs), loaded(inputs), loaded


def test_hmmr_saves_and_loads_with_identical_outputs(model, tmp_path):
    phi = np.random.default_rng(4).normal(size=(2, 7, SMALL.phi_dim)).astype(np.float32)
    before, after, loaded = _roundtrip(tmp_path, model, phi)
    assert isinstance(loaded, HMMR) and loaded.config == SMALL
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    clone = HMMR.from_config(model.get_config())
    assert clone.config == SMALL and clone.name == model.name


def test_discriminator_saves_and_loads_with_identical_outputs(tmp_path):
    disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
    disc.build()
    randomize_weights(disc, 5)
    rots = np.random.default_rng(6).normal(size=(3, 23, 3, 3)).astype(np.float32)
    before, after, loaded = _roundtrip(tmp_path, disc, rots)
    np.testing.assert_array_equal(before, after)
    assert isinstance(loaded, PoseDiscriminator) and loaded.joint_hidden == 8


@pytest.mark.parametrize(
    "make, input_shapes",
    [
        (lambda: TemporalEncoder(phi_dim=16, gn_groups=4, num_conv_layers=2), [(None, 16)]),
        (lambda: Hallucinator(phi_dim=16, hidden=8), [(16,)]),
        (lambda: IEFRegressor(feature_dim=16, hidden=8, num_stages=2), [(16,)]),
        (lambda: DeltaPredictor(-3, feature_dim=16, hidden=8), [(16,), (85,)]),
    ],
    ids=["temporal_encoder", "hallucinator", "ief_regressor", "delta_predictor"],
)
def test_layers_round_trip_config_and_keras_file(make, input_shapes, tmp_path):
    layer = make()
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inputs = [keras.Input(s) for s in input_shapes]
    model_inputs = inputs if len(inputs) > 1 else inputs[0]
    wrapper = keras.Model(model_inputs, layer(*inputs), name="wrapper")
    randomize_weights(wrapper, 7)
    rng = np.random.default_rng(8)
    data = [rng.normal(size=(3,) + tuple(5 if d is None else d for d in s)) for s in input_shapes]
    data = [x.astype(np.float32) for x in data]
    before, after, loaded = _roundtrip(tmp_path, wrapper, data if len(data) > 1 else data[0])
    np.testing.assert_array_equal(before, after)
    assert isinstance(loaded.layers[-1], layer.__class__)


def test_traces_once_for_unknown_batch_and_length(model):
    spec = tf.TensorSpec((None, None, SMALL.phi_dim), tf.float32)
    fn = tf.function(
        lambda phi: model(phi, training=True, hallucinate=True), input_signature=[spec]
    )
    for shape in ((1, 5), (3, 20)):
        phi = np.random.default_rng(sum(shape)).normal(size=shape + (SMALL.phi_dim,))
        out = fn(tf.constant(phi, tf.float32))
        assert out["theta_hal_delta"].shape == shape + (2, 85)
        np.testing.assert_allclose(
            out["movie_strip"], model(phi.astype(np.float32))["movie_strip"], atol=1e-5
        )
    assert fn.experimental_get_tracing_count() == 1
