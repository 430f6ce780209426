"""The evaluation CLI end to end on generated test records with known answers.

The network is replaced by a fake that reads its per-frame predictions from the records'
``image/phis`` (see ``_records.py``): the records, the cache, the metrics, the aggregation, the
tables and the files are the real ones. One slow test runs a real (reduced) HMMR from a weights
folder through ``python -m src.evaluation.evaluate``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from src import constants
from src.checkpoints.weights_dir import CONFIG_FILE, RESNET_PART, save_weights_dir
from src.data import schema, tfrecord_lib
from src.evaluation import evaluate as ev
from src.evaluation.aggregate import TABLE_COLUMNS, format_table
from src.evaluation.metrics import M_TO_MM
from src.evaluation.predictions import PART_ENCODERS, ModelPredictions
from src.evaluation.report import MM_COLUMNS, format_columns
from src.evaluation.tube_errors import _aligned_frames, dataset_results, delta_suffixes
from src.networks.config import ModelConfig
from tests.evaluation import _records as R
from tests.timeouts import scaled

REPO = Path(__file__).resolve().parents[2]
DATASETS = "3dpw,h36m,penn_action"
ACCEL = 0.01  # m/frame^2, every tube
FPS = ev.DATASET_FPS
KP_OFFSET = {"3dpw": (3.0, 4.0), "h36m": (0.0, 2.0), "penn_action": (6.0, 8.0)}


# --------------------------------------------------------------------------------------------
# Helpers


def fake_network(calls: list, fail: bool = False, interrupt_at: int | None = None):
    """A stand-in for :class:`ModelPredictions` returning the predictions held in phi."""

    class FakePredictions:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __call__(self, tube, mode, source):
            if fail:
                raise AssertionError(f"the model was called for {source} (should be cached)")
            if interrupt_at is not None and len(calls) == interrupt_at:
                raise KeyboardInterrupt
            calls.append((source, mode))
            return R.decode_predictions(tube["phi"])

    return FakePredictions


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``ev.run(argv)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ev.run(argv)
    return code, out.getvalue(), err.getvalue()


def weights_folder(path: Path, parts: tuple[str, ...] = ()) -> Path:
    """A weights folder holding the default config and (empty) ``parts``."""
    return save_weights_dir(path, ModelConfig(), {p: {} for p in parts})


def flags(root: Path, weights: Path, body: Path, tmp: Path, *extra: str) -> list[str]:
    return ["--load_path", str(weights), "--tf_dir", str(root), "--smpl_model_path", str(body),
            "--pred_dir", str(tmp / "cache"), "--out_dir", str(tmp / "out"), "--use_phi",
            *extra]  # fmt: skip


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def table_row(text: str, title_start: str, dataset: str) -> list[str]:
    """Tokens of ``dataset``'s row in the table printed after the line starting with
    ``title_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    for line in lines[start + 1 :]:
        tokens = line.split()
        if tokens and tokens[0] == dataset:
            return tokens[1:]
    raise AssertionError(f"no row {dataset} after {title_start!r}")


def pelvis_centred(joints: np.ndarray) -> np.ndarray:
    j = np.asarray(joints, np.float64)[:, : constants.NUM_LSP_JOINTS]
    return j - 0.5 * (j[:, 2:3] + j[:, 3:4])


