"""The original's aggregation, table layout and the JSON/CSV writers, on hand-made numbers."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

from src.evaluation import aggregate as A

NAN = math.nan


def hand_made_dataset() -> dict[str, list[dict[str, object]]]:
    """Two files; file a has two tubes, file b one tube and a metric file a lacks."""
    return {
        "a.tfrecord": [
            {"kp": np.array([1.0, 2.0, NAN]), "joints": np.array([0.1, NAN])},
            {"kp": np.array([3.0]), "joints": np.array([0.3])},
        ],
        "b.tfrecord": [
            {"kp": np.array([10.0, NAN]), "joints": np.array([NAN, NAN]), "accel": [0.5, 1.5]},
        ],
    }


def test_aggregation_pools_tubes_per_file_then_averages_files():
    # file a: kp pooled [1, 2, nan, 3] -> 2; joints [0.1, nan, 0.3] -> 0.2
    # file b: kp [10, nan] -> 10; joints all nan -> nan; accel [0.5, 1.5] -> 1
    # dataset: kp (2 + 10) / 2 = 6, joints nanmean(0.2, nan) = 0.2, accel 1 (only file b)
    scores = A.aggregate_dataset(hand_made_dataset())
    assert scores == {"kp": 6.0, "joints": 0.2, "accel": 1.0}


def test_file_mean_is_not_frame_weighted_across_files():
    # pooled over frames it would be (1 + 1 + 1 + 9) / 4 = 3; the original gives (1 + 9) / 2
    per_file = {"x": [{"kp": [1.0, 1.0, 1.0]}], "y": [{"kp": [9.0]}]}
    assert A.aggregate_dataset(per_file) == {"kp": 5.0}


def test_scores_are_rounded_to_five_decimals_and_empty_is_nan():
    scores = A.aggregate_dataset({"f": [{"kp": [1.0 / 3.0], "joints": [NAN]}]})
    assert scores["kp"] == 0.33333
    assert math.isnan(scores["joints"])
    raw = A.aggregate_dataset({"f": [{"kp": [1.0 / 3.0]}]}, decimals=None)
    assert raw["kp"] == pytest.approx(1.0 / 3.0, abs=1e-15)


def test_scalar_placeholders_pool_as_one_value():
    pooled = A.pool_tubes([{"mesh_posed": -1}, {"mesh_posed": -1}])
    np.testing.assert_array_equal(pooled["mesh_posed"], [-1.0, -1.0])


def test_h36m_keeps_only_camera_3_files_and_others_keep_all_sorted():
    paths = ["r/h36m/val/S9_Walk_cam01.tfrecord", "r/h36m/val/S9_Walk_cam03.tfrecord",
             "r/h36m/val/S11_Eat_cam03.tfrecord", "r/cam03dir/S9_Sit_cam02.tfrecord"]  # fmt: skip
    assert A.select_test_files(paths, "h36m") == [
        "r/h36m/val/S11_Eat_cam03.tfrecord",
        "r/h36m/val/S9_Walk_cam03.tfrecord",
    ]
    assert A.select_test_files(["b", "a"], "3dpw") == ["a", "b"]


RESULTS = {
    "penn_action": {"accel": 0.02796, "kp": 8.87832, "kp_pa": 8.51331, "kp_pck": 0.79553},
    "3dpw": {
        "accel": 0.01532,
        "kp": 5.90772,
        "joints": 0.11688,
        "joints_pa": NAN,
        "accel_error": 0.02,
    },
}


def test_table_has_the_original_layout_with_units_and_minus_one_when_unavailable():
    lines = A.format_table(RESULTS).split("\n")
    assert lines[0] == (
        "           Data      accel         kp      kp_pa     kp_pck     joints  joints_pa"
        " mesh_posed mesh_tpose"
    )
    assert lines[1] == (
        "                 m/frame^2         px         px   fraction          m          m"
        "          m          m"
    )
    assert lines[2] == (
        "           3dpw    0.01532    5.90772   -1.00000   -1.00000    0.11688   -1.00000"
        "   -1.00000   -1.00000"
    )
    assert lines[3].startswith("    penn_action    0.02796    8.87832    8.51331    0.79553")
    assert len(lines) == 4


def test_results_in_mm_converts_metre_columns_only():
    mm, units = A.results_in_mm(RESULTS)
    assert mm["3dpw"]["joints"] == pytest.approx(116.88)
    assert mm["3dpw"]["accel"] == pytest.approx(15.32)
    assert mm["3dpw"]["kp"] == 5.90772
    assert units["accel"] == "mm/frame^2" and units["joints"] == "mm" and units["kp"] == "px"


def test_json_round_trip_with_nan_as_null_and_no_temp_file_left(tmp_path):
    path = os.path.join(tmp_path, "out", "results.json")
    A.write_results_json(path, RESULTS, metadata={"split": "val"})
    assert os.listdir(os.path.dirname(path)) == ["results.json"]
    with open(path) as handle:
        payload = json.load(handle)
    assert payload["results"]["3dpw"]["joints_pa"] is None
    assert payload["units"]["accel_error"] == "m/frame^2"
    assert payload["metadata"] == {"split": "val"}
    results, units = A.read_results_json(path)
    assert results["3dpw"]["kp"] == 5.90772 and math.isnan(results["3dpw"]["joints_pa"])
    assert units["kp"] == "px"


def test_read_results_json_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        A.read_results_json(os.path.join(tmp_path, "missing.json"))
    bad = os.path.join(tmp_path, "bad.json")
    with open(bad, "w") as handle:
        handle.write("[1, 2]")
    with pytest.raises(ValueError, match="bad.json"):
        A.read_results_json(bad)


def test_csv_has_units_in_header_table_columns_first_and_empty_missing(tmp_path):
    path = os.path.join(tmp_path, "results.csv")
    A.write_results_csv(path, RESULTS)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["dataset", "accel [m/frame^2]", "kp [px]"]
    assert rows[0][-1] == "accel_error [m/frame^2]"
    assert [r[0] for r in rows[1:]] == ["3dpw", "penn_action"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert float(row["joints [m]"]) == 0.11688
    assert row["joints_pa [m]"] == "" and row["mesh_posed [m]"] == ""
