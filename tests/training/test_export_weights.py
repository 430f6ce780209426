"""Export: a run's checkpoint -> the weights folder that evaluation and the demo load."""

from __future__ import annotations

import numpy as np
import pytest

from src.checkpoints import weights_dir
from src.training import checkpointing as ck
from src.training import export_weights
from src.training import flags as train_flags
from tests.training.helpers import TINY_MODEL
from tests.training.test_trainer import batch_for, make_trainer


def _run_dir(tmp_path, small_standin):
    from absl import flags

    trainer = make_trainer(small_standin)
    trainer.train_step(trainer.distribute_batch(batch_for(trainer)))
    ck.TrainCheckpoint(tmp_path, trainer).save(1)
    fv = flags.FlagValues()
    train_flags.define_flags(fv)
    fv(
        [
            "train",
            "--num_conv_layers=1",
            "--ief_hidden=16",
            "--hallucinator_hidden=16",
            "--disc_joint_hidden=8",
            "--disc_all_hidden=16",
        ]
    )
    params = train_flags.resolved_params(fv)
    train_flags.save_params(tmp_path, params)
    return trainer


@pytest.mark.slow
def test_exported_run_holds_the_checkpoint_weights(tmp_path, small_standin, monkeypatch):
    # the run's phi width is the records' 2048; the tiny trainer's is 64: export a 64-wide model
    monkeypatch.setattr(train_flags.constants, "PHI_DIM", TINY_MODEL["phi_dim"])
    monkeypatch.setattr(train_flags, "model_config_from_flags", lambda fv: _tiny_config())
    trainer = _run_dir(tmp_path, small_standin)
    folder, step = export_weights.export_run(tmp_path)
    assert step == 1 and folder == tmp_path / "export"
    expected = weights_dir.hmmr_parts(trainer.model)
    assert set(weights_dir.available_parts(folder)) == set(expected) | {"discriminator"}
    for name, layer in expected.items():
        arrays = weights_dir.read_part(folder, name)
        for key, value in weights_dir.part_arrays(layer, name).items():
            np.testing.assert_array_equal(arrays[key], value, err_msg=f"{name}/{key}")
    direct = export_weights.export_trainer(trainer, tmp_path, tmp_path / "direct")
    for name in expected:
        a, b = weights_dir.read_part(folder, name), weights_dir.read_part(direct, name)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def _tiny_config():
    from src.networks.config import ModelConfig

    return ModelConfig(**TINY_MODEL)


def test_cli_prints_one_line_for_a_run_without_checkpoint(tmp_path, capsys):
    train_flags.save_params(tmp_path, {"T": 20})
    assert export_weights.run(["--load_path", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no checkpoint" in err
    assert export_weights.run(["--load_path", str(tmp_path / "nothing")]) == 1
    assert "params.json" in capsys.readouterr().err


@pytest.mark.slow
def test_export_carries_the_pretrained_image_encoder(tmp_path, small_standin, monkeypatch):
    monkeypatch.setattr(train_flags.constants, "PHI_DIM", TINY_MODEL["phi_dim"])
    monkeypatch.setattr(train_flags, "model_config_from_flags", lambda fv: _tiny_config())
    trainer = _run_dir(tmp_path / "run", small_standin)
    encoder = {"conv1/kernel": np.full((3, 3), 7.0, np.float32)}
    hmr = weights_dir.save_weights_dir(tmp_path / "hmr", _tiny_config(), {"resnet_v2_50": encoder})
    params = train_flags.load_params(tmp_path / "run")
    train_flags.save_params(tmp_path / "run", {**params, "pretrained_model_path": [str(hmr)]})
    for folder in (
        export_weights.export_run(tmp_path / "run")[0],
        export_weights.export_trainer(trainer, tmp_path / "run", tmp_path / "direct"),
    ):
        got = weights_dir.read_part(folder, "resnet_v2_50")["conv1/kernel"]
        np.testing.assert_array_equal(got, encoder["conv1/kernel"])
