"""Trainer: the step against closed forms (Adam, weighted totals, step count), initialisation
from weights folders (§3.10), body-model and pretrained-path resolution."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.checkpoints import weights_dir
from src.inference.models import build_hmmr
from src.losses.hmmr_losses import LossConfig
from src.losses.weights import LossWeights
from src.networks.config import ModelConfig
from src.training import trainer as tr
from tests.training.helpers import TINY_B, TINY_MODEL, TINY_T, synthetic_batch

E_LR, D_LR = 1e-3, 2e-3


def make_trainer(smpl_path, **loss_switches) -> tr.Trainer:
    import keras

    keras.utils.set_random_seed(5)
    switches = dict(do_hallucinate=True, do_hallucinate_preds=True)
    switches.update(loss_switches)
    return tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**TINY_MODEL),
        LossWeights(),
        LossConfig(**switches),
        tr.TrainSettings(TINY_B, TINY_T, E_LR, D_LR),
        smpl_path,
    )


@pytest.fixture(scope="module")
def trainer(small_standin) -> tr.Trainer:
    return make_trainer(small_standin)


def batch_for(trainer: tr.Trainer, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return synthetic_batch(rng, TINY_B, TINY_T, TINY_MODEL["phi_dim"], trainer.mocap_batch_size)


def adam_first_step(w, g, lr):
    """Adam's first update in closed form (TF1 AdamOptimizer, epsilon-hat 1e-8)."""
    m, v = 0.1 * g, 0.001 * g * g
    alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    return w - alpha * m / (np.sqrt(v) + 1e-8)


def test_mocap_batch_matches_the_fake_count(trainer):
    # present, 2 deltas, hallucinated present and 2 hallucinated deltas: 6 B T (960 for 8 x 20)
    assert trainer.mocap_batch_size == 6 * TINY_B * TINY_T


@pytest.mark.slow
def test_first_step_is_adam_on_both_gradients_of_the_same_forward(small_standin):
    trainer = make_trainer(small_standin)
    batch = trainer.distribute_batch(batch_for(trainer))
    before_e = [v.numpy() for v in trainer.encoder_variables]
    before_d = [v.numpy() for v in trainer.discriminator_variables]
    e_grads, d_grads = trainer.global_gradients(batch)
    trainer.train_step(batch)
    for w, g, v in zip(before_e, e_grads, trainer.encoder_variables, strict=True):
        np.testing.assert_allclose(v.numpy(), adam_first_step(w, g, E_LR), atol=2e-6)
    for w, g, v in zip(before_d, d_grads, trainer.discriminator_variables, strict=True):
        np.testing.assert_allclose(v.numpy(), adam_first_step(w, g, D_LR), atol=4e-6)
    assert any(np.abs(g).max() > 0 for g in e_grads) and any(np.abs(g).max() > 0 for g in d_grads)


@pytest.mark.slow
def test_totals_are_the_weighted_sums_of_the_terms(trainer):
    values, extras = trainer.train_step(trainer.distribute_batch(batch_for(trainer, 1)))
    weights = LossWeights()
    e_total = sum(
        weights.weight_for(k) * v for k, v in values.items() if k.startswith("e_") and k != "e_loss"
    )
    np.testing.assert_allclose(values["e_loss"], e_total, rtol=1e-5)
    np.testing.assert_allclose(values["d_loss"], values["d_pose"], rtol=1e-6)
    assert extras["kp2d_pred"].shape == (TINY_B, TINY_T, 25, 2)
    assert extras["kp2d_hal"].shape == (TINY_B, TINY_T, 25, 2)


@pytest.mark.slow  # make test-fast stays under 3 minutes; CI runs it
def test_step_counts_once_per_iteration(trainer):
    start = int(trainer.step.numpy())
    for seed in range(3):
        trainer.train_step(trainer.distribute_batch(batch_for(trainer, seed)))
    assert int(trainer.step.numpy()) == start + 3
    assert int(trainer.e_optimizer.iterations.numpy()) == int(trainer.step.numpy())