def pa_mpjpe_reference(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-frame PA-MPJPE (m) by the closed-form similarity fit of Umeyama (1991), float64."""
    out = []
    for y, x in zip(pelvis_centred(gt), pelvis_centred(pred), strict=True):
        xc, yc = x - x.mean(0), y - y.mean(0)
        u, sig, vt = np.linalg.svd(yc.T @ xc)
        d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
        rot = u @ d @ vt
        scale = np.trace(np.diag(sig) @ d) / (xc**2).sum()
        aligned = scale * xc @ rot.T + y.mean(0)
        out.append(np.linalg.norm(aligned - y, axis=-1).mean())
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# One evaluation of three datasets, shared by the tests that only read its outputs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Test records, a weights folder and a body model; returns them with the tubes."""
    tmp = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(7)
    root = tmp / "records"
    tubes = {
        # file means 0.01 and 0.03 m: dataset 0.02 (frame-weighted it would be 0.0233)
        ("3dpw", "downtown_a"): [R.make_tube(rng, 24, KP_OFFSET["3dpw"], 0.14, ACCEL, 25)],
        ("3dpw", "downtown_b"): [
            R.make_tube(rng, 30, KP_OFFSET["3dpw"], 0.42, ACCEL, 25),
            R.make_tube(rng, 18, KP_OFFSET["3dpw"], 0.42, ACCEL, 25),
        ],
        ("h36m", "S9_Walking_cam03"): [R.make_tube(rng, 22, KP_OFFSET["h36m"], 0.07, ACCEL)],
        ("h36m", "S9_Walking_cam01"): [R.make_tube(rng, 22, (30.0, 40.0), 1.4, ACCEL)],
        ("penn_action", "0001"): [
            R.make_tube(rng, 26, KP_OFFSET["penn_action"], with_3d=False, accel_m=ACCEL),
            R.make_tube(
                rng,
                20,
                KP_OFFSET["penn_action"],
                with_3d=False,
                accel_m=ACCEL,
                hidden_frames=(0, 1, 2, 3, 4),
            ),
        ],
    }
    for (dataset, name), file_tubes in tubes.items():
        R.write_file(root / dataset / "val" / f"{name}.tfrecord", file_tubes)
    body, body_params = R.write_body_model(tmp / "tiny_body.npz", rng)
    weights = weights_folder(tmp / "weights")
    return {
        "tmp": tmp,
        "root": root,
        "tubes": tubes,
        "body": body,
        "body_params": body_params,
        "weights": weights,
    }


@pytest.fixture(scope="module")
def pred_run(world):
    """``--pred_mode pred`` on the three datasets with a fresh cache."""
    tmp = world["tmp"] / "pred_run"
    calls: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network(calls))
        code, out, err = run_cli(
            flags(world["root"], world["weights"], world["body"], tmp, "--test_datasets", DATASETS)
        )
    assert code == 0, err
    stem = f"results_val_pred_{DATASETS.replace(',', '-')}"
    return {
        "out": out,
        "err": err,
        "calls": calls,
        "tmp": tmp,
        "json": read_json(tmp / "out" / f"{stem}.json"),
        "csv": tmp / "out" / f"{stem}.csv",
    }


def test_known_errors_in_metres_and_pixels(pred_run, world):
    res = pred_run["json"]["results"]
    assert res["3dpw"]["joints"] == pytest.approx(0.02, abs=1e-5)  # (0.01 + 0.03) / 2 per file
    assert res["h36m"]["joints"] == pytest.approx(0.005, abs=1e-5)  # cam03 only
    assert res["penn_action"]["joints"] is None  # no 3D ground truth
    for dataset, (dx, dy) in KP_OFFSET.items():
        assert res[dataset]["kp"] == pytest.approx(math.hypot(dx, dy), abs=1e-4)
        assert res[dataset]["kp_pa"] == pytest.approx(0.0, abs=1e-4)
        assert res[dataset]["kp_pck"] == pytest.approx(1.0)
        assert res[dataset]["accel"] == pytest.approx(ACCEL, abs=1e-5)
    for dataset in ("3dpw", "h36m"):
        assert res[dataset]["accel_error"] == pytest.approx(ACCEL, abs=1e-5)
        assert res[dataset]["accel_error_pelvis"] == pytest.approx(0.0, abs=1e-5)
        files = [tubes for (ds, _), tubes in world["tubes"].items() if ds == dataset]
        if dataset == "h36m":
            files = [world["tubes"][("h36m", "S9_Walking_cam03")]]
        expected = np.mean(
            [
                np.mean(
                    np.concatenate(
                        [pa_mpjpe_reference(t.track["joints3d"], t.preds["joints"]) for t in tubes]
                    )
                )
                for tubes in files
            ]
        )
        assert res[dataset]["joints_pa"] == pytest.approx(expected, abs=1e-5)
    assert res["3dpw"]["mesh_posed"] is None  # meshes on the 3DPW test split only


def test_millimetre_and_per_second_columns(pred_run):
    res = pred_run["json"]["results"]
    assert res["3dpw"]["joints_mm"] == pytest.approx(20.0, abs=1e-2)
    assert res["h36m"]["joints_mm"] == pytest.approx(5.0, abs=1e-2)
    for dataset in ("3dpw", "h36m", "penn_action"):
        mm = ACCEL * M_TO_MM
        assert res[dataset]["accel_mm_per_frame2"] == pytest.approx(mm, rel=1e-3)
        assert res[dataset]["accel_mm_per_s2"] == pytest.approx(mm * FPS[dataset] ** 2, rel=1e-3)
        assert res[dataset]["fps"] == FPS[dataset]
    assert res["3dpw"]["accel_error_mm_per_s2"] == pytest.approx(ACCEL * 1e3 * 900, rel=1e-3)


