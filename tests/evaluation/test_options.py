"""EvalOptions: the evaluation's command line as a frozen, typed options object."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from src.evaluation.options import EvalOptions, build_parser, parse_options

REQUIRED = ["--load_path", "w", "--tf_dir", "d"]


def test_parsed_defaults_equal_the_dataclass_defaults():
    assert parse_options(REQUIRED) == EvalOptions(load_path="w", tf_dir="d")


def test_flags_reach_their_fields():
    options = parse_options(
        [*REQUIRED, "--test_datasets=3dpw", "--pred_mode=hal", "--with_const", "--fps=3dpw=60"]
    )
    assert options.test_datasets == ("3dpw",) and options.pred_mode == "hal"
    assert options.scores_const and dict(options.fps) == {"3dpw": 60.0}
    assert not parse_options(REQUIRED).scores_const
    assert parse_options([*REQUIRED, "--pred_mode=const"]).scores_const


def test_the_default_cache_root_is_beside_the_weights_folder(tmp_path):
    from src.evaluation.options import default_pred_dir

    assert parse_options(REQUIRED).pred_dir is None
    assert default_pred_dir(tmp_path / "models" / "hmmr_tf2") == (
        tmp_path / "models" / "predictions_cache"
    )
    assert default_pred_dir(tmp_path / "run" / "export") == tmp_path / "run" / "predictions_cache"


def test_every_flag_has_a_field_and_every_field_a_flag():
    dests = {a.dest for a in build_parser()._actions if a.dest != "help"}
    assert dests == {f.name for f in dataclasses.fields(EvalOptions)}


def test_namespace_with_unknown_or_missing_attribute_is_rejected():
    namespace = build_parser().parse_args(REQUIRED)
    with pytest.raises(ValueError, match="renamed"):
        EvalOptions.from_namespace(argparse.Namespace(**vars(namespace), renamed=1))
    values = vars(namespace)
    del values["with_const"]
    with pytest.raises(ValueError, match="with_const"):
        EvalOptions.from_namespace(argparse.Namespace(**values))


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_options(REQUIRED).split = "test"  # type: ignore[misc]
