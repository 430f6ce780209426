"""TrainConfig: the one strict route from flag values to the typed configuration of a run."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest
from absl import flags

from src.losses.weights import LossWeights
from src.training import command_line
from src.training import flags as train_flags
from src.training.config import NO_EFFECT_FLAGS, TrainConfig


@pytest.fixture()
def fv() -> flags.FlagValues:
    values = flags.FlagValues()
    train_flags.define_flags(values)
    values(["train"])
    return values


def _values(fv: flags.FlagValues, **changes) -> dict:
    return dict(train_flags.resolved_params(fv), **changes)


def test_release_defaults_fill_every_section(fv):
    config = TrainConfig.from_flags(_values(fv), run_dir="logs/run")
    assert config.model.num_ief_stages == 3 and config.model.num_conv_layers == 3
    assert config.loss_weights == LossWeights()
    assert config.loss.delta_t_values == (-5, 5) and config.loss.use_3d_label
    assert config.step.seq_length == 20 and config.step.batch_size == 8
    assert config.run.datasets == ("h36m", "penn_action", "insta_variety")
    assert config.run.three_d_datasets == ("h36m",)
    assert not config.resuming and not config.given


def test_string_offsets_become_sorted_ints_in_model_and_loss(fv):
    config = TrainConfig.from_flags(_values(fv, delta_t_values=["5", "-10"]), run_dir="r")
    assert config.model.delta_t_values == (-10, 5) == config.loss.delta_t_values


def test_bad_offsets_name_the_flag(fv):
    with pytest.raises(ValueError, match="--delta_t_values"):
        TrainConfig.from_flags(_values(fv, delta_t_values=["five"]), run_dir="r")


@pytest.mark.parametrize("name", ["e_lw_kp", "T", "num_stage", "three_d_datasets", "phi_dim"])
def test_missing_flag_is_an_error_naming_the_field(fv, name):
    values = _values(fv)
    del values[name]
    with pytest.raises(ValueError, match=f"--{name} .*field"):
        TrainConfig.from_flags(values, run_dir="r")


def test_flag_no_field_reads_is_an_error_naming_it(fv):
    with pytest.raises(ValueError, match="e_lw_keypoints"):
        TrainConfig.from_flags(_values(fv, e_lw_keypoints=3.0), run_dir="r")


def test_every_defined_flag_is_read_or_declared_without_effect(fv):
    config = TrainConfig.from_flags(_values(fv), run_dir="r")
    assert set(config.params) == set(train_flags.flag_names())
    assert set(NO_EFFECT_FLAGS) <= set(train_flags.flag_names())


def test_hmr_only_builds_the_model_without_temporal_encoder(fv):
    config = TrainConfig.from_flags(_values(fv, use_hmr_only=True), run_dir="r")
    assert config.model.num_conv_layers == 0 and config.loss.use_hmr_only
    assert config.model == train_flags.model_config_from_flags(_set(fv, use_hmr_only=True))


def _set(fv: flags.FlagValues, **values) -> flags.FlagValues:
    for name, value in values.items():
        fv[name].value = value
    return fv


def test_config_is_frozen(fv):
    config = TrainConfig.from_flags(_values(fv), run_dir="r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.step.batch_size = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.loss_weights.e_lw_kp = 1.0  # type: ignore[misc]


def test_command_line_resume_merges_saved_flags_and_keeps_params(fv, tmp_path):
    run_dir = tmp_path / "run"
    train_flags.save_params(run_dir, _values(fv, batch_size=4, e_lr=3e-5))
    argv = ["train", f"--load_path={run_dir}", "--e_lr=1e-4"]
    fv(argv)
    config = command_line.train_config(fv, argv)
    assert config.resuming and config.run_dir == run_dir
    assert config.step.batch_size == 4 and config.step.e_lr == 1e-4
    assert "e_lr" in config.given and "batch_size" not in config.given
    # params.json of the resumed run: every flag, the command line's value where given
    assert json.loads(json.dumps(dict(config.params))) == _values(fv)
    assert config.params["load_path"] == str(run_dir)


def test_given_holds_the_flags_typed_on_the_command_line_not_the_flagfiles(fv, tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text("--batch_size=4\n")
    argv = ["train", f"--flagfile={cfg}", "--pretrained_model_path=somewhere", "--model_dir=/tmp/x"]
    fv(argv)
    config = command_line.train_config(fv, argv)
    assert config.given == {"pretrained_model_path", "model_dir"}
    assert config.run.pretrained_model_path == ("somewhere",) and config.step.batch_size == 4


def test_resume_logs_the_typed_changes_and_the_flagfile_values_not_applied(fv, tmp_path, caplog):
    run_dir = tmp_path / "run"
    train_flags.save_params(run_dir, _values(fv, data_dir="data/moved", e_lr=3e-5))
    cfg = tmp_path / "run.cfg"
    cfg.write_text("--data_dir=data/original\n")
    argv = ["train", f"--flagfile={cfg}", f"--load_path={run_dir}", "--e_lr=1e-4"]
    fv(argv)
    with caplog.at_level("INFO", logger="absl"):
        config = command_line.train_config(fv, argv)
    assert config.run.data_dir == "data/moved" and config.step.e_lr == 1e-4
    assert config.params["data_dir"] == "data/moved"
    text = caplog.text
    assert "changed flag: --e_lr: saved 3e-05, now 0.0001" in text
    assert "params.json wins over the flagfile for --data_dir='data/moved'" in text


def test_auto_run_name_like_the_original(fv):
    name = command_line.auto_run_name(fv, datetime.datetime(2024, 1, 2, 15, 4, 5))
    assert name == (
        "AZ_FC2GN_L3_D-5.5_B8_T20_h36m-penn_action-insta_variety_const1_shape1_"
        "from-hmr_noS5_Jan02_150405"
    )