def test_past_and_future_are_scored_against_gt_at_t_plus_dt(pred_run):
    # the fake's past/future predictions at t are exactly the GT at t - 5 / t + 5
    res = pred_run["json"]["results"]
    for dataset in ("3dpw", "h36m", "penn_action"):
        for when in ("past", "future"):
            assert res[dataset][f"kp_{when}"] == pytest.approx(0.0, abs=1e-4)
            assert res[dataset][f"kp_pck_{when}"] == pytest.approx(1.0)
    for dataset in ("3dpw", "h36m"):
        for when in ("past", "future"):
            assert res[dataset][f"joints_{when}"] == pytest.approx(0.0, abs=1e-5)
            assert res[dataset][f"joints_pa_{when}"] == pytest.approx(0.0, abs=1e-5)
            assert res[dataset][f"joints_pa_{when}_mm"] == pytest.approx(0.0, abs=1e-2)


def test_printed_tables_have_the_original_layout_units_and_values(pred_run):
    out = pred_run["out"]
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Original layout"))
    assert lines[head + 1].split() == ["Data", *TABLE_COLUMNS]
    assert lines[head + 2].split() == ["m/frame^2", "px", "px", "fraction", "m", "m", "m", "m"]
    row = [float(v) for v in table_row(out, "Original layout", "3dpw")]
    assert row == pytest.approx([ACCEL, 5.0, 0.0, 1.0, 0.02, row[5], -1.0, -1.0], abs=2e-5)
    penn = [float(v) for v in table_row(out, "Original layout", "penn_action")]
    assert penn[4:] == [-1.0, -1.0, -1.0, -1.0]
    mm = table_row(out, "Millimetres", "3dpw")
    assert float(mm[0]) == pytest.approx(20.0, abs=0.01)
    accel = table_row(out, "Acceleration", "3dpw")
    assert float(accel[0]) == pytest.approx(10.0, abs=0.01)  # mm/frame^2
    assert float(accel[1]) == pytest.approx(9000.0, rel=1e-3)  # mm/s^2 at 30 fps
    assert "accel_err" in out and "predicted acceleration" in out


def test_every_output_states_its_units(pred_run):
    lines = pred_run["out"].splitlines()
    for title in ("Original layout", "Millimetres", "Acceleration", "Past/present/future"):
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        unit_line = lines[start + 2].split()
        assert unit_line and all(
            u in {"m", "px", "fraction", "m/frame^2", "mm", "mm/frame^2", "mm/s^2", "frames/s"}
            for u in unit_line
        ), unit_line
    payload = pred_run["json"]
    keys = {k for values in payload["results"].values() for k in values}
    assert keys <= set(payload["units"])
    assert payload["units"]["joints"] == "m" and payload["units"]["joints_mm"] == "mm"
    assert payload["units"]["accel"] == "m/frame^2"
    assert payload["units"]["accel_mm_per_s2"] == "mm/s^2"
    assert payload["units"]["kp_past"] == "px" and payload["units"]["kp_pck_future"] == "fraction"
    assert "accel" in payload["metadata"]["units_note"]
    with open(pred_run["csv"]) as handle:
        header = next(csv.reader(handle))
    assert header[0] == "dataset"
    assert all(cell.endswith("]") and " [" in cell for cell in header[1:])
    assert "joints [m]" in header and "joints_mm [mm]" in header
    assert "accel_error_mm_per_s2 [mm/s^2]" in header


def test_h36m_reads_only_camera_3_and_counts_are_reported(pred_run, world):
    counts = pred_run["json"]["metadata"]["counts"]
    assert counts["h36m"]["files"] == 1 and counts["h36m"]["tubes"] == 1
    assert counts["3dpw"] == {"files": 2, "tubes": 3, "frames": 72, "predicted": 3, "cached": 0}
    called = {Path(source.split(" (")[0]).name for source, _ in pred_run["calls"]}
    assert "S9_Walking_cam01.tfrecord" not in called
    assert "S9_Walking_cam03.tfrecord" in called


def test_second_run_uses_the_cache_without_the_model(world, pred_run):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network([], fail=True))
        code, out, err = run_cli(
            flags(
                world["root"],
                world["weights"],
                world["body"],
                pred_run["tmp"],
                "--test_datasets",
                DATASETS,
            )
        )
    assert code == 0, err
    stem = f"results_val_pred_{DATASETS.replace(',', '-')}.json"
    again = read_json(pred_run["tmp"] / "out" / stem)
    assert again["results"] == pred_run["json"]["results"]
    assert again["metadata"]["counts"]["3dpw"]["cached"] == 3
    assert again["metadata"]["counts"]["3dpw"]["predicted"] == 0


def test_overwrite_cache_predicts_again(world, pred_run, tmp_path):
    calls: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network(calls))
        argv = flags(
            world["root"],
            world["weights"],
            world["body"],
            pred_run["tmp"],
            "--test_datasets",
            "3dpw",
            "--overwrite_cache",
            "--out_dir",
            str(tmp_path),
        )
        code, _, err = run_cli(argv)
    assert code == 0, err
    assert len(calls) == 3


# --------------------------------------------------------------------------------------------
# Modes


