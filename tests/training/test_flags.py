"""Flags: the original names and defaults (docs/original_release.md §2), flagfiles, params.json,
resume."""

from __future__ import annotations

import json

import pytest
from absl import flags

from src.networks.config import ModelConfig
from src.training import flags as train_flags

# docs/original_release.md §2.1-2.6 and §2.7 (datasets), typed out from the spec, not from the code.
SPEC_DEFAULTS = {
    "smpl_model_path": "models/neutral_smpl_with_cocoplustoesankles_reg.pkl",
    "smpl_face_path": "src/tf_smpl/smpl_faces.npy",
    "load_path": None,
    "pretrained_model_path": ["models/hmr_noS5.ckpt-642561"],
    "data_dir": None,
    "log_dir": "logs",
    "model_dir": None,
    "batch_size": 8,
    "T": 20,
    "num_kps": 25,
    "num_conv_layers": 3,
    "delta_t_values": ["-5", "5"],
    "img_size": 224,
    "data_format": "NHWC",
    "num_stage": 3,
    "image_encoder_model_type": "resnet",
    "temporal_encoder_type": "AZ_FC2GN",
    "hallucinator_model_type": "fc2_res",
    "e_lw_kp": 60.0,
    "e_lw_joints": 60.0,
    "e_lw_smpl": 60.0,
    "e_lw_const": 1.0,
    "e_lw_pose": 1.0,
    "e_lw_shape": 1.0,
    "d_lw_pose": 1.0,
    "e_lw_hallucinate": 1.0,
    "e_lr": 1e-5,
    "d_lr": 1e-4,
    "e_wd": 1e-4,
    "d_wd": 1e-4,
    "max_iteration": 5_000_000,
    "seed": 1,
    "log_img_count": 10,
    "log_img_step": 5000,
    "log_vid_step": 100_000,
    "use_3d_label": True,
    "freeze_phi": True,
    "use_hmr_ief_init": True,
    "predict_delta": True,
    "precomputed_phi": True,
    "use_delta_from_pred": True,
    "use_hmr_only": False,
    "split_balanced": True,
    "do_hallucinate": False,
    "do_hallucinate_preds": False,
    "mosh_ignore": False,
    "trans_max": 20,
    "delta_trans_max": 20,
    "scale_max": 0.3,
    "delta_scale_max": 0.3,
    "rotate_max": 0,
    "delta_rotate_max": 5,
    "datasets": ["h36m", "penn_action", "insta_variety"],
    "mocap_datasets": ["CMU", "H3.6", "jointLim"],
}


@pytest.fixture()
def fv() -> flags.FlagValues:
    values = flags.FlagValues()
    train_flags.define_flags(values)
    values(["train"])
    return values


def _reparse(fv: flags.FlagValues, *args: str) -> frozenset[str]:
    """Parse ``train ARGS`` afresh; the flags typed there (not from flagfiles)."""
    argv = ["train", *args]
    fv.unparse_flags()
    fv(argv)
    return train_flags.typed_flag_names(argv, fv)


def test_every_original_flag_has_the_spec_default(fv):
    for name, default in SPEC_DEFAULTS.items():
        assert fv[name].value == default, name
    assert set(SPEC_DEFAULTS) == set(train_flags.original_flag_names())


def test_log_dir_takes_over_the_absl_logging_flag():
    values = flags.FlagValues()
    flags.DEFINE_string("log_dir", "", "absl's own", flag_values=values)
    train_flags.define_flags(values)
    values(["train"])
    assert values.log_dir == "logs"


def test_define_flags_is_idempotent(fv):
    assert train_flags.define_flags(fv) is fv


