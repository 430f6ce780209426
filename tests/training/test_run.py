"""What a training run needs before any work (:func:`src.training.run.model_files`): the SMPL
file and the pretrained weights folder, unless the command asks for the stand-in body model
(``--smpl_model_path=standin``) or for training from scratch (``--pretrained_model_path=``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from absl import flags

from src import paths
from src.training import command_line
from src.training import flags as train_flags
from src.training.run import model_files

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture()
def no_models(tmp_path, monkeypatch) -> Path:
    """A checkout without models/: the default SMPL file and models/hmr_tf2 are absent."""
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(paths, "SMPL_MODEL_PATH", tmp_path / paths.SMPL_MODEL_PATH.name)
    monkeypatch.chdir(tmp_path)  # relative --pretrained_model_path values resolve here
    return tmp_path


def _config(run_dir: Path, config_file: str, *args: str):
    fv = flags.FlagValues()
    train_flags.define_flags(fv)
    argv = ["train", f"--flagfile={CONFIGS / config_file}", f"--model_dir={run_dir}", *args]
    fv(argv)
    return command_line.train_config(fv, argv)


def test_release_config_refuses_to_start_without_the_smpl_file(no_models):
    config = _config(no_models / "run", "release.cfg")
    with pytest.raises(FileNotFoundError) as err:
        model_files(config)
    message = str(err.value)
    assert "\n" not in message
    assert paths.SMPL_MODEL_PATH.name in message and "--smpl_model_path=standin" in message


def test_release_config_refuses_to_start_without_the_hmr_weights(no_models):
    config = _config(no_models / "run", "release.cfg", "--smpl_model_path=standin")
    with pytest.raises(ValueError) as err:
        model_files(config)
    message = str(err.value)
    assert "\n" not in message
    assert "models/hmr_tf2: no such weights folder" in message
    assert "--pretrained_model_path= to train from scratch" in message


def test_a_given_smpl_path_that_does_not_exist_is_an_error(no_models):
    config = _config(no_models / "run", "release.cfg", f"--smpl_model_path={no_models / 'x.pkl'}")
    with pytest.raises(FileNotFoundError, match="x.pkl: body model file not found"):
        model_files(config)


def test_release_config_starts_when_both_opt_outs_are_typed(no_models):
    config = _config(
        no_models / "run", "release.cfg", "--smpl_model_path=standin", "--pretrained_model_path="
    )
    body, pretrained = model_files(config)
    assert body.standin and pretrained == []


@pytest.mark.parametrize(
    "config_file", ["cpu_quick.cfg", "synthetic_single.cfg", "synthetic_temporal.cfg"]
)
def test_configs_that_name_the_standin_and_no_weights_start_without_models(no_models, config_file):
    body, pretrained = model_files(_config(no_models / "run", config_file))
    assert body.standin and pretrained == []


def test_a_run_resuming_from_a_checkpoint_does_not_need_the_pretrained_folder(no_models):
    run_dir = no_models / "run"
    (run_dir / "ckpt").mkdir(parents=True)
    (run_dir / "ckpt" / "checkpoint").write_text('model_checkpoint_path: "ckpt-5"\n')
    config = _config(run_dir, "release.cfg", "--smpl_model_path=standin")
    assert model_files(config)[1] == []


@pytest.mark.slow
def test_a_resumed_run_without_a_saved_input_position_reseeds_its_input(
    small_standin, quick_data, tmp_path, monkeypatch
):
    # several replicas: the distributed iterator is not checkpointed, so a resumed run used to
    # read its first windows again with the same seed; it now reads with seed + restored step
    from src.training import run as run_module
    from src.training import trainer as trainer_module

    seeds = []
    make = run_module.make_train_dataset

    def recording(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return make(*args, **kwargs)

    monkeypatch.setattr(run_module, "make_train_dataset", recording)
    monkeypatch.setattr(trainer_module.Trainer, "input_checkpointable", property(lambda _: False))
    run_dir = tmp_path / "run"
    common = ["--smpl_model_path=" + small_standin, "--data_dir=" + quick_data, "--seed=7",
              "--checkpoint_every_steps=2", "--log_img_step=1000",
              "--nomake_quick_data"]  # fmt: skip
    run_module.run(_config(run_dir, "cpu_quick.cfg", *common, "--max_iteration=2"))
    run_module.run(_config(run_dir, "cpu_quick.cfg", *common, "--max_iteration=4"))
    assert seeds == [7, 9]
    assert run_module.resumed_data_seed(7, 0) == 7