@pytest.mark.slow
def test_without_discriminator_it_is_not_trained(small_standin):
    import keras

    keras.utils.set_random_seed(5)
    trainer = tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**TINY_MODEL),
        LossWeights(d_lw_pose=0.0),
        LossConfig(),
        tr.TrainSettings(TINY_B, TINY_T),
        small_standin,
    )
    assert trainer.mocap_batch_size == 0
    before = [v.numpy() for v in trainer.discriminator_variables]
    batch = batch_for(trainer)
    del batch["mocap_pose"]
    values, _ = trainer.train_step(trainer.distribute_batch(batch))
    assert "e_pose" not in values and values["d_loss"] == 0.0
    for w, v in zip(before, trainer.discriminator_variables, strict=True):
        np.testing.assert_array_equal(w, v.numpy())


def test_batch_must_divide_over_replicas():
    trainer = object.__new__(tr.Trainer)  # only the check, without building a strategy
    trainer.settings = tr.TrainSettings(batch_size=3)
    with pytest.raises(ValueError, match="batch_size=3 must be a multiple of the 2 replicas"):
        trainer._check_batch(2)
    trainer._check_batch(3)


def _fill(layer, value):
    for w in layer.weights:
        w.assign(np.full(w.shape, value, np.float32))


def test_hmr_folder_initialises_only_the_present_regressor(small_standin, tmp_path):
    source = make_trainer(small_standin)
    _fill(source.model.ief_regressor, 0.25)
    parts = {"ief_regressor": weights_dir.part_arrays(source.model.ief_regressor, "ief_regressor")}
    weights_dir.save_weights_dir(tmp_path / "hmr", ModelConfig(**TINY_MODEL), parts)
    target = make_trainer(small_standin)
    hal_before = [w.numpy() for w in target.model.hallucinator.weights]
    notes = target.initialize_from([str(tmp_path / "hmr")])
    assert "HMR weights" in notes[0]
    for w in target.model.ief_regressor.weights:
        np.testing.assert_array_equal(w.numpy(), 0.25)
    for before, w in zip(hal_before, target.model.hallucinator.weights, strict=True):
        np.testing.assert_array_equal(before, w.numpy())
    skipped = make_trainer(small_standin)
    assert "skipped" in skipped.initialize_from([str(tmp_path / "hmr")], use_hmr_ief_init=False)[0]
    assert not np.all(skipped.model.ief_regressor.mean_theta.numpy() == 0.25)


def test_single_frame_folder_initialises_only_the_present_regressor(small_standin, tmp_path):
    # the export of a --use_hmr_only run holds every part, but only its present IEF was trained:
    # HMMR starts from it as the paper's HMMR starts from HMR
    source = build_hmmr(ModelConfig(**{**TINY_MODEL, "num_conv_layers": 0}))
    _fill(source, 0.5)
    weights_dir.save_models(tmp_path / "single", model=source)
    target = make_trainer(small_standin)
    others = [
        target.model.hallucinator,
        target.model.temporal_encoder,
        *target.model.delta_predictors,
    ]
    before = [[w.numpy() for w in part.weights] for part in others]
    notes = target.initialize_from([str(tmp_path / "single")])
    assert "single-frame" in notes[0] and "present IEF" in notes[0]
    for w in target.model.ief_regressor.weights:
        np.testing.assert_array_equal(w.numpy(), 0.5)
    for part, weights in zip(others, before, strict=True):
        for old, w in zip(weights, part.weights, strict=True):
            np.testing.assert_array_equal(old, w.numpy())


def test_hmmr_folder_initialises_every_encoder_part_not_the_discriminator(small_standin, tmp_path):
    source = make_trainer(small_standin)
    _fill(source.model, 0.5)
    _fill(source.discriminator, 0.5)
    weights_dir.save_models(
        tmp_path / "hmmr", model=source.model, discriminator=source.discriminator
    )
    target = make_trainer(small_standin)
    target.initialize_from([str(tmp_path / "hmmr")])
    for w in target.model.weights:
        np.testing.assert_array_equal(w.numpy(), 0.5)
    assert not any(np.all(w.numpy() == 0.5) for w in target.discriminator.weights)


