"""``--use_hmr_only``: the original's single-frame HMR ablation (the paper's Table 2 baseline).

The model is an HMMR without temporal encoder (``num_conv_layers=0``), so its present IEF
regresses each frame's phi alone; the step supervises it with the ``_static`` terms. The checks:
the loss keys and values against the present terms of an ordinary identity-encoder run with the
same weights, the mocap count, per-frame independence, training and the exported weights folder
read by the predictor, and the hallucinator variant.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.checkpoints import weights_dir
from src.inference.predictor import Predictor
from src.losses.hmmr_losses import LossConfig
from src.losses.terms import ratio_value
from src.losses.weights import LossWeights
from src.networks.config import ModelConfig
from src.networks.hmmr import HMMR
from src.training import export_weights
from src.training import trainer as tr
from tests.timeouts import scaled
from tests.training.helpers import (
    TINY_B,
    TINY_MODEL,
    TINY_RUN_FLAGS,
    TINY_T,
    run_python,
    synthetic_batch,
)

HMR_MODEL = dict(TINY_MODEL, num_conv_layers=0)
STATIC_KEYS = {"e_kp_static", "e_joints_static", "e_smpl_static"}
PRIOR_KEYS = {"e_pose", "e_shape", "d_pose"}
E_LR, D_LR = 1e-3, 1e-3


def make_trainer(smpl_path: str, model: dict = HMR_MODEL, **switches) -> tr.Trainer:
    keras.utils.set_random_seed(11)
    return tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**model),
        LossWeights(),
        LossConfig(**switches),
        tr.TrainSettings(TINY_B, TINY_T, E_LR, D_LR),
        smpl_path,
    )


def batch_for(trainer: tr.Trainer, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = synthetic_batch(rng, TINY_B, TINY_T, HMR_MODEL["phi_dim"], trainer.mocap_batch_size)
    batch["has_smpl"][:] = 1.0  # every SMPL term non-zero
    batch["has_3d_joints"][0] = 1.0
    return batch


def copy_weights(source: tr.Trainer, target: tr.Trainer) -> None:
    for src, dst in ((source.model, target.model), (source.discriminator, target.discriminator)):
        assert [w.path for w in src.weights] == [w.path for w in dst.weights]
        for w_src, w_dst in zip(src.weights, dst.weights, strict=True):
            w_dst.assign(w_src)


def forward_values(trainer: tr.Trainer, batch: dict[str, np.ndarray]) -> dict[str, float]:
    """Loss values of one forward pass, without an update (dropout is 0 in the tiny model)."""
    terms, _ = trainer._forward({k: tf.constant(v) for k, v in batch.items()})
    return {key: float(ratio_value(ratio)) for key, ratio in terms.items()}


@pytest.fixture(scope="module")
def hmr_trainer(small_standin) -> tr.Trainer:
    return make_trainer(small_standin, use_hmr_only=True)


def test_hmr_only_needs_a_model_without_temporal_encoder(small_standin):
    with pytest.raises(ValueError, match="num_conv_layers=0"):
        make_trainer(small_standin, model=TINY_MODEL, use_hmr_only=True)


def test_real_mocap_batch_is_b_times_t(hmr_trainer):
    assert hmr_trainer.mocap_batch_size == TINY_B * TINY_T


def test_static_terms_are_the_present_terms_of_an_identity_encoder_run(hmr_trainer, small_standin):
    batch = batch_for(hmr_trainer)
    got = forward_values(hmr_trainer, batch)
    active = {key for key, value in got.items() if value != 0.0}
    assert active == STATIC_KEYS | PRIOR_KEYS
    # the original's constant zeros: the temporal path's present and past/future terms
    zeros = {"e_kp", "e_joints", "e_smpl", "e_const"} | {
        f + s for f in ("e_kp", "e_joints", "e_smpl") for s in ("_dt_past", "_dt_future")
    }
    assert set(got) == active | zeros

    # an ordinary run (no deltas, no hallucinator) of the same identity-encoder model and weights
    reference = make_trainer(small_standin, predict_delta=False)
    copy_weights(hmr_trainer, reference)
    assert reference.mocap_batch_size == hmr_trainer.mocap_batch_size
    expect = forward_values(reference, batch)
    for key in STATIC_KEYS:
        present = key.removesuffix("_static")
        assert got[key] == pytest.approx(expect[present], rel=1e-6), key
    for key in PRIOR_KEYS:
        assert got[key] == pytest.approx(expect[key], rel=1e-6), key


def test_prediction_at_a_frame_depends_only_on_that_frame(hmr_trainer):
    model = hmr_trainer.model
    phi = np.random.default_rng(3).normal(size=(2, TINY_T, HMR_MODEL["phi_dim"]))
    phi = phi.astype(np.float32)
    theta = model(phi, training=False)["theta"].numpy()
    changed = phi.copy()
    changed[:, 5] += 3.0
    theta_changed = model(changed, training=False)["theta"].numpy()
    others = [t for t in range(TINY_T) if t != 5]
    np.testing.assert_array_equal(theta_changed[:, others], theta[:, others])
    assert np.abs(theta_changed[:, 5] - theta[:, 5]).max() > 1e-4
    # the present IEF on each frame's phi alone, from the learned mean theta
    single = model.ief_regressor(phi.reshape(-1, phi.shape[-1]), training=False).numpy()
    np.testing.assert_allclose(theta.reshape(single.shape), single, atol=1e-6)


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_export_predicts_per_frame(small_standin, tmp_path):
    trainer = make_trainer(small_standin, use_hmr_only=True)
    batch = trainer.distribute_batch(batch_for(trainer, seed=1))
    before = [v.numpy() for v in trainer.model.delta_predictors[0].weights]
    losses = [trainer.train_step(batch)[0]["e_loss"] for _ in range(15)]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    # no past/future predictor is trained
    for w, v in zip(before, trainer.model.delta_predictors[0].weights, strict=True):
        np.testing.assert_array_equal(w, v.numpy())

    folder = export_weights.export_trainer(trainer, tmp_path / "run")
    config = weights_dir.read_model_config(folder)
    assert config == trainer.model_config and config.num_conv_layers == 0
    model = HMMR(config)
    model.build()
    weights_dir.load_into(folder, model=model)
    num_frames = 13
    phi = np.random.default_rng(4).normal(size=(num_frames, config.phi_dim)).astype(np.float32)
    out = Predictor(model, trainer.smpl, T=TINY_T, batch_size=2).predict_phi(phi)
    assert out["theta"].shape == (num_frames, 85) and out["joints"].shape == (num_frames, 25, 3)
    expect = trainer.model.ief_regressor(phi, training=False).numpy()
    np.testing.assert_allclose(out["theta"], expect, atol=1e-5)


@pytest.mark.slow
def test_with_hallucinate_only_the_hallucinated_predictions_are_trained(small_standin):
    trainer = make_trainer(
        small_standin, use_hmr_only=True, do_hallucinate=True, do_hallucinate_preds=True
    )
    # hallucinated present + 2 offsets; the original: half of its usual 6 B T
    assert trainer.mocap_batch_size == 3 * TINY_B * TINY_T
    batch = batch_for(trainer, seed=2)
    got = forward_values(trainer, batch)
    hal_keys = {
        f + s for f in ("e_kp", "e_joints", "e_smpl") for s in ("_hal", "_hal_past", "_hal_future")
    }
    assert {key for key, value in got.items() if value != 0.0} == hal_keys | PRIOR_KEYS
    assert got["e_hallucinate"] == 0.0 and "e_kp_static" not in got

    reference = make_trainer(small_standin, do_hallucinate=True, do_hallucinate_preds=True)
    copy_weights(trainer, reference)
    expect = forward_values(reference, {**batch, "mocap_pose": np.zeros((6 * TINY_B * TINY_T, 72))})
    for key in hal_keys:
        assert got[key] == pytest.approx(expect[key], rel=1e-6), key

    e_grads, _ = trainer.global_gradients(trainer.distribute_batch(batch))
    trained = {
        v.path.split("/")[1]
        for v, g in zip(trainer.encoder_variables, e_grads, strict=True)
        if np.abs(g).max() > 0
    }
    assert trained == {"hallucinator", "ief_regressor"} | {
        p.name for p in trainer.model.delta_predictors
    }


def test_model_config_round_trips_through_the_export(hmr_trainer, tmp_path):
    folder = weights_dir.save_models(tmp_path / "w", model=hmr_trainer.model)
    config = weights_dir.read_model_config(folder)
    assert config == ModelConfig(**HMR_MODEL)
    assert HMMR.from_config(hmr_trainer.model.get_config()).config == config


@pytest.mark.slow
def test_main_trains_and_exports_the_per_frame_baseline(quick_data, small_standin, tmp_path):
    run_dir = tmp_path / "run"
    flags = [f for f in TINY_RUN_FLAGS if not f.startswith(("--do_hallucinate", "--num_conv"))]
    result = run_python(
        [
            "-m",
            "src.main",
            f"--data_dir={quick_data}",
            f"--smpl_model_path={small_standin}",
            f"--model_dir={run_dir}",
            "--strategy=one_device",
            *flags,
            "--use_hmr_only",
            "--max_iteration=3",
        ],
        timeout=scaled(300),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--num_conv_layers=3 is ignored with --use_hmr_only" in result.stderr
    tags = set()
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    assert {f"loss/{key}" for key in STATIC_KEYS | PRIOR_KEYS} <= tags
    config = weights_dir.read_model_config(run_dir / export_weights.EXPORT_DIR)
    assert config.num_conv_layers == 0
    # the export from the saved flags builds the same model
    folder, step = export_weights.export_run(run_dir, tmp_path / "again")
    assert step == 3 and weights_dir.read_model_config(folder) == config
