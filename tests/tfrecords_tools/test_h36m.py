"""Human3.6M converter on a generated ``read_human36m`` layout (py2 pickles, PNG frames)."""

from __future__ import annotations

import numpy as np
import pytest

from src.data import pipeline
from src.joints import FROM_H36M17, H36M17_TO_LSP14, to_hmmr25
from tests.tfrecords_tools import reference as ref
from tests.tfrecords_tools.fixtures import (
    H36M_H,
    H36M_W,
    decode_jpeg,
    mark_offset,
    red_centroid,
    write_h36m_sequence,
    write_py2_pickle,
)
from tfrecords_tools import h36m

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
R_HEEL, L_HEEL = 0, 5  # the marked H3.6M right ankle (17-joint index 3) lands on R_HEEL, or
# on L_HEEL in a mirrored crop (the mirror image of a right ankle is a left ankle)
LSP_FLIP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]


def _kp25(gt: dict) -> np.ndarray:
    pts = np.concatenate([gt["2d"], np.ones(gt["2d"].shape[:2] + (1,))], axis=2)
    return to_hmmr25(pts, FROM_H36M17)


def _joints14_m(gt: dict) -> np.ndarray:
    return gt["3d"][:, list(H36M17_TO_LSP14)] / 1000.0


def _mirror_joints(j: np.ndarray) -> np.ndarray:
    out = j[:, LSP_FLIP].copy()
    out[..., 0] *= -1
    return out - out.mean(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def h36m_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    gts = {
        "train": write_h36m_sequence(root, 1, "Walking", 0, 0, 12, seed=1),
        "val": write_h36m_sequence(root, 5, "Eating", 1, 3, 10, seed=2),
        "test": write_h36m_sequence(root, 11, "Directions", 0, 3, 8, seed=3),
    }
    write_h36m_sequence(root, 11, "Directions", 1, 3, 8, seed=4)  # skipped, as the original
    return root, gts


@pytest.fixture(scope="module")
def h36m_train(h36m_root, tmp_path_factory):
    root, gts = h36m_root
    out = tmp_path_factory.mktemp("h36m_tf")
    assert (
        h36m.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--split",
                "train",
                "--num_copy",
                "2",
                "--max_sequence_length",
                "5",
                "--encoder_factory",
                ENCODER,
                "--seed",
                "0",
                "--noprogress",
                *NO_JITTER,
            ]
        )
        == 0
    )
    return out, gts["train"]


def test_training_chunks_carry_keypoints_3d_joints_and_intrinsics(h36m_train):
    out, gt = h36m_train
    files = sorted((out / "h36m" / "train").glob("*.tfrecord"))
    assert [f.name for f in files] == [f"train_cam00_S1_Walking_0_copy{c}.tfrecord" for c in (0, 1)]
    kp, joints = _kp25(gt), _joints14_m(gt)
    flips = []
    for path in files:
        records = ref.read_records(path)
        assert [r["N"] for r in records] == [5, 5, 5]  # frames 0-4, 5-9, 7-11
        flipped = _file_is_flipped(records, kp)
        flips.append(flipped)
        for record, start in zip(records, (0, 5, 7), strict=True):
            frames = slice(start, start + 5)
            np.testing.assert_allclose(
                record["kp2d"], ref.train_keypoints(kp[frames], H36M_W, H36M_H, flipped), atol=1e-4
            )
            want = _mirror_joints(joints[frames]) if flipped else joints[frames]
            np.testing.assert_allclose(record["joints3d"], want, atol=1e-5)
            assert record["has_3d_joints"] == 1 and record["has_smpl"] == 0
            np.testing.assert_allclose(
                record["cams"], _train_cams(kp[frames], gt, flipped), rtol=1e-5, atol=1e-3
            )
    assert any(flips) and not all(flips)


def _train_cams(kp: np.ndarray, gt: dict, flipped: bool) -> np.ndarray:
    """[f, px, py] in jitter-free training crops: through the pre-crop, then the 224 crop."""
    cams = []
    for t in range(len(kp)):
        center, scale = ref.box_center_scale(kp[t])
        f = np.floor(np.array([H36M_W, H36M_H]) * scale) / np.array([H36M_W, H36M_H])
        start = np.round(center * f) - 150 + (150 - 112)
        p = gt["c"] * f - start
        if flipped:
            p[0] = 223 - p[0]
        cams.append([gt["f"].mean() * f.mean(), *p])
    return np.array(cams)


