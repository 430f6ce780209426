"""Shared converter pieces: the command lines, absl-style flags, output folders, the ResNet."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from src.checkpoints.weights_dir import save_models
from src.networks.config import ModelConfig
from src.networks.resnet_v2 import build_resnet_v2_50
from tests.tfrecords_tools import reference as ref
from tests.tfrecords_tools.fixtures import decode_jpeg, write_h36m_sequence
from tests.timeouts import scaled
from tfrecords_tools import common, h36m, penn_action

CONVERTERS = ("h36m", "penn_action", "threedpw", "in_the_wild", "mocap")
HELP_SCRIPT = """
import sys
from importlib import import_module
for name in sys.argv[1:]:
    try:
        import_module("tfrecords_tools." + name).main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0, name
    print("=====")
"""


@pytest.mark.slow
def test_every_converter_answers_help_from_the_command_line_with_the_original_flags():
    done = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, *CONVERTERS],
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )
    assert done.returncode == 0, done.stderr
    texts = dict(zip(CONVERTERS, done.stdout.split("=====")[:5], strict=True))
    for name, text in texts.items():
        assert f"python -m tfrecords_tools.{name}" in text
        for flag in ("--data_directory", "--output_directory", "--num_workers", "--overwrite"):
            assert flag in text, (name, flag)
    for name in ("h36m", "penn_action", "in_the_wild"):
        for flag in (
            "--split",
            "--num_copy",
            "--pretrained_model_path",
            "--precomputed_phi",
            "--trans_max",
            "--delta_trans_max",
            "--scale_max",
            "--delta_scale_max",
        ):
            assert flag in texts[name], (name, flag)
    assert "--max_sequence_length" in texts["h36m"]
    assert "--num_shards" in texts["penn_action"] and "--video_list" in texts["in_the_wild"]
    assert "--smpl_model_path" in texts["threedpw"]
    assert "--temporal" in texts["mocap"] and "--dataset_name" in texts["mocap"]
    assert "your own videos" in texts["in_the_wild"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], True),
        (["--precomputed_phi"], True),
        (["--precomputed_phi=False"], False),
        (["--precomputed_phi", "false"], False),
        (["--noprecomputed_phi"], False),
        (["--precomputed_phi=1"], True),
    ],
)
def test_boolean_flags_read_like_absl(argv, expected):
    args = penn_action.build_parser().parse_args(
        ["--data_directory", "a", "--output_directory", "b", *argv]
    )
    assert args.precomputed_phi is expected


def test_bad_boolean_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        penn_action.build_parser().parse_args(
            ["--data_directory", "a", "--output_directory", "b", "--save_img=maybe"]
        )
    assert stop.value.code == 2 and "expected a boolean" in capsys.readouterr().err


def test_output_root_gets_the_dataset_folder_unless_it_already_names_it(tmp_path):
    assert common.split_dir(tmp_path, "h36m", "val") == tmp_path / "h36m" / "val"
    assert common.split_dir(tmp_path / "h36m", "h36m", "val") == tmp_path / "h36m" / "val"
    nomosh = tmp_path / "human36m_nomosh"
    assert common.split_dir(nomosh, "h36m", "train", h36m.DIR_ALIASES) == nomosh / "train"


def test_rng_for_tasks_is_reproducible_and_distinct():
    a = common.rng_for(0, 3, 1).uniform(size=4)
    np.testing.assert_array_equal(a, common.rng_for(0, 3, 1).uniform(size=4))
    assert not np.allclose(a, common.rng_for(0, 1, 3).uniform(size=4))


def test_missing_weights_folder_is_named_before_any_work(tmp_path, capsys):
    write_h36m_sequence(tmp_path / "in", 1, "Walking", 0, 0, 3)
    status = h36m.main(
        [
            "--data_directory",
            str(tmp_path / "in"),
            "--output_directory",
            str(tmp_path / "out"),
            "--pretrained_model_path",
            str(tmp_path / "no_weights"),
            "--noprogress",
        ]
    )
    assert status == 1 and str(tmp_path / "no_weights") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_records_without_precomputed_phi_hold_the_300px_precrops(tmp_path):
    gt = write_h36m_sequence(tmp_path / "in", 1, "Walking", 0, 0, 4)
    assert (
        h36m.main(
            [
                "--data_directory",
                str(tmp_path / "in"),
                "--output_directory",
                str(tmp_path / "out"),
                "--precomputed_phi=False",
                "--noprogress",
            ]
        )
        == 0
    )
    (record,) = ref.read_records(
        tmp_path / "out" / "h36m" / "train" / "train_cam00_S1_Walking_0_copy0.tfrecord"
    )
    assert record["phi"] is None and decode_jpeg(record["images"][0]).shape == (300, 300, 3)
    pts = gt["2d"][0]
    lo, hi = pts.min(0), pts.max(0)
    f = np.floor(64 * 150 / np.hypot(*(hi - lo))) / 64  # square 64 x 64 frames
    start = np.round((lo + hi) / 2 * f) - 150
    np.testing.assert_allclose(record["kp2d"][0, 0, :2], pts[3] * f - start, atol=1e-3)
    assert list(record["heightwidths"][0]) == [300, 300]


@pytest.mark.slow
def test_real_resnet_from_a_weights_folder_computes_phi_of_the_stored_crops(tmp_path):
    resnet = build_resnet_v2_50()
    weights = save_models(tmp_path / "hmr_noS5", resnet=resnet, config=ModelConfig())
    write_h36m_sequence(tmp_path / "in", 1, "Walking", 0, 0, 3)
    assert (
        h36m.main(
            [
                "--data_directory",
                str(tmp_path / "in"),
                "--output_directory",
                str(tmp_path / "out"),
                "--pretrained_model_path",
                str(weights),
                "--phi_batch_size",
                "4",
                "--noprogress",
            ]
        )
        == 0
    )
    (record,) = ref.read_records(
        tmp_path / "out" / "h36m" / "train" / "train_cam00_S1_Walking_0_copy0.tfrecord"
    )
    crops = np.stack([decode_jpeg(j) for j in record["images"]]).astype(np.float32) / 127.5 - 1
    expected = np.asarray(resnet(crops, training=False))
    assert record["phi"].shape == (3, 2048)
    for got, want in zip(record["phi"], expected, strict=True):  # JPEG-level differences only
        assert np.corrcoef(got, want)[0, 1] > 0.99