def test_flagfile_sets_values_and_marks_them_present(fv, tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text("# comment\n--batch_size=4\n--datasets=h36m\n--do_hallucinate\n")
    fv.unparse_flags()
    fv(["train", f"--flagfile={cfg}", "--T=12"])
    assert (fv.batch_size, fv.datasets, fv.do_hallucinate, fv.T) == (4, ["h36m"], True, 12)
    assert fv["batch_size"].present and not fv["e_lr"].present


def test_release_config_is_the_original_do_train_command(fv):
    fv.unparse_flags()
    fv(["train", f"--flagfile={train_flags.__file__.rsplit('/src/', 1)[0]}/configs/release.cfg"])
    assert (fv.batch_size, fv.T, fv.num_conv_layers) == (8, 20, 3)
    assert fv.datasets == ["h36m", "penn_action", "insta_variety"]
    assert fv.do_hallucinate and fv.do_hallucinate_preds
    assert (fv.e_lr, fv.d_lr, fv.e_lw_kp) == (1e-5, 1e-4, 60.0)


def test_params_json_round_trip_is_atomic(fv, tmp_path):
    params = train_flags.resolved_params(fv)
    path = train_flags.save_params(tmp_path / "run", params)
    assert json.loads(path.read_text()) == params
    assert not list(path.parent.glob("*.tmp"))
    assert train_flags.load_params(tmp_path / "run") == params


def test_load_params_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="params.json"):
        train_flags.load_params(tmp_path)
    (tmp_path / "params.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        train_flags.load_params(tmp_path)


def test_resume_takes_saved_values_for_flags_not_given(fv):
    saved = dict(train_flags.resolved_params(fv), batch_size=4, e_lr=3e-5, datasets=["penn_action"])
    typed = _reparse(fv, "--e_lr=1e-3")
    merge = train_flags.merge_saved_params(fv, saved, typed)
    assert fv.batch_size == 4 and fv.datasets == ["penn_action"]
    assert fv.e_lr == 1e-3
    assert [(d.name, d.saved, d.current) for d in merge.changed] == [("e_lr", 3e-5, 1e-3)]
    assert "--e_lr: saved 3e-05, now 0.001" == str(merge.changed[0])
    assert merge.kept == ()


def test_resume_refuses_a_changed_architecture(fv):
    saved = dict(train_flags.resolved_params(fv), num_conv_layers=2)
    typed = _reparse(fv, "--num_conv_layers=3")
    with pytest.raises(ValueError, match="num_conv_layers: saved 2, now 3"):
        train_flags.merge_saved_params(fv, saved, typed)


def test_resume_ignores_the_run_location_flags(fv):
    saved = dict(train_flags.resolved_params(fv), load_path="elsewhere")
    typed = _reparse(fv, "--load_path=here")
    assert train_flags.merge_saved_params(fv, saved, typed) == train_flags.ResumeMerge()


def test_only_flags_typed_outside_flagfiles_count_as_typed(fv, tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text("--batch_size=4\n--data_dir=from_file\n--do_hallucinate\n")
    typed = _reparse(
        fv, f"--flagfile={cfg}", "--e_lr", "0.001", "-T=12", "--nopredict_delta", "--xla", "--"
    )
    assert fv["batch_size"].present and fv["data_dir"].present  # absl cannot tell them apart
    assert typed == {"e_lr", "T", "predict_delta", "xla"}
    assert train_flags.typed_flag_names(["train", "--flagfile", str(cfg)], fv) == frozenset()


def test_resume_with_the_same_flagfile_keeps_params_json_and_lists_typed_changes(fv, tmp_path):
    saved = dict(train_flags.resolved_params(fv), data_dir="data/moved", batch_size=4, e_lr=3e-5)
    cfg = tmp_path / "run.cfg"
    cfg.write_text("--data_dir=data/original\n--batch_size=4\n--num_conv_layers=2\n")
    typed = _reparse(fv, f"--flagfile={cfg}", "--e_lr=1e-4")
    merge = train_flags.merge_saved_params(fv, saved, typed)
    # the flagfile's --data_dir and architecture flag do not override params.json
    assert (fv.data_dir, fv.batch_size, fv.num_conv_layers) == ("data/moved", 4, 3)
    assert fv.e_lr == 1e-4  # typed on the command line: wins, and is reported
    assert [str(d) for d in merge.changed] == ["--e_lr: saved 3e-05, now 0.0001"]
    assert {(d.name, d.saved, d.current) for d in merge.kept} == {
        ("data_dir", "data/moved", "data/original"),
        ("num_conv_layers", 3, 2),
    }


def test_model_config_follows_the_flags(fv):
    fv.unparse_flags()
    fv(
        [
            "train",
            "--num_conv_layers=2",
            "--delta_t_values=5,-3",
            "--num_stage=2",
            "--ief_hidden=64",
            "--dropout_rate=0",
        ]
    )
    config = train_flags.model_config_from_flags(fv)
    assert config == ModelConfig(
        num_conv_layers=2, delta_t_values=(-3, 5), num_ief_stages=2, ief_hidden=64, dropout_rate=0.0
    )


def test_phi_dim_is_a_new_architecture_flag_that_sets_the_model_width(fv):
    assert fv.phi_dim == 2048 and fv.hallucinator_hidden == 2048
    assert "phi_dim" in train_flags.flag_names()
    assert "phi_dim" not in train_flags.original_flag_names()
    assert "phi_dim" in train_flags.ARCHITECTURE_FLAGS
    assert train_flags.model_config_from_flags(fv).phi_dim == 2048
    fv.unparse_flags()
    fv(["train", "--phi_dim=64", "--hallucinator_hidden=64"])
    config = train_flags.model_config_from_flags(fv)
    assert (config.phi_dim, config.hallucinator_hidden) == (64, 64)
    with pytest.raises(flags.IllegalFlagValueError):
        fv(["train", "--phi_dim=0"])


def test_resume_refuses_a_changed_phi_dim(fv):
    saved = train_flags.resolved_params(fv)
    typed = _reparse(fv, "--phi_dim=64")
    with pytest.raises(ValueError, match="phi_dim: saved 2048, now 64"):
        train_flags.merge_saved_params(fv, saved, typed)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data_format=NCHW"], "data_format"),
        (["--noprecomputed_phi"], "precomputed_phi"),
        (["--num_kps=14"], "num_kps"),
        (["--T=5"], "must exceed"),
        (["--delta_t_values=a,5"], "integers"),
    ],
)
def test_unsupported_settings_are_refused_by_name(fv, argv, message):
    fv.unparse_flags()
    fv(["train", *argv])
    with pytest.raises(ValueError, match=message):
        train_flags.validate_flags(fv)