def _const_reference(tubes, dt: int, offset: tuple[float, float]) -> tuple[float, float]:
    """NumPy reference of the constant baseline on one dataset: (kp px, MPJPE m) of the present
    prediction at t against the GT at t + dt, pooled per file, then averaged over files."""
    kp_means, joint_means = [], []
    for file_tubes in tubes:
        kp_vals, joint_vals = [], []
        for tube in file_tubes:
            n = len(tube.track["kp2d"])
            pred = np.arange(max(0, -dt), min(n, n - dt))
            gt = pred + dt
            kp_gt = tube.track["kp2d"][gt]
            kp_pred = tube.track["kp2d"][pred, :, :2] + np.asarray(offset)
            dist = np.linalg.norm(kp_gt[..., :2] - kp_pred, axis=-1)
            kp_vals.extend((dist * kp_gt[..., 2]).sum(1) / kp_gt[..., 2].sum(1))
            a = pelvis_centred(tube.track["joints3d"][gt])
            b = pelvis_centred(tube.preds["joints"][pred])
            joint_vals.extend(np.linalg.norm(a - b, axis=-1).mean(1))
        kp_means.append(np.mean(kp_vals))
        joint_means.append(np.mean(joint_vals))
    return float(np.mean(kp_means)), float(np.mean(joint_means))


def test_const_mode_scores_the_present_prediction_as_past_and_future(world, tmp_path):
    calls: list = []
    base = flags(
        world["root"], world["weights"], world["body"], tmp_path, "--test_datasets", "3dpw"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network(calls))
        code, _, err = run_cli([*base, "--pred_mode", "hal"])
        assert code == 0, err
        assert {mode for _, mode in calls} == {"hal"}
        mp.setattr(ev, "ModelPredictions", fake_network([], fail=True))  # const reuses hal's
        code, out, err = run_cli([*base, "--pred_mode", "const"])
    assert code == 0, err
    res = read_json(tmp_path / "out" / "results_val_const_3dpw.json")["results"]["3dpw"]
    tubes = [world["tubes"][("3dpw", "downtown_a")], world["tubes"][("3dpw", "downtown_b")]]
    for dt, when in ((-5, "past"), (5, "future")):
        kp_ref, joints_ref = _const_reference(tubes, dt, KP_OFFSET["3dpw"])
        assert kp_ref > 1.0 and joints_ref > 1e-3  # the baseline is not trivially right
        assert res[f"kp_{when}_const"] == pytest.approx(kp_ref, abs=1e-4)
        assert res[f"joints_{when}_const"] == pytest.approx(joints_ref, abs=1e-5)
        assert res[f"kp_{when}"] == pytest.approx(0.0, abs=1e-4)  # the hallucinator's own
    assert res["kp"] == pytest.approx(5.0, abs=1e-4)  # present unchanged
    assert "pck-5c" in out and "pampjpe+5c" in out


def test_mesh_errors_on_the_3dpw_test_split_match_the_shape_offset(world, tmp_path):
    rng = np.random.default_rng(11)
    n, delta = 12, 0.5
    betas_gt = rng.normal(size=constants.NUM_SHAPE)
    theta = np.zeros((n, constants.THETA_DIM))
    theta[:, constants.SHAPE_SLICE] = betas_gt
    theta[:, constants.SHAPE_SLICE.start] += delta  # beta_0 off by delta
    tube = R.make_tube(
        rng, n, theta=theta, num_gt_joints=25, smpl_gt=(np.zeros((n, constants.NUM_POSE)), betas_gt)
    )
    for split in ("val", "test"):
        R.write_file(tmp_path / "rec" / "3dpw" / split / "flat_a.tfrecord", [tube])
    # zero pose: vertices = template + shapedirs . betas, so each vertex is off by
    # delta * |shapedirs[v, :, 0]|
    expected = delta * np.linalg.norm(world["body_params"]["shapedirs"][:, :, 0], axis=-1).mean()
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network([]))
        for split in ("val", "test"):
            argv = flags(
                tmp_path / "rec",
                world["weights"],
                world["body"],
                tmp_path,
                "--test_datasets",
                "3dpw",
                "--split",
                split,
            )
            code, _, err = run_cli(argv)
            assert code == 0, err
            path = tmp_path / "out" / f"results_{split}_pred_3dpw.json"
            results[split] = read_json(path)["results"]["3dpw"]
    assert results["test"]["mesh_posed"] == pytest.approx(expected, abs=1e-5)
    assert results["test"]["mesh_tpose"] == pytest.approx(expected, abs=1e-5)
    assert results["test"]["mesh_posed_mm"] == pytest.approx(expected * 1e3, abs=1e-2)
    assert results["val"]["mesh_posed"] is None


# --------------------------------------------------------------------------------------------
# The image path of the real ModelPredictions (network faked)

