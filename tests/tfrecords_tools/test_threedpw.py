"""3DPW converter on generated ``sequenceFiles`` (py2 pickles) and ``imageFiles``."""

from __future__ import annotations

import numpy as np
import pytest

from src.data import pipeline
from src.joints import FROM_3DPW, to_hmmr25
from src.smpl import SMPL, load_smpl_params
from src.smpl.io import save_smpl_params
from src.smpl.standin import write_standin_model
from tests.tfrecords_tools import reference as ref
from tests.tfrecords_tools.fixtures import (
    TDPW_H,
    TDPW_W,
    rotation_z,
    write_3dpw_sequence,
    write_py2_pickle,
)
from tfrecords_tools import threedpw

N = 12


@pytest.fixture(scope="module")
def body_model_path(tmp_path_factory):
    return write_standin_model(tmp_path_factory.mktemp("model") / "standin.pkl", 400)


@pytest.fixture(scope="module")
def tdpw_root(tmp_path_factory):
    """courtyard_x_00: person 0 in the rest pose (closed-form joints), person 1 posed;
    person 0's camera pose invalid at frame 5."""
    root = tmp_path_factory.mktemp("3dpw")
    rng = np.random.default_rng(0)
    poses = [np.zeros((N, 72)), rng.normal(scale=0.2, size=(N, 72))]
    betas = [np.linspace(-1, 1, 10), rng.normal(size=10)]
    labels = write_3dpw_sequence(
        root, "validation", "courtyard_x_00", N, poses, betas, invalid={0: [5]}
    )
    write_3dpw_sequence(root, "test", "downtown_y_00", 6, [poses[0][:6]], betas[:1])
    return root, {**labels, "poses": poses, "betas": betas}


@pytest.fixture(scope="module")
def tdpw_val(tdpw_root, body_model_path, tmp_path_factory):
    root, labels = tdpw_root
    out = tmp_path_factory.mktemp("3dpw_tf")
    assert (
        threedpw.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--split",
                "val",
                "--smpl_model_path",
                str(body_model_path),
                "--noprogress",
            ]
        )
        == 0
    )
    return out, labels


def _rectify(joints: np.ndarray, cam_poses: np.ndarray) -> np.ndarray:
    out = np.empty_like(joints)
    for t in range(len(joints)):
        center = joints[t].mean(0)
        out[t] = (joints[t] - center) @ cam_poses[t, :3, :3].T + center
    return out


def test_rest_pose_joints_equal_the_regressor_on_the_shaped_template(tdpw_val, body_model_path):
    out, labels = tdpw_val
    records = ref.read_records(out / "3dpw" / "val" / "courtyard_x_00.tfrecord")
    assert len(records) == 2
    params = load_smpl_params(body_model_path)
    verts = params["v_template"] + params["shapedirs"] @ labels["betas"][0]
    joints = np.tile(params["joint_regressor"] @ verts, (N, 1, 1))
    record = records[0]
    assert record["joints3d_all"].shape == (N, 25, 3) and record["joints3d"].shape == (N, 14, 3)
    np.testing.assert_allclose(
        record["joints3d_all"], _rectify(joints, labels["cam_poses"]), atol=1e-5
    )
    np.testing.assert_allclose(record["pose"], labels["poses"][0], atol=1e-6)
    np.testing.assert_allclose(record["shape"], labels["betas"][0], atol=1e-6)
    assert record["has_smpl"] == 1 and record["has_3d_joints"] == 1


def test_posed_person_joints_are_the_body_model_output_rectified(tdpw_val, body_model_path):
    out, labels = tdpw_val
    record = ref.read_records(out / "3dpw" / "val" / "courtyard_x_00.tfrecord")[1]
    model = SMPL(body_model_path)
    joints = np.asarray(
        model(
            np.tile(labels["betas"][1], (N, 1)).astype(np.float32),
            labels["poses"][1].astype(np.float32),
        )["joints"],
        np.float64,
    )
    np.testing.assert_allclose(
        record["joints3d_all"], _rectify(joints, labels["cam_poses"]), atol=1e-5
    )
    rotated_once = joints[3] - joints[3].mean(0)  # frame 3's camera turns by 0.3 rad about z
    got = record["joints3d_all"][3] - record["joints3d_all"][3].mean(0)
    np.testing.assert_allclose(got, rotated_once @ rotation_z(0.3).T, atol=1e-5)


def test_keypoints_in_crop_pixels_and_invalid_camera_frames_invisible(tdpw_val):
    out, labels = tdpw_val
    record = ref.read_records(out / "3dpw" / "val" / "courtyard_x_00.tfrecord")[0]
    kp = to_hmmr25(np.transpose(labels["poses2d"][0], (0, 2, 1)), FROM_3DPW)
    kp[5, :, 2] = 0.0
    params = ref.smooth_params(kp, 0.1)
    np.testing.assert_allclose(
        record["kp2d"], ref.eval_crop_keypoints(kp, params, TDPW_W, TDPW_H), atol=1e-3
    )
    assert record["kp2d"][5].max() == 0 and record["kp2d"][:, 14].max() == 0  # frame 5, nose
    assert list(record["time_pts"]) == [0, N]
    assert record["filenames"][0].endswith("imageFiles/courtyard_x_00/image_00000.jpg")