def test_a_missing_pretrained_folder_is_an_error_saying_how_to_train_from_scratch(tmp_path):
    missing = str(tmp_path / "hmr_tf2")
    assert tr.resolve_pretrained_paths([""]) == []
    with pytest.raises(ValueError, match="no such weights folder.*--pretrained_model_path= "):
        tr.resolve_pretrained_paths([missing, ""])
    (tmp_path / "hmr_tf2.index").write_bytes(b"")
    with pytest.raises(ValueError, match="convert it first"):
        tr.resolve_pretrained_paths([missing])


def test_mean_params_next_to_the_body_model_set_the_initial_theta(small_standin, tmp_path):
    import shutil

    import h5py

    from src.networks.ief_regressor import MEAN_PARAMS_FILENAME, initial_mean_theta
    from src.smpl.resolve import resolve_body_model

    body = tmp_path / "body.pkl"
    shutil.copy(small_standin, body)
    rng = np.random.default_rng(2)
    pose, shape = rng.normal(size=72), rng.normal(size=10)
    with h5py.File(tmp_path / MEAN_PARAMS_FILENAME, "w") as f:
        f["pose"], f["shape"] = pose, shape
    choice = resolve_body_model(str(body))
    model_path, mean_path = choice.path, choice.mean_params
    trainer = tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**TINY_MODEL),
        LossWeights(),
        LossConfig(),
        tr.TrainSettings(TINY_B, TINY_T),
        model_path,
        mean_path,
    )
    expected = np.concatenate([[0.9, 0, 0, np.pi, 0, 0], pose[3:], shape])[None]
    np.testing.assert_allclose(trainer.model.ief_regressor.mean_theta.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(initial_mean_theta(mean_path), expected, rtol=1e-6)


def _trainer_with(smpl_path, **settings) -> tr.Trainer:
    import keras

    keras.utils.set_random_seed(5)
    try:
        return tr.Trainer(
            tf.distribute.OneDeviceStrategy("/cpu:0"),
            ModelConfig(**TINY_MODEL),
            LossWeights(),
            LossConfig(do_hallucinate=True, do_hallucinate_preds=True),
            tr.TrainSettings(TINY_B, TINY_T, E_LR, D_LR, **settings),
            smpl_path,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_xla_step_matches_the_plain_step(small_standin):
    plain, xla = make_trainer(small_standin), _trainer_with(small_standin, xla=True)
    for a, b in zip(
        plain.model.weights + plain.discriminator.weights,
        xla.model.weights + xla.discriminator.weights,
        strict=True,
    ):
        b.assign(a.numpy())
    batch = batch_for(plain, 4)
    v_plain, _ = plain.train_step(plain.distribute_batch(batch))
    v_xla, _ = xla.train_step(xla.distribute_batch(batch))
    for key, value in v_plain.items():
        assert v_xla[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for a, b in zip(plain.model.weights, xla.model.weights, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)


@pytest.mark.slow
def test_mixed_precision_steps_scale_the_loss_and_update_in_float32(small_standin):
    import keras

    trainer = _trainer_with(small_standin, mixed_precision=True)
    assert isinstance(trainer.e_optimizer, keras.optimizers.LossScaleOptimizer)
    assert trainer.model.temporal_encoder.blocks[0]["conv1"].compute_dtype == "float16"
    before = [w.numpy() for w in trainer.model.weights]
    scale = float(trainer.e_optimizer.dynamic_scale.numpy())
    for seed in range(6):  # overflowing steps are skipped and the scale halved, then it trains
        values, _ = trainer.train_step(trainer.distribute_batch(batch_for(trainer, seed)))
        assert all(np.isfinite(v) for v in values.values())
    assert float(trainer.e_optimizer.dynamic_scale.numpy()) <= scale
    changed = [
        not np.array_equal(a, w.numpy()) for a, w in zip(before, trainer.model.weights, strict=True)
    ]
    assert any(changed)
    assert all(w.dtype == "float32" for w in trainer.model.weights)
