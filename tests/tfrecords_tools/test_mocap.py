"""Mocap converter (§6.3): MoSh pkl / AMASS npz -> pose+shape records read by the trainer."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.data import schema
from src.data.mocap import make_mocap_dataset, mocap_files
from tests.tfrecords_tools.fixtures import write_py2_pickle
from tfrecords_tools import mocap


def _records(path) -> list[bytes]:
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def _marked_poses(n: int, marker: float) -> np.ndarray:
    """Pose rows whose first value identifies them: marker + frame / 1000."""
    rng = np.random.default_rng(int(marker))
    poses = rng.normal(scale=0.3, size=(n, 72))
    poses[:, 0] = marker + np.arange(n) / 1000.0
    return poses


def _write_mosh(root, name: str, subject: str, seq: str, n: int, marker: float):
    betas = np.linspace(-1, 1, 10) * marker / 10
    path = root / name / subject / f"{seq}.pkl"
    write_py2_pickle(
        path, {"poses": _marked_poses(n, marker), "betas": betas, "trans": np.zeros((n, 3))}
    )
    return betas


@pytest.fixture
def mosh_dir(tmp_path):
    root = tmp_path / "mosh"
    betas = {
        1: _write_mosh(root, "neutrSMPL_CMU", "01", "01_01", 7, 1),
        2: _write_mosh(root, "neutrSMPL_CMU", "02", "02_05", 6, 2),
        3: _write_mosh(root, "neutrSMPL_CMU", "S11", "Walking", 5, 3),  # excluded subject
        4: _write_mosh(root, "neutrSMPL_CMU", "S9_extra", "x", 4, 4),  # excluded subject
        5: _write_mosh(root, "neutrSMPL_CMU", "S91", "y", 3, 5),  # not S9
    }
    return root, betas


def test_pose_shape_records_are_the_default_and_feed_the_mocap_stream(tmp_path, mosh_dir):
    root, betas = mosh_dir
    out = tmp_path / "tf"
    assert (
        mocap.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--dataset_name",
                "neutrSMPL_CMU",
                "--num_shards",
                "4",
                "--noprogress",
            ]
        )
        == 0
    )
    files = mocap_files(out, ["CMU"])
    assert [f.rsplit("/", 1)[1] for f in files] == [
        f"neutrSMPL_CMU_{i:03d}.tfrecord" for i in range(4)
    ]  # 16 frames, 4 per file
    rows = [schema.parse_mocap_np(r) for f in files for r in _records(f)]
    markers = np.array([r["pose"][0] for r in rows])
    expected = np.concatenate(
        [1 + np.arange(7) / 1000, 2 + np.arange(6) / 1000, 5 + np.arange(3) / 1000]
    )
    np.testing.assert_allclose(np.sort(markers), np.sort(expected), atol=1e-6)
    assert not np.allclose(markers, expected)  # globally shuffled
    for row in rows:
        np.testing.assert_allclose(row["shape"], betas[int(row["pose"][0])], atol=1e-6)
        np.testing.assert_allclose(
            row["pose"],
            _marked_poses(10, int(row["pose"][0]))[int(round((row["pose"][0] % 1) * 1000))],
            atol=1e-6,
        )
    batch = next(iter(make_mocap_dataset(out, 8, ["CMU"], shuffle_buffer=16, seed=0)))
    assert batch["pose"].shape == (8, 72) and batch["shape"].shape == (8, 10)


def test_amass_npz_keeps_the_body_joints_and_zeroes_the_hands(tmp_path):
    root = tmp_path / "amass" / "AMASS"
    poses = np.random.default_rng(0).normal(size=(5, 156))
    (root / "CMU" / "01").mkdir(parents=True)
    np.savez(
        root / "CMU" / "01" / "01_01_poses.npz",
        poses=poses,
        betas=np.arange(16.0),
        trans=np.zeros((5, 3)),
        gender="male",
        mocap_framerate=120.0,
        dmpls=np.zeros((5, 8)),
    )
    np.savez(root / "CMU" / "01" / "shape.npz", betas=np.arange(16.0), gender="male")
    out = tmp_path / "tf" / "mocap_neutrMosh"  # the original's output path is used as is
    assert (
        mocap.main(
            [
                "--data_directory",
                str(tmp_path / "amass"),
                "--output_directory",
                str(out),
                "--dataset_name",
                "AMASS",
                "--noprogress",
            ]
        )
        == 0
    )
    rows = [schema.parse_mocap_np(r) for r in _records(out / "neutrSMPL_AMASS_000.tfrecord")]
    got = np.stack([r["pose"] for r in rows])
    order = np.argsort(got[:, 0])
    expected = np.concatenate([poses[:, :66], np.zeros((5, 6))], axis=1)
    np.testing.assert_allclose(got[order], expected[np.argsort(expected[:, 0])], atol=1e-6)
    np.testing.assert_allclose(rows[0]["shape"], np.arange(10.0))


def test_temporal_is_opt_in_and_written_where_the_trainer_does_not_look(tmp_path, mosh_dir):
    root, _ = mosh_dir
    out = tmp_path / "tf"
    assert (
        mocap.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--temporal",
                "--length",
                "3",
                "--noprogress",
            ]
        )
        == 0
    )
    with pytest.raises(FileNotFoundError):
        mocap_files(out, ["CMU"])
    temporal = sorted((out / "mocap_neutrMosh" / "temporal").glob("*.tfrecord"))
    records = _records(temporal[0])
    assert len(records) == 2 + 2 + 1  # 7 // 3 + 6 // 3 + 3 // 3 windows
    example = tf.train.Example.FromString(records[0])
    assert len(example.features.feature["pose"].float_list.value) == 3 * 72
    assert "shape" not in example.features.feature


def test_rerun_skips_finished_files_and_overwrite_rewrites(tmp_path, mosh_dir):
    root, _ = mosh_dir
    argv = ["--data_directory", str(root), "--output_directory", str(tmp_path), "--noprogress"]
    assert mocap.main(argv) == 0
    path = tmp_path / "mocap_neutrMosh" / "neutrSMPL_CMU_000.tfrecord"
    before = path.stat().st_mtime_ns
    assert mocap.main(argv) == 0
    assert path.stat().st_mtime_ns == before
    assert mocap.main(argv + ["--overwrite"]) == 0
    assert path.stat().st_mtime_ns != before


def test_file_without_betas_is_named_in_a_one_line_error(tmp_path, mosh_dir, capsys):
    root, _ = mosh_dir
    bad = write_py2_pickle(
        root / "neutrSMPL_CMU" / "03" / "03_01.pkl", {"poses": np.zeros((4, 72))}
    )
    status = mocap.main(
        ["--data_directory", str(root), "--output_directory", str(tmp_path), "--noprogress"]
    )
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert str(bad) in err and "betas" in err and "\n" not in err


def test_wrong_pose_width_is_refused(tmp_path):
    root = tmp_path / "in"
    write_py2_pickle(root / "a.pkl", {"poses": np.zeros((3, 70)), "betas": np.zeros(10)})
    with pytest.raises(ValueError, match=r"a\.pkl.*70 values per frame"):
        mocap.read_mocap_file(root / "a.pkl")


def test_bvh_files_beside_mosh_pickles_are_retargeted_with_zero_betas(tmp_path, mosh_dir):
    from scipy.spatial.transform import Rotation

    from src.motion.retarget import load_rest_joints
    from tests.motion.test_retarget import _smpl_tree_clip

    root, _ = mosh_dir
    clip_dir = root / "neutrSMPL_CMU" / "bvh"
    clip_dir.mkdir()
    bvh_path, local, _, _ = _smpl_tree_clip(
        clip_dir, load_rest_joints("standin"), n=6, frame_time=1 / 60
    )
    bvh_path.rename(clip_dir / "99_01.bvh")
    out = tmp_path / "tf"
    assert (
        mocap.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--dataset_name",
                "neutrSMPL_CMU",
                "--smpl_model_path",
                "standin",
                "--noprogress",
            ]
        )
        == 0
    )
    rows = [schema.parse_mocap_np(r) for f in mocap_files(out, ["CMU"]) for r in _records(f)]
    assert len(rows) == 7 + 6 + 3 + 3  # three MoSh files + 6 BVH frames at 60 -> 30 fps
    bvh_rows = [r for r in rows if not np.any(r["shape"])]
    assert len(bvh_rows) == 3
    # the records hold the known local rotations of frames 0, 2, 4 (60 -> 30 fps)
    got = np.stack([r["pose"] for r in bvh_rows]).reshape(3, 24, 3)
    want = np.stack([local[j].as_rotvec()[::2] for j in range(24)], axis=1)
    for g in got:
        diffs = [
            np.degrees((Rotation.from_rotvec(g) * Rotation.from_rotvec(w).inv()).magnitude()).max()
            for w in want
        ]
        assert min(diffs) < 0.01
