"""The experiment's report: tables and checks from the evaluator's JSON, SVG charts."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from src.experiments import svg
from src.experiments import synthetic as E


def _evaluation(**values: float) -> dict:
    return {"results": {E.TEST_DATASET: values}}


def _evals(single_accel: float, temporal_accel: float) -> dict:
    present = dict(
        joints_mm=100.0, joints_pa_mm=60.0, accel_mm_per_frame2=5.0, accel_error_mm_per_frame2=9.0
    )
    return {
        "single_pred": _evaluation(**present, accel_error_pelvis_mm_per_frame2=single_accel),
        "temporal_pred": _evaluation(
            **{**present, "joints_pa_mm": 50.0},
            accel_error_pelvis_mm_per_frame2=temporal_accel,
            joints_pa_past_mm=60.0,
            joints_pa_past_const_mm=80.0,
            joints_pa_future_mm=70.0,
            joints_pa_future_const_mm=75.0,
        ),
        "temporal_const": _evaluation(
            joints_pa_mm=55.0,
            joints_pa_past_mm=70.0,
            joints_pa_past_const_mm=72.0,
            joints_pa_future_mm=71.0,
            joints_pa_future_const_mm=71.5,
        ),
        "temporal_3d_only_pred": _evaluation(
            **{**present, "joints_pa_mm": 55.0}, accel_error_pelvis_mm_per_frame2=4.0
        ),
    }


def test_summary_reads_the_evaluator_keys_and_checks_each_claim():
    summary = E.summarise(_evals(single_accel=10.0, temporal_accel=4.0))
    assert summary["table2"]["temporal"]["accel_error_mm_per_frame2"] == 4.0
    assert summary["table2"]["single"]["accel_error_unaligned_mm_per_frame2"] == 9.0
    assert summary["table5"]["temporal"] == {
        "past_learned": 60.0,
        "past_constant": 80.0,
        "future_learned": 70.0,
        "future_constant": 75.0,
        "present": 50.0,
    }
    checks = summary["checks"]
    assert checks["temporal accel error <= 0.5 x single-frame"]
    assert checks["temporal PA-MPJPE <= single-frame"]
    assert checks["temporal t-5 PA-MPJPE <= 0.9 x constant"]
    assert not checks["temporal t+5 PA-MPJPE <= 0.9 x constant"]  # 70 > 0.9 * 75
    assert checks["hallucinator t+5 PA-MPJPE <= 1 x constant"]
    assert checks["3D + 2D tiers PA-MPJPE <= 3D tier alone"]  # 50 <= 55
    fine_tuned = "HMMR fine-tuned from single-frame: PA-MPJPE <= single-frame"
    assert fine_tuned not in checks  # not run
    evals = _evals(10.0, 4.0)
    evals["temporal_from_single_pred"] = _evaluation(joints_pa_mm=61.0)
    evals["temporal_3d_only_pred"]["results"][E.TEST_DATASET]["joints_pa_mm"] = 49.0
    summary = E.summarise(evals)
    assert not summary["checks"][fine_tuned]  # 61 > 60
    assert not summary["checks"]["3D + 2D tiers PA-MPJPE <= 3D tier alone"]  # 50 > 49
    assert summary["table2"]["temporal_from_single"]["pa_mpjpe_mm"] == 61.0
    assert not E.summarise(_evals(10.0, 6.0))["checks"][
        "temporal accel error <= 0.5 x single-frame"
    ]


def test_a_missing_metric_is_nan_and_fails_its_check():
    evals = _evals(10.0, 4.0)
    del evals["temporal_pred"]["results"][E.TEST_DATASET]["joints_pa_past_mm"]
    summary = E.summarise(evals)
    assert math.isnan(summary["table5"]["temporal"]["past_learned"])
    assert not summary["checks"]["temporal t-5 PA-MPJPE <= 0.9 x constant"]


def test_svg_charts_are_well_formed_with_one_mark_per_value(tmp_path):
    line = svg.line_chart(
        tmp_path / "a.svg",
        {"gt": [1.0, 2.0, math.nan, 3.0], "pred": [2.0, 1.0, 0.5, 0.2]},
        "t",
        "x",
        "y",
    )
    root = ET.parse(line).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2  # the NaN splits "gt" into a 2-point run and a 1-point run (dropped)
    bars = svg.bar_chart(
        tmp_path / "b.svg", ["t-5", "t"], {"a": [1.0, 2.0], "b": [3.0, 4.0]}, "t", "y"
    )
    rects = ET.parse(bars).getroot().findall(f"{ns}rect")
    assert len(rects) == 1 + 4 + 2  # background, 4 bars, 2 legend swatches


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (0.0, 173.0), (2.5, 2.6)])
def test_ticks_are_round_and_cover_the_range(low, high):
    ticks = svg.nice_ticks(low, high)
    assert ticks[0] >= low and ticks[-1] <= high + 1e-9 and 3 <= len(ticks) <= 11


def _meta() -> dict:
    return {
        "command": "python -m src.experiments.synthetic --out x",
        "preset": "small",
        "seed": 0,
        "steps": 10,
        "machine": "cpu",
        "date": "2026-12-06",
        "wall_s": 120.0,
        "stage_wall_s": {"train_single": 60.0, "train_temporal": 60.0},
        "test_subjects": [5],
        "test_clips": ["05_01"],
        "world": {"seed": 0, "phi_dim": 256, "test_max_frames": 150},
        "split": {"test": [5], "train_3d": [1], "train_2d": [2]},
        "counts": {"synth_3d": 1},
        "body_model": "standin.pkl",
    }


def test_report_keeps_hand_written_notes_when_regenerated(tmp_path):
    summary = E.summarise(_evals(10.0, 4.0))
    accel = {"ground truth": [math.nan, 1.0, 2.0, math.nan], "single-frame": [math.nan, 3, 4, 5]}
    md = E.write_report(summary, _meta(), tmp_path, accel, "05_01")
    text = md.read_text()
    assert f"| {E.TABLE2_LABELS['temporal']} | 100.0 | 50.0 | 5.00 | 4.00 | 9.00 |" in text
    assert "wall time 2.0 min" in text and "mocap.cs.cmu.edu" in text
    assert text.rstrip().endswith(E.NOTES_MARKER)
    md.write_text(text + "\n## Reading the results\nhand-written\n")
    E.write_report(summary, _meta(), tmp_path, accel, "05_01")
    again = md.read_text()
    assert again.count("## Reading the results\nhand-written") == 1
    assert again.count(E.NOTES_MARKER) == 1
    payload = json.loads((tmp_path / "results_synthetic.json").read_text())
    assert payload["table2"]["temporal"]["pa_mpjpe_mm"] == 50.0 and payload["meta"]["seed"] == 0
    for name in ("results_synthetic_accel.svg", "results_synthetic_dynamics.svg"):
        ET.parse(tmp_path / name)


def test_a_preset_must_train_a_run_before_the_runs_it_initialises():
    runs = E.PRESETS["full"].runs
    assert runs.index("single") < runs.index("temporal_from_single")
    with pytest.raises(ValueError, match="temporal_from_single starts from single"):
        E.Preset(E.PRESETS["small"].world, steps=1, runs=("temporal_from_single", "single"))
