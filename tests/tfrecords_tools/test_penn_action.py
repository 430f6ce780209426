"""Penn Action converter on generated ``frames/`` + ``labels/*.mat`` in the real format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from src.data import pipeline
from src.joints import FROM_PENN13, to_hmmr25
from tests.tfrecords_tools import reference as ref
from tests.tfrecords_tools.fixtures import (
    PENN_H,
    PENN_W,
    decode_jpeg,
    mark_offset,
    red_centroid,
    write_penn_video,
)
from tfrecords_tools import penn_action

REAL_FORMATS = Path("/work/shared/data/formats/penn_action")
ENCODER = "tests.tfrecords_tools.fixtures:tiny_encoder"
NO_JITTER = [
    "--trans_max",
    "0",
    "--delta_trans_max",
    "0",
    "--scale_max",
    "0",
    "--delta_scale_max",
    "0",
]
HEAD_TOP = 13  # where Penn's head (the marked joint) lands


def _kp25(labels: dict) -> np.ndarray:
    kp13 = np.stack([labels["x"], labels["y"], labels["visibility"]], axis=-1).astype(float)
    return to_hmmr25(kp13, FROM_PENN13)


def _expected_train_kp(labels: dict) -> dict[int, np.ndarray]:
    """Pixel keypoints of the two cleaned training videos, by length."""
    return {45: _kp25(labels["0001"]), 43: _kp25(labels["0002"])[1:44]}


def _is_flipped(record: dict, labels: dict) -> bool:
    plain = ref.train_keypoints(_expected_train_kp(labels)[record["N"]], PENN_W, PENN_H, False)
    return not np.allclose(record["kp2d"], plain, atol=1e-4)


@pytest.fixture(scope="module")
def penn_root(tmp_path_factory):
    """0001: 45 clean frames; 0002: first frame empty, cut at frame 44; 0003: too short;
    0004-0014: held out (val = 0004, 0014)."""
    root = tmp_path_factory.mktemp("penn")
    labels = {"0001": write_penn_video(root, "0001", 45, True, seed=1)}
    vis = np.ones((50, 13), np.uint8)
    vis[0] = 0
    vis[44, 3:] = 0
    labels["0002"] = write_penn_video(root, "0002", 50, True, visibility=vis, seed=2)
    write_penn_video(root, "0003", 30, True, seed=3)
    for i in range(4, 15):
        labels[f"{i:04d}"] = write_penn_video(root, f"{i:04d}", 12, False, seed=i)
    return root, labels


@pytest.fixture(scope="module")
def penn_train(penn_root, tmp_path_factory):
    root, labels = penn_root
    out = tmp_path_factory.mktemp("penn_tf")
    status = penn_action.main(
        [
            "--data_directory",
            str(root),
            "--output_directory",
            str(out),
            "--split",
            "train",
            "--num_copy",
            "2",
            "--num_shards",
            "1",
            "--encoder_factory",
            ENCODER,
            "--seed",
            "3",
            "--noprogress",
            *NO_JITTER,
        ]
    )
    assert status == 0
    return out, labels


def test_training_keypoints_land_at_their_normalised_crop_position(penn_train):
    out, labels = penn_train
    files = sorted((out / "penn_action" / "train").glob("*.tfrecord"))
    assert [f.name for f in files] == [
        f"penn_action_copy{c}-0000{s}-of-00002.tfrecord" for c in (0, 1) for s in (0, 1)
    ]
    flips = []
    for path in files:
        (record,) = ref.read_records(path)
        flipped = _is_flipped(record, labels)
        kp_px = _expected_train_kp(labels)[record["N"]]
        expected = ref.train_keypoints(kp_px, PENN_W, PENN_H, flip=flipped)
        np.testing.assert_allclose(record["kp2d"], expected, atol=1e-4)
        flips.append(flipped)
        assert record["phi"].shape == (record["N"], 2048) and record["has_3d_joints"] == 0
        assert len(record["filenames"]) == record["N"] and len(record["images"]) == record["N"]
    assert any(flips) and not all(flips)  # both cases are covered


def test_training_crop_shows_the_marked_joint_where_its_label_says(penn_train):
    out, labels = penn_train
    for path in sorted((out / "penn_action" / "train").glob("*.tfrecord")):
        (record,) = ref.read_records(path)
        flipped = _is_flipped(record, labels)
        for t in (0, record["N"] // 2, record["N"] - 1):
            crop = decode_jpeg(record["images"][t])
            label_px = (record["kp2d"][t, HEAD_TOP, :2] + 1) * 112
            expected = label_px + mark_offset(record["scale_factors"][t], flipped)
            np.testing.assert_allclose(red_centroid(crop), expected, atol=0.75)
            # phi was computed from this very crop (tiny encoder: mean RGB in [-1, 1])
            np.testing.assert_allclose(
                record["phi"][t, :3], crop.mean((0, 1)) / 127.5 - 1, atol=0.03
            )


def test_training_records_feed_the_input_pipeline(penn_train):
    out, _ = penn_train
    records = [
        r
        for p in sorted((out / "penn_action" / "train").glob("*.tfrecord"))
        for r in ref.read_records(p)
    ]
    ds = pipeline.make_train_dataset(out, ["penn_action"], batch_size=2, seq_length=20, seed=0)
    batch = next(iter(ds))
    assert batch["phi"].shape == (2, 20, 2048) and batch["kp2d"].shape == (2, 20, 25, 3)
    for b in range(2):  # each element is 20 consecutive frames of one record
        phi, kp = batch["phi"][b].numpy(), batch["kp2d"][b].numpy()
        assert any(
            np.allclose(r["phi"][s : s + 20], phi) and np.allclose(r["kp2d"][s : s + 20], kp)
            for r in records
            for s in range(r["N"] - 19)
        )


def test_val_records_hold_crop_pixel_keypoints_from_the_smoothed_box(penn_root, tmp_path):
    root, labels = penn_root
    assert (
        penn_action.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(tmp_path),
                "--split",
                "val",
                "--noprogress",
            ]
        )
        == 0
    )
    files = sorted((tmp_path / "penn_action" / "val").glob("*.tfrecord"))
    assert [f.name for f in files] == ["0004.tfrecord", "0014.tfrecord"]
    (record,) = ref.read_records(files[0])
    kp = _kp25(labels["0004"])
    params = ref.smooth_params(kp, 0.1)
    np.testing.assert_allclose(
        record["kp2d"], ref.eval_crop_keypoints(kp, params, PENN_W, PENN_H), atol=1e-3
    )
    assert list(record["time_pts"]) == [0, 12] and record["phi"] is None
    crop = decode_jpeg(record["images"][5])
    expected = record["kp2d"][5, HEAD_TOP, :2] + mark_offset(record["scale_factors"][5])
    np.testing.assert_allclose(red_centroid(crop), expected, atol=0.75)


def test_rerun_skips_finished_files(penn_root, tmp_path, caplog):
    root, _ = penn_root
    argv = [
        "--data_directory",
        str(root),
        "--output_directory",
        str(tmp_path),
        "--split",
        "test",
        "--noprogress",
    ]
    assert penn_action.main(argv) == 0
    files = sorted((tmp_path / "penn_action" / "test").glob("*.tfrecord"))
    assert len(files) == 9
    stamps = [f.stat().st_mtime_ns for f in files]
    caplog.clear()
    assert penn_action.main(argv) == 0
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert "wrote 0 file(s)" in caplog.text and "skipped 9" in caplog.text


def test_cleaning_drops_an_empty_first_frame_and_cuts_at_four_visible():
    visible = np.full(60, 13)
    visible[0] = 0
    visible[50] = 4
    assert penn_action.clean_range(visible) == (1, 50)
    visible[41] = 3
    assert penn_action.clean_range(visible) == (1, 41)  # exactly 40 frames: kept
    visible[40] = 4
    assert penn_action.clean_range(visible) is None  # 39 frames: dropped
    visible[0] = 5  # a first frame with joints is kept, and 5 visible is enough
    visible[40] = 13
    assert penn_action.clean_range(visible) == (0, 41)


def test_every_tenth_held_out_video_goes_to_val():
    names = [f"{i:04d}" for i in range(1, 26)]
    flags = [i % 2 == 0 for i in range(1, 26)]  # even ones train
    split = penn_action.split_names(names, flags)
    held = [n for n, f in zip(names, flags, strict=True) if not f]
    assert split["val"] == [held[0], held[10]]
    assert sorted(split["test"] + split["val"]) == held
    assert split["train"] == [n for n, f in zip(names, flags, strict=True) if f]


@pytest.mark.skipif(not REAL_FORMATS.is_dir(), reason="real Penn Action samples not available")
def test_real_label_files_read_and_fixtures_match_their_fields(penn_root):
    root, _ = penn_root
    for name in ("0001", "2278"):
        real = scipy.io.loadmat(REAL_FORMATS / f"{name}.mat")
        labels = penn_action.read_labels(REAL_FORMATS / f"{name}.mat")
        n = int(real["nframes"][0, 0])
        assert labels["x"].shape == (n, 13) and labels["train"] is False
        ours = scipy.io.loadmat(root / "labels" / "0001.mat")
        fields = {k for k in real if not k.startswith("__")}
        assert fields == {k for k in ours if not k.startswith("__")}
        for key in fields:
            assert ours[key].dtype.kind == real[key].dtype.kind, key
            assert ours[key].ndim == real[key].ndim, key


def test_label_file_without_visibility_is_named(penn_root, tmp_path, capsys):
    root, _ = penn_root
    bad_root = tmp_path / "bad"
    (bad_root / "labels").mkdir(parents=True)
    (bad_root / "frames" / "0001").mkdir(parents=True)
    mat = scipy.io.loadmat(root / "labels" / "0001.mat")
    del mat["visibility"]
    scipy.io.savemat(
        bad_root / "labels" / "0001.mat", {k: v for k, v in mat.items() if not k.startswith("__")}
    )
    status = penn_action.main(
        [
            "--data_directory",
            str(bad_root),
            "--output_directory",
            str(tmp_path / "o"),
            "--split",
            "test",
            "--noprogress",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert str(bad_root / "labels" / "0001.mat") in err and "visibility" in err


def test_missing_frames_name_the_folder(penn_root, tmp_path):
    root, _ = penn_root
    bad_root = tmp_path / "bad"
    write_penn_video(bad_root, "0001", 5, False)
    (bad_root / "frames" / "0001" / "000005.jpg").unlink()
    with pytest.raises(ValueError, match=r"frames/0001: 4 frames but 5 labelled rows"):
        penn_action.load_video(bad_root, "0001")