def test_use_hmr_only_is_accepted_and_builds_no_temporal_encoder(fv):
    fv.unparse_flags()
    fv(["train", "--use_hmr_only"])
    warnings = train_flags.validate_flags(fv)
    # the default --num_conv_layers=3 is ignored, with a note
    assert any("--num_conv_layers=3 is ignored" in w for w in warnings)
    config = train_flags.model_config_from_flags(fv)
    assert config.num_conv_layers == 0 and config.receptive_field == 1
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config

    fv.unparse_flags()
    fv(["train", "--use_hmr_only", "--num_conv_layers=0"])
    assert not any("num_conv_layers" in w for w in train_flags.validate_flags(fv))


def test_use_hmr_only_checks_t_only_for_supervised_offsets(fv):
    # per-frame HMR trains no past/future predictor: a short T is fine
    fv.unparse_flags()
    fv(["train", "--use_hmr_only", "--T=3"])
    train_flags.validate_flags(fv)
    # with the hallucinated past/future it is not
    fv.unparse_flags()
    fv(["train", "--use_hmr_only", "--T=3", "--do_hallucinate", "--do_hallucinate_preds"])
    with pytest.raises(ValueError, match="must exceed"):
        train_flags.validate_flags(fv)


def test_resume_refuses_switching_use_hmr_only(fv):
    saved = train_flags.resolved_params(fv)
    typed = _reparse(fv, "--use_hmr_only")
    with pytest.raises(ValueError, match="use_hmr_only"):
        train_flags.merge_saved_params(fv, saved, typed)


def test_hallucinate_preds_without_hallucinate_warns(fv):
    fv.unparse_flags()
    fv(["train", "--do_hallucinate_preds"])
    assert any("do_hallucinate_preds" in w for w in train_flags.validate_flags(fv))