def test_records_read_through_the_evaluation_reader(tdpw_val):
    out, labels = tdpw_val
    files = pipeline.dataset_files(out, "3dpw", "val")
    tracks = list(pipeline.make_sequence_dataset(files, with_images=True))
    assert len(tracks) == 2
    assert tracks[1]["images"].shape == (N, 224, 224, 3)
    np.testing.assert_allclose(tracks[1]["pose"], labels["poses"][1], atol=1e-6)


def test_neutral_files_supply_betas_and_gendered_joints(tdpw_root, body_model_path, tmp_path):
    root, labels = tdpw_root
    joints = np.random.default_rng(5).normal(size=(6, 25, 3))
    write_py2_pickle(
        root / "sequenceFilesNeutral" / "downtown_y_00.pkl",
        {"betas_neutral": [np.full(10, 0.5)], "joints_gendered": [joints]},
    )
    try:
        assert (
            threedpw.main(
                [
                    "--data_directory",
                    str(root),
                    "--output_directory",
                    str(tmp_path),
                    "--split",
                    "test",
                    "--smpl_model_path",
                    "/nonexistent.pkl",
                    "--noprogress",
                ]
            )
            == 0
        )
    finally:
        (root / "sequenceFilesNeutral" / "downtown_y_00.pkl").unlink()
    (record,) = ref.read_records(tmp_path / "3dpw" / "test" / "downtown_y_00.tfrecord")
    np.testing.assert_allclose(record["shape"], np.full(10, 0.5))
    np.testing.assert_allclose(
        record["joints3d_all"], _rectify(joints, labels["cam_poses"][:6]), atol=1e-5
    )


def test_body_model_without_25_joints_is_refused_by_name(tdpw_root, tmp_path, capsys):
    root, _ = tdpw_root
    status = threedpw.main(
        [
            "--data_directory",
            str(root),
            "--output_directory",
            str(tmp_path),
            "--split",
            "val",
            "--smpl_model_path",
            str(tmp_path / "none.pkl"),
            "--noprogress",
        ]
    )
    assert status == 1 and str(tmp_path / "none.pkl") in capsys.readouterr().err


def test_sequence_without_poses2d_is_named(tmp_path, capsys):
    path = write_py2_pickle(
        tmp_path / "sequenceFiles" / "validation" / "a_00.pkl",
        {
            "poses": [np.zeros((2, 72))],
            "betas": [np.zeros(10)],
            "cam_poses": np.tile(np.eye(4), (2, 1, 1)),
        },
    )
    status = threedpw.main(
        [
            "--data_directory",
            str(tmp_path),
            "--output_directory",
            str(tmp_path / "o"),
            "--noprogress",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and str(path) in err and "poses2d" in err


def _gendered_model(base, offset: np.ndarray, path):
    """A 'gendered' model whose mesh with betas b is the stand-in's with betas b + offset."""
    params = {k: v for k, v in load_smpl_params(base).items() if k != "joint_regressor"}
    params["v_template"] = params["v_template"] + params["shapedirs"] @ offset
    return save_smpl_params(params, path)


def test_fitted_neutral_betas_and_gendered_mesh_joints(tdpw_root, body_model_path, tmp_path):
    root, labels = tdpw_root
    offsets = {"m": np.linspace(0.5, -0.5, 10), "f": np.full(10, 0.3)}
    male = _gendered_model(body_model_path, offsets["m"], tmp_path / "male.npz")
    female = _gendered_model(body_model_path, offsets["f"], tmp_path / "female.npz")
    assert (
        threedpw.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(tmp_path),
                "--split",
                "val",
                "--smpl_model_path",
                str(body_model_path),
                "--fit_neutral_betas",
                "--male_model_path",
                str(male),
                "--female_model_path",
                str(female),
                "--noprogress",
            ]
        )
        == 0
    )
    records = ref.read_records(tmp_path / "3dpw" / "val" / "courtyard_x_00.tfrecord")
    for record, gender, betas in zip(records, "mf", labels["betas"], strict=True):
        np.testing.assert_allclose(record["shape"], betas + offsets[gender], atol=1e-4)
    params = load_smpl_params(body_model_path)
    verts = params["v_template"] + params["shapedirs"] @ (labels["betas"][0] + offsets["m"])
    joints = np.tile(params["joint_regressor"] @ verts, (N, 1, 1))  # person 0: rest pose
    np.testing.assert_allclose(
        records[0]["joints3d_all"], _rectify(joints, labels["cam_poses"]), atol=1e-5
    )


def test_fitting_needs_both_gendered_models(tdpw_root, tmp_path, capsys):
    root, _ = tdpw_root
    status = threedpw.main(
        [
            "--data_directory",
            str(root),
            "--output_directory",
            str(tmp_path),
            "--fit_neutral_betas",
            "--noprogress",
        ]
    )
    assert status == 1 and "--male_model_path" in capsys.readouterr().err