GRAY_STEP = 8


class FramesFromGray:
    """Fake sliding-window predictor: reads the frame index from each crop's gray level."""

    def __init__(self, preds: dict[str, np.ndarray]) -> None:
        self.preds = R.decode_predictions(R.encode_predictions(preds))
        self.seen: list[list[int]] = []

    def predict_images(self, crops):
        frames = list(crops)
        assert all(f.dtype == np.uint8 and f.shape == (224, 224, 3) for f in frames)
        index = [int(round(float(f.mean()) / GRAY_STEP)) - 1 for f in frames]
        self.seen.append(index)
        return {key: value[index] for key, value in self.preds.items()}


def _image_tube(rng: np.random.Generator, n: int, size: int = 224) -> R.Tube:
    tube = R.make_tube(rng, n, with_3d=False)
    gray = GRAY_STEP * (np.arange(n) + 1)
    tube.track["images"] = np.broadcast_to(gray[:, None, None, None], (n, size, size, 3)).astype(
        np.uint8
    )
    del tube.track["phi"]
    return tube


def test_crops_are_decoded_in_order_and_encoded_by_the_folders_networks(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    tube = _image_tube(rng, 17)
    R.write_file(tmp_path / "rec" / "penn_action" / "val" / "0002.tfrecord", [tube])
    weights = weights_folder(tmp_path / "w", (*PART_ENCODERS, RESNET_PART))
    body, _ = R.write_body_model(tmp_path / "body.npz", rng)
    fake = FramesFromGray(tube.preds)
    monkeypatch.setattr(ModelPredictions, "_predictor", lambda self, mode: fake)
    argv = [
        a
        for a in flags(tmp_path / "rec", weights, body, tmp_path, "--test_datasets", "penn_action")
        if a != "--use_phi"
    ]
    code, _, err = run_cli(argv)
    assert code == 0, err
    assert fake.seen == [list(range(17))]
    res = read_json(tmp_path / "out" / "results_val_pred_penn_action.json")["results"]
    assert res["penn_action"]["kp"] == pytest.approx(5.0, abs=1e-4)


def test_crops_of_the_wrong_size_give_a_one_line_error(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    R.write_file(
        tmp_path / "rec" / "penn_action" / "val" / "0003.tfrecord", [_image_tube(rng, 5, size=64)]
    )
    weights = weights_folder(tmp_path / "w", (*PART_ENCODERS, RESNET_PART))
    body, _ = R.write_body_model(tmp_path / "body.npz", rng)

    class Consumes:
        def predict_images(self, crops):
            return list(crops)

    monkeypatch.setattr(ModelPredictions, "_predictor", lambda self, mode: Consumes())
    argv = [
        a
        for a in flags(tmp_path / "rec", weights, body, tmp_path, "--test_datasets", "penn_action")
        if a != "--use_phi"
    ]
    code, out, err = run_cli(argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "0003.tfrecord" in err and "224x224" in err


# --------------------------------------------------------------------------------------------
# Errors, interruption


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    err = "".join(
        line
        for line in err.splitlines(keepends=True)
        if not line.startswith("hmmr-evaluate: warning:")
    )
    assert err.count("\n") == 1 and err.startswith("hmmr-evaluate: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_missing_tf_dir_is_a_one_line_error(world, tmp_path):
    code, _, err = run_cli(flags(tmp_path / "nowhere", world["weights"], world["body"], tmp_path))
    _assert_one_line_error(code, err, "nowhere", "--tf_dir")


def test_empty_dataset_is_a_one_line_error(world, tmp_path):
    (tmp_path / "rec" / "h36m" / "val").mkdir(parents=True)
    R.write_file(
        tmp_path / "rec" / "h36m" / "val" / "S9_Eating_cam01.tfrecord",
        [R.make_tube(np.random.default_rng(0), 8)],
    )
    code, _, err = run_cli(
        flags(
            tmp_path / "rec", world["weights"], world["body"], tmp_path, "--test_datasets", "h36m"
        )
    )
    _assert_one_line_error(code, err, str(Path("h36m") / "val"), "*cam03*")
    code, _, err = run_cli(
        flags(
            tmp_path / "rec", world["weights"], world["body"], tmp_path, "--test_datasets", "3dpw"
        )
    )
    _assert_one_line_error(code, err, "3dpw")


def test_bad_weights_folder_is_a_one_line_error(world, tmp_path):
    code, _, err = run_cli(flags(world["root"], tmp_path / "no_weights", world["body"], tmp_path))
    _assert_one_line_error(code, err, "no_weights")


def test_missing_resnet_without_use_phi_is_a_one_line_error(world, tmp_path):
    weights = weights_folder(tmp_path / "w", PART_ENCODERS)
    argv = [a for a in flags(world["root"], weights, world["body"], tmp_path) if a != "--use_phi"]
    code, _, err = run_cli(argv)
    _assert_one_line_error(code, err, "resnet_v2_50", "--use_phi")


def test_use_phi_on_records_without_phi_is_a_one_line_error(world, tmp_path, monkeypatch):
    R.write_file(
        tmp_path / "rec" / "penn_action" / "val" / "0004.tfrecord",
        [_image_tube(np.random.default_rng(5), 4)],
    )
    weights = weights_folder(tmp_path / "w", PART_ENCODERS)
    monkeypatch.setattr(ModelPredictions, "_predictor", lambda self, mode: None)
    code, _, err = run_cli(
        flags(tmp_path / "rec", weights, world["body"], tmp_path, "--test_datasets", "penn_action")
    )
    _assert_one_line_error(code, err, "0004.tfrecord", "image/phis")


def test_bad_flag_value_is_a_one_line_usage_error(world, tmp_path):
    code, _, err = run_cli(
        flags(world["root"], world["weights"], world["body"], tmp_path, "--pred_mode", "future")
    )
    assert code == 2 and err.count("\n") == 1 and "--pred_mode" in err


def test_interrupted_run_keeps_finished_predictions_and_resumes(world, tmp_path):
    base = flags(
        world["root"], world["weights"], world["body"], tmp_path, "--test_datasets", "3dpw"
    )
    calls: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network(calls, interrupt_at=2))
        code, _, err = run_cli(base)
        assert code == 130 and "resume" in err
        assert len(list((tmp_path / "cache").glob("*/*.npz"))) == 2
        resumed: list = []
        mp.setattr(ev, "ModelPredictions", fake_network(resumed))
        code, _, err = run_cli(base)
    assert code == 0, err
    assert len(resumed) == 1  # only the tube that was not finished


def test_the_default_cache_goes_beside_the_weights_folder_not_the_current_directory(
    world, tmp_path, monkeypatch
):
    weights = weights_folder(tmp_path / "models" / "hmmr_tf2")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ["--load_path", str(weights), "--tf_dir", str(world["root"]), "--use_phi",
            "--smpl_model_path", str(world["body"]), "--test_datasets", "3dpw"]  # fmt: skip
    monkeypatch.setattr(ev, "ModelPredictions", fake_network([]))
    code, out, err = run_cli(argv)
    assert code == 0, err
    assert list(work.iterdir()) == []  # nothing in the current directory
    cache = tmp_path / "models" / "predictions_cache"
    assert len(list(cache.glob("hmmr_tf2-*/3dpw-val-*.npz"))) == 3
    assert f"Wrote {next(cache.glob('hmmr_tf2-*'))}/results_val_pred_3dpw.json" in out


def test_wide_values_never_touch_in_any_printed_table():
    results = {"3dpw": {"joints_mm": 123456.7, "joints_pa_mm": 234567.8, "accel": 123456.7,
                        "kp": 234567.8, "joints": math.nan}}  # fmt: skip
    table = format_columns(results, MM_COLUMNS)
    assert table.splitlines()[2].split() == ["3dpw", "123456.70", "234567.80", "-", "-"]
    original = format_table(results)
    assert original.splitlines()[2].split()[:3] == ["3dpw", "123456.70000", "234567.80000"]
    # ordinary values keep the original's {:>15} + {:>11} layout
    narrow = format_columns({"3dpw": {"joints_mm": 12.5}}, MM_COLUMNS[:1])
    assert narrow.splitlines()[2] == f"{'3dpw':>15}{'12.50':>11}"


# --------------------------------------------------------------------------------------------
# Small pieces


def test_delta_suffixes_name_past_and_future():
    assert delta_suffixes((-5, 5)) == ["_past", "_future"]
    assert delta_suffixes((-10, -5, 5)) == ["_past10", "_past5", "_future"]


def test_aligned_frames_pair_prediction_at_t_with_gt_at_t_plus_dt():
    assert _aligned_frames(10, 5) == (slice(0, 5), slice(5, 10))
    assert _aligned_frames(10, -5) == (slice(5, 10), slice(0, 5))
    pred, gt = _aligned_frames(3, 5)
    assert pred.stop - pred.start <= 0 and gt.stop - gt.start <= 0


def test_dataset_results_add_millimetres_and_per_second_squared():
    values, units = dataset_results(
        {"joints": 0.1234567, "accel": 0.01, "kp_pck_past": 0.5, "joints_pa_future": math.nan},
        fps=30.0,
    )
    assert values["joints"] == 0.12346 and units["joints"] == "m"
    assert values["joints_mm"] == pytest.approx(123.457) and units["joints_mm"] == "mm"
    assert values["accel_mm_per_s2"] == pytest.approx(9000.0)
    assert units["accel_mm_per_frame2"] == "mm/frame^2" and units["kp_pck_past"] == "fraction"
    assert math.isnan(values["joints_pa_future_mm"]) and units["joints_pa_future_mm"] == "mm"
    no_fps, _ = dataset_results({"accel": 0.01}, fps=None)
    assert math.isnan(no_fps["accel_mm_per_s2"])


# --------------------------------------------------------------------------------------------
# A real (reduced) network from a weights folder, through the module entry point


@pytest.mark.slow
def test_module_runs_a_real_weights_folder_on_generated_records(tmp_path):
    import keras

    from src.checkpoints.weights_dir import save_models
    from src.inference.predictor import Predictor
    from src.networks.hmmr import HMMR
    from src.smpl.layer import SMPL

    rng = np.random.default_rng(2)
    keras.utils.set_random_seed(2)
    config = ModelConfig(num_conv_layers=1, ief_hidden=32, hallucinator_hidden=32)
    model = HMMR(config)
    model.build((None, None, config.phi_dim))
    weights = save_models(tmp_path / "weights", model=model)
    body, _ = R.write_body_model(tmp_path / "body.npz", rng)
    predictor = Predictor(model, SMPL(body), T=20, batch_size=2)  # zero padding: no ResNet
    tubes = []
    for n in (15, 9):
        phi = rng.normal(size=(n, constants.PHI_DIM)).astype(np.float32)
        out = predictor.predict_phi(phi)
        kp = np.ones((n, constants.NUM_KPS, 3))
        kp[..., :2] = (out["kps"] + 1.0) * 112.0 + np.array([3.0, 4.0])
        joints = np.array(out["joints"][:, : constants.NUM_LSP_JOINTS], np.float64)
        joints[:, R.PELVIS_FREE_JOINT, 0] += 0.14
        tubes.append({"kp2d": kp, "phi": phi, "joints3d": joints})
    tfrecord_lib.write_records(
        tmp_path / "rec" / "h36m" / "val" / "S9_Sit_cam03.tfrecord",
        [schema.serialize_sequence_example(t) for t in tubes],
    )
    argv = [
        "--load_path",
        str(weights),
        "--data_dir",
        str(tmp_path / "rec"),
        "--test_datasets",
        "h36m",
        "--use_phi",
        "--smpl_model_path",
        str(body),
        "--batch_size",
        "2",
        "--pred_dir",
        str(tmp_path / "cache"),
        "--out_dir",
        str(tmp_path / "out"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "src.evaluation.evaluate", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Original layout" in done.stdout and "mm/s^2" in done.stdout
    res = read_json(tmp_path / "out" / "results_val_pred_h36m.json")["results"]["h36m"]
    assert res["joints"] == pytest.approx(0.01, abs=2e-5)
    assert res["kp"] == pytest.approx(5.0, abs=1e-3)
    assert res["kp_pck"] == pytest.approx(1.0)


def test_use_phi_without_resnet_warns_about_zero_padding(world, tmp_path, monkeypatch):
    weights = weights_folder(tmp_path / "w", PART_ENCODERS)

    def stop(self, mode):
        raise ValueError("stopped after set-up")

    monkeypatch.setattr(ModelPredictions, "_predictor", stop)
    _, _, err = run_cli(flags(world["root"], weights, world["body"], tmp_path))
    assert "warning" in err and "zero features" in err


# --------------------------------------------------------------------------------------------
# A weights folder of reduced phi width (reduced-width experiments)

SMALL = ModelConfig(
    phi_dim=64, gn_groups=8, num_conv_layers=1, ief_hidden=32, hallucinator_hidden=32
)


@pytest.mark.slow
def test_use_phi_evaluates_records_of_the_folders_reduced_width(tmp_path):
    import keras

    from src.checkpoints.weights_dir import save_models
    from src.inference.predictor import Predictor
    from src.networks.hmmr import HMMR
    from src.smpl.layer import SMPL

    rng = np.random.default_rng(8)
    keras.utils.set_random_seed(8)
    model = HMMR(SMALL)
    model.build((None, None, SMALL.phi_dim))
    weights = save_models(tmp_path / "weights", model=model)
    body, _ = R.write_body_model(tmp_path / "body.npz", rng)
    predictor = Predictor(model, SMPL(body), T=20, batch_size=2)  # zero padding: no ResNet
    tubes = []
    for n in (15, 9):
        phi = rng.normal(size=(n, SMALL.phi_dim)).astype(np.float32)
        out = predictor.predict_phi(phi)
        kp = np.ones((n, constants.NUM_KPS, 3))
        kp[..., :2] = (out["kps"] + 1.0) * 112.0 + np.array([3.0, 4.0])
        joints = np.array(out["joints"][:, : constants.NUM_LSP_JOINTS], np.float64)
        joints[:, R.PELVIS_FREE_JOINT, 0] += 0.14
        tubes.append({"kp2d": kp, "phi": phi, "joints3d": joints})
    tfrecord_lib.write_records(
        tmp_path / "rec" / "h36m" / "val" / "S9_Sit_cam03.tfrecord",
        [schema.serialize_sequence_example(t) for t in tubes],
    )
    code, out, err = run_cli(
        flags(
            tmp_path / "rec",
            weights,
            body,
            tmp_path,
            "--test_datasets",
            "h36m",
            "--batch_size",
            "2",
        )
    )
    assert code == 0, err
    res = read_json(tmp_path / "out" / "results_val_pred_h36m.json")["results"]["h36m"]
    assert res["joints"] == pytest.approx(0.01, abs=2e-5)
    assert res["kp"] == pytest.approx(5.0, abs=1e-3)
    assert res["kp_pck"] == pytest.approx(1.0)


def test_records_of_another_width_than_the_folder_are_a_one_line_error(world, tmp_path):
    weights = save_weights_dir(tmp_path / "w", SMALL, {p: {} for p in PART_ENCODERS})
    code, _, err = run_cli(
        flags(world["root"], weights, world["body"], tmp_path, "--test_datasets", "h36m")
    )
    _assert_one_line_error(
        code,
        err,
        "S9_Walking_cam03.tfrecord (person 0)",
        "image/phis holds 2048 floats per frame; the model expects 64",
        str(weights / CONFIG_FILE),
    )


def test_image_path_of_a_reduced_width_folder_is_a_one_line_error(world, tmp_path):
    weights = save_weights_dir(
        tmp_path / "w", SMALL, {p: {} for p in (*PART_ENCODERS, RESNET_PART)}
    )
    argv = [a for a in flags(world["root"], weights, world["body"], tmp_path) if a != "--use_phi"]
    code, _, err = run_cli(argv)
    _assert_one_line_error(code, err, "phi_dim 64", "2048", "--use_phi")


def test_with_const_adds_the_constant_baseline_to_the_temporal_predictions(world, tmp_path):
    calls: list = []
    base = flags(
        world["root"], world["weights"], world["body"], tmp_path, "--test_datasets", "3dpw"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network(calls))
        code, out, err = run_cli([*base, "--pred_mode", "pred", "--with_const"])
    assert code == 0, err
    assert {mode for _, mode in calls} == {"pred"}
    payload = read_json(tmp_path / "out" / "results_val_pred_3dpw.json")
    res = payload["results"]["3dpw"]
    assert payload["metadata"]["with_const"] is True
    tubes = [world["tubes"][("3dpw", "downtown_a")], world["tubes"][("3dpw", "downtown_b")]]
    for dt, when in ((-5, "past"), (5, "future")):
        kp_ref, joints_ref = _const_reference(tubes, dt, KP_OFFSET["3dpw"])
        assert res[f"kp_{when}_const"] == pytest.approx(kp_ref, abs=1e-4)
        assert res[f"joints_{when}_const"] == pytest.approx(joints_ref, abs=1e-5)
        assert res[f"kp_{when}"] == pytest.approx(0.0, abs=1e-4)  # the model's own past/future
    assert "pampjpe+5c" in out and "constant baseline" in out


def test_a_dataset_outside_the_originals_is_scored_in_3d_when_its_tubes_have_3d_joints(
    world, tmp_path
):
    root = tmp_path / "records"
    rng = np.random.default_rng(3)
    tube = R.make_tube(rng, 24, KP_OFFSET["3dpw"], 0.14, ACCEL, 25)
    R.write_file(root / "synth_3d" / "val" / "clip.tfrecord", [tube])
    R.write_file(
        root / "synth_2d" / "val" / "clip.tfrecord",
        [R.make_tube(rng, 24, KP_OFFSET["3dpw"], with_3d=False, accel_m=ACCEL)],
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "ModelPredictions", fake_network([]))
        code, _, err = run_cli(
            flags(
                root,
                world["weights"],
                world["body"],
                tmp_path,
                "--test_datasets",
                "synth_3d,synth_2d",
            )
        )
    assert code == 0, err
    res = read_json(tmp_path / "out" / "results_val_pred_synth_3d-synth_2d.json")["results"]
    expected = np.mean(
        np.linalg.norm(
            pelvis_centred(tube.track["joints3d"]) - pelvis_centred(tube.preds["joints"]), axis=-1
        )
    )
    assert res["synth_3d"]["joints"] == pytest.approx(expected, abs=1e-5)
    assert res["synth_3d"]["joints"] > 1e-3
    assert res["synth_2d"]["joints"] in (None, -1)  # no 3D joints: not scored in 3D
