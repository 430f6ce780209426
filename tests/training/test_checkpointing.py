"""Checkpoints: exact save/restore of models, optimiser moments, step and input iterator;
refusal of a checkpoint of another architecture; cadence; key escaping."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.training import checkpointing as ck
from tests.training.test_trainer import batch_for, make_trainer


def test_keys_escape_and_unescape_like_tensorflow(tmp_path):
    for name in ("hmmr/ief_regressor/fc1/kernel", "a.b/c", "a./b", "x..S/y", "e_adam/iteration"):
        assert ck.unescape_key(ck.escape_key(name)) == name
    # the escaping TF applies to dict keys in checkpoints
    root = tf.train.Checkpoint(group={"a./b": tf.Variable(1.0)})
    keys = [k for k, _ in tf.train.list_variables(root.write(str(tmp_path / "c")))]
    assert f"group/{ck.escape_key('a./b')}/.ATTRIBUTES/VARIABLE_VALUE" in keys


def _state(trainer):
    objects = ck.trainer_objects(trainer)
    return {
        f"{group}/{name}": np.array(v.numpy())
        for group in ("model", "discriminator", "e_optimizer", "d_optimizer", "rng")
        for name, v in objects[group].items()
    }


@pytest.mark.slow
def test_restore_gives_back_every_variable_and_the_same_next_step(small_standin, tmp_path):
    source = make_trainer(small_standin)
    for seed in range(2):
        source.train_step(source.distribute_batch(batch_for(source, seed)))
    saver = ck.TrainCheckpoint(tmp_path, source, every_steps=1)
    prefix = saver.save(int(source.step.numpy()))
    assert ck.latest_checkpoint(tmp_path) == prefix and ck.checkpoint_step(prefix) == 2

    target = make_trainer(small_standin)
    target.train_step(target.distribute_batch(batch_for(target, 7)))  # diverge first
    restored = ck.TrainCheckpoint(tmp_path, target).restore_latest()
    assert restored == (prefix, 2)
    source_state, target_state = _state(source), _state(target)
    assert source_state.keys() == target_state.keys()
    assert any("momentum" in k for k in source_state)
    for key, value in source_state.items():
        np.testing.assert_array_equal(target_state[key], value, err_msg=key)
    batch = batch_for(source, 3)
    v_source, _ = source.train_step(source.distribute_batch(batch))
    v_target, _ = target.train_step(target.distribute_batch(batch))
    assert v_source == v_target
    for a, b in zip(source.model.weights, target.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    arrays = ck.read_arrays(prefix)
    assert set(arrays) == {w.path for w in source.model.weights}


def test_input_iterator_resumes_where_it_was_saved(small_standin, tmp_path):
    trainer = make_trainer(small_standin)
    iterator = trainer.make_iterator(
        lambda ctx: tf.data.Dataset.range(1000).shuffle(50, seed=1).map(lambda i: {"i": i})
    )
    assert trainer.iterator_is_checkpointable
    for _ in range(5):
        next(iterator)
    saver = ck.TrainCheckpoint(tmp_path, trainer, iterator)
    prefix = saver.save(0 + 1)
    expected = [int(next(iterator)["i"]) for _ in range(4)]
    assert ck.has_iterator(prefix)
    assert saver.restore_latest() == (prefix, int(trainer.step.numpy()))
    assert [int(next(iterator)["i"]) for _ in range(4)] == expected


def test_a_checkpoint_of_another_architecture_is_refused_by_name(small_standin, tmp_path):
    from src.losses.hmmr_losses import LossConfig
    from src.losses.weights import LossWeights
    from src.networks.config import ModelConfig
    from src.training import trainer as tr
    from tests.training.helpers import TINY_B, TINY_MODEL, TINY_T

    source = make_trainer(small_standin)
    ck.TrainCheckpoint(tmp_path, source).save(1)
    other = tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**dict(TINY_MODEL, ief_hidden=8)),
        LossWeights(),
        LossConfig(),
        tr.TrainSettings(TINY_B, TINY_T),
        small_standin,
    )
    with pytest.raises(ValueError, match="ckpt-1: does not fit"):
        ck.TrainCheckpoint(tmp_path, other).restore_latest()


def test_cadence_by_steps_and_by_time(small_standin, tmp_path):
    trainer = make_trainer(small_standin)
    by_steps = ck.TrainCheckpoint(tmp_path / "a", trainer, every_steps=3, max_to_keep=2)
    assert [s for s in range(1, 10) if by_steps.due(s)] == [3, 6, 9]
    for step in (3, 6, 9):
        by_steps.maybe_save(step)
    assert by_steps.save(9) is None  # already saved at this step
    assert [p.rsplit("-", 1)[1] for p in by_steps.manager.checkpoints] == ["6", "9"]
    by_time = ck.TrainCheckpoint(tmp_path / "b", trainer, every_secs=3600)
    assert not by_time.due(1)
    by_time._last_save_time -= 3601
    assert by_time.due(2)


def test_restore_without_checkpoint_returns_none(small_standin, tmp_path):
    assert ck.TrainCheckpoint(tmp_path, make_trainer(small_standin)).restore_latest() is None


def test_dropout_rng_state_is_part_of_the_checkpoint(small_standin):
    from src.losses.hmmr_losses import LossConfig
    from src.losses.weights import LossWeights
    from src.networks.config import ModelConfig
    from src.training import trainer as tr
    from tests.training.helpers import TINY_B, TINY_MODEL, TINY_T

    trainer = tr.Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        ModelConfig(**dict(TINY_MODEL, dropout_rate=0.5)),
        LossWeights(),
        LossConfig(),
        tr.TrainSettings(TINY_B, TINY_T),
        small_standin,
    )
    rng = ck.trainer_objects(trainer)["rng"]
    # one seed generator per dropout layer: 2 per IEF regressor, 3 regressors
    assert len(rng) == 6