def _file_is_flipped(records: list[dict], kp: np.ndarray) -> bool:
    """One flip per video: compare the first chunk with the unflipped reference."""
    plain = ref.train_keypoints(kp[: records[0]["N"]], H36M_W, H36M_H, False)
    return not np.allclose(records[0]["kp2d"], plain, atol=1e-4)


def test_training_crops_show_the_marked_ankle_where_its_label_says(h36m_train):
    out, gt = h36m_train
    for path in sorted((out / "h36m" / "train").glob("*.tfrecord")):
        records = ref.read_records(path)
        flipped = _file_is_flipped(records, _kp25(gt))
        for record in records:
            for t in range(record["N"]):
                label = (record["kp2d"][t, L_HEEL if flipped else R_HEEL, :2] + 1) * 112
                want = label + mark_offset(record["scale_factors"][t], flipped)
                np.testing.assert_allclose(
                    red_centroid(decode_jpeg(record["images"][t])), want, atol=0.75
                )


def test_training_records_feed_the_3d_side_of_the_pipeline(h36m_train):
    out, _ = h36m_train
    records = [
        r for p in sorted((out / "h36m" / "train").glob("*.tfrecord")) for r in ref.read_records(p)
    ]
    batch = next(
        iter(pipeline.make_train_dataset(out, ["h36m"], batch_size=2, seq_length=4, seed=0))
    )
    assert batch["has_3d_joints"].numpy().tolist() == [1.0, 1.0]
    for b in range(2):
        kp, j3d = batch["kp2d"][b].numpy(), batch["joints3d"][b].numpy()
        assert any(
            np.allclose(r["kp2d"][s : s + 4], kp) and np.allclose(r["joints3d"][s : s + 4], j3d)
            for r in records
            for s in range(r["N"] - 3)
        )


def test_val_record_keeps_crop_pixels_3d_joints_and_the_original_dir_name(h36m_root, tmp_path):
    root, gts = h36m_root
    out = tmp_path / "human36m_nomosh"  # the original prepare_datasets.sh path, used as is
    assert (
        h36m.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--split",
                "val",
                "--noprogress",
            ]
        )
        == 0
    )
    files = pipeline.dataset_files(tmp_path, "h36m", "val")
    assert [f.rsplit("/", 2)[-2:] for f in files] == [["val", "S5_Eating_1_cam03.tfrecord"]]
    (record,) = ref.read_records(files[0])
    gt = gts["val"]
    kp = _kp25(gt)
    params = ref.smooth_params(kp, 0.1)
    np.testing.assert_allclose(
        record["kp2d"], ref.eval_crop_keypoints(kp, params, H36M_W, H36M_H), atol=1e-3
    )
    np.testing.assert_allclose(record["joints3d"], _joints14_m(gt), atol=1e-6)
    assert record["has_3d_joints"] == 1 and list(record["time_pts"]) == [0, 10]
    f = np.floor(np.array([H36M_W, H36M_H])[None] * params[:, 2:]) / np.array([H36M_W, H36M_H])
    start = np.round(params[:, :2] * f) - 112
    np.testing.assert_allclose(record["cams"][:, 1:], gt["c"] * f - start, atol=1e-3)
    np.testing.assert_allclose(record["cams"][:, 0], gt["f"].mean() * f.mean(1), rtol=1e-5)


def test_test_split_skips_the_original_excluded_trials(h36m_root, tmp_path):
    root, _ = h36m_root
    assert (
        h36m.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(tmp_path),
                "--split",
                "test",
                "--noprogress",
            ]
        )
        == 0
    )
    names = [p.name for p in (tmp_path / "h36m" / "test").glob("*.tfrecord")]
    assert names == ["S11_Directions_0_cam03.tfrecord"]


def test_pose_file_without_3d_is_named(tmp_path, capsys):
    write_h36m_sequence(tmp_path / "in", 5, "Posing", 0, 1, 3)
    path = tmp_path / "in" / "S5" / "Posing_0" / "cam_1" / "gt_poses.pkl"
    write_py2_pickle(path, {"2d": np.zeros((3, 17, 2))})
    status = h36m.main(
        [
            "--data_directory",
            str(tmp_path / "in"),
            "--output_directory",
            str(tmp_path / "out"),
            "--split",
            "val",
            "--noprogress",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and str(path) in err and "'3d'" in err


def test_chunks_follow_the_original_rule():
    got = [list(c) for c in h36m.chunk_ranges(12, 5)]
    assert got == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [7, 8, 9, 10, 11]]
    assert [len(c) for c in h36m.chunk_ranges(300, 150)] == [150, 150]
    assert [list(c) for c in h36m.chunk_ranges(3, 150)] == [[0, 1, 2]]
