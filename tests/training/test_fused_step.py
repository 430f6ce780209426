"""The fused training step (FusedAdam, matmul temporal convolutions, batched discriminator heads)
against the Keras reference step on the same weights and batches, and checkpoints that move
between the two."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.losses.hmmr_losses import LossConfig
from src.losses.weights import LossWeights
from src.networks.config import ModelConfig
from src.training import checkpointing as ck
from src.training import trainer as tr
from src.training.fused_adam import FusedAdam
from tests.training.helpers import TINY_B, TINY_MODEL, TINY_T
from tests.training.test_trainer import D_LR, E_LR, batch_for

RTOL = 1e-5
# Adam divides by sqrt(v): where a gradient is at float32 round-off level its update is not
# determined by the forward pass; the weights are compared to this fraction of one step (lr)
WEIGHT_ATOL = 1e-2 * E_LR


def _trainer(smpl_path, fused: bool, **settings) -> tr.Trainer:
    keras.utils.set_random_seed(5)
    try:
        return tr.Trainer(
            tf.distribute.OneDeviceStrategy("/cpu:0"),
            ModelConfig(**dict(TINY_MODEL, num_conv_layers=2)),
            LossWeights(),
            LossConfig(do_hallucinate=True, do_hallucinate_preds=True),
            tr.TrainSettings(TINY_B, TINY_T, E_LR, D_LR, **settings),
            smpl_path,
            fused=fused,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _pair(smpl_path) -> tuple[tr.Trainer, tr.Trainer]:
    """A fused and a reference trainer with the same weights."""
    fused, reference = _trainer(smpl_path, True), _trainer(smpl_path, False)
    for a, b in zip(
        reference.model.weights + reference.discriminator.weights,
        fused.model.weights + fused.discriminator.weights,
        strict=True,
    ):
        b.assign(a.numpy())
    return fused, reference


def _relative_error(got, want) -> float:
    """Largest difference over the largest magnitude of the reference (0 for two zeros)."""
    scale = float(np.max(np.abs(want)))
    return float(np.max(np.abs(got - want))) / scale if scale else float(np.max(np.abs(got)))


def test_the_fused_paths_are_the_default_and_the_reference_is_keras(small_standin):
    fused, reference = _trainer(small_standin, True), _trainer(small_standin, False)
    assert fused.model.temporal_encoder.conv_as_matmul and fused.discriminator.batched_heads
    assert isinstance(fused.e_optimizer, FusedAdam) and isinstance(fused.d_optimizer, FusedAdam)
    assert not reference.model.temporal_encoder.conv_as_matmul
    assert not reference.discriminator.batched_heads
    assert type(reference.e_optimizer) is keras.optimizers.Adam
    mixed = _trainer(small_standin, True, mixed_precision=True)
    assert isinstance(mixed.e_optimizer.inner_optimizer, FusedAdam)


@pytest.mark.slow
def test_fused_step_gives_the_reference_losses_gradients_and_weights(small_standin):
    fused, reference = _pair(small_standin)
    batch = batch_for(reference, 4)
    e_ref, d_ref = reference.global_gradients(reference.distribute_batch(batch))
    e_got, d_got = fused.global_gradients(fused.distribute_batch(batch))
    for i, (g, w) in enumerate(zip(e_got + d_got, e_ref + d_ref, strict=True)):
        assert _relative_error(g, w) < RTOL, i
    heads = {h.kernel.path for h in reference.discriminator.pose_out}
    paths = [v.path for v in reference.discriminator_variables]
    head_grads = [g for g, path in zip(d_ref, paths, strict=True) if path in heads]
    assert len(head_grads) == 23 and all(np.abs(g).max() > 0 for g in head_grads)
    before = {w.path: w.numpy() for w in reference.model.weights}
    for seed in range(3):
        batch = batch_for(reference, 10 + seed)
        v_ref, _ = reference.train_step(reference.distribute_batch(batch))
        v_got, _ = fused.train_step(fused.distribute_batch(batch))
        for key, value in v_ref.items():
            assert v_got[key] == pytest.approx(value, rel=RTOL, abs=1e-7), (seed, key)
    pairs = zip(
        fused.model.weights + fused.discriminator.weights,
        reference.model.weights + reference.discriminator.weights,
        strict=True,
    )
    for a, b in pairs:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=WEIGHT_ATOL, err_msg=a.path)
    conv = reference.model.temporal_encoder.blocks[0]["conv1"].kernel
    assert np.abs(conv.numpy() - before[conv.path]).max() > 100 * WEIGHT_ATOL  # it trained


@pytest.mark.slow
@pytest.mark.parametrize("saved_fused", [False, True], ids=["keras_to_fused", "fused_to_keras"])
def test_checkpoints_move_between_the_reference_and_the_fused_step(
    small_standin, tmp_path, saved_fused
):
    fused, reference = _pair(small_standin)
    source, target = (fused, reference) if saved_fused else (reference, fused)
    for seed in range(2):
        source.train_step(source.distribute_batch(batch_for(source, seed)))
    prefix = ck.TrainCheckpoint(tmp_path, source, every_steps=1).save(2)
    assert ck.TrainCheckpoint(tmp_path, target).restore_latest() == (prefix, 2)
    for group in ("e_optimizer", "d_optimizer"):
        saved = ck.trainer_objects(source)[group]
        restored = ck.trainer_objects(target)[group]
        assert restored.keys() == saved.keys()
        for key, variable in saved.items():
            np.testing.assert_array_equal(restored[key].numpy(), variable.numpy(), err_msg=key)
    batch = batch_for(source, 3)
    v_source, _ = source.train_step(source.distribute_batch(batch))
    v_target, _ = target.train_step(target.distribute_batch(batch))
    for key, value in v_source.items():
        assert v_target[key] == pytest.approx(value, rel=RTOL, abs=1e-7), key
