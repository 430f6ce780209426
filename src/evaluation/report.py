"""The printed report of the evaluation: the original's table (metres, crop pixels) with a units
line, the same in millimetres, the acceleration (predicted ``accel`` and ``accel_error`` against
ground truth, per frame^2 and per s^2 at the dataset's frame rate) and the past/present/future
table, each with its units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from src.evaluation.aggregate import TABLE_COLUMNS, align_columns, format_table
from src.evaluation.metrics import METRIC_UNITS
from src.evaluation.tube_errors import CONST_SUFFIX, delta_suffixes


@dataclass(frozen=True)
class Column:
    """One column of a printed table: result key, header, unit line, decimals."""

    key: str
    header: str
    unit: str
    decimals: int


def format_columns(
    results: Mapping[str, Mapping[str, float]], columns: Sequence[Column], title: str = "Data"
) -> str:
    """A table in the original's layout (``{:>15}`` + ``{:>11}`` per column, widened where a
    value needs it so that values never touch) with a header line, a units line and one row per
    dataset (sorted); a missing value prints as ``-``."""

    def cell(value: float | None, decimals: int) -> str:
        if value is None or math.isnan(value):
            return "-"
        return f"{value:.{decimals}f}"

    rows = [[title, *(c.header for c in columns)], ["", *(c.unit for c in columns)]]
    for dataset, values in sorted(results.items()):
        rows.append([dataset, *(cell(values.get(c.key), c.decimals) for c in columns)])
    return align_columns(rows)


MM_COLUMNS = (
    Column("joints_mm", "joints", "mm", 2),
    Column("joints_pa_mm", "joints_pa", "mm", 2),
    Column("mesh_posed_mm", "mesh_posed", "mm", 2),
    Column("mesh_tpose_mm", "mesh_tpose", "mm", 2),
)
ACCEL_COLUMNS = (
    Column("accel_mm_per_frame2", "accel", "mm/frame^2", 2),
    Column("accel_mm_per_s2", "accel", "mm/s^2", 1),
    Column("accel_error_mm_per_frame2", "accel_err", "mm/frame^2", 2),
    Column("accel_error_mm_per_s2", "accel_err", "mm/s^2", 1),
    Column("accel_error_pelvis_mm_per_frame2", "accel_errP", "mm/frame^2", 2),
    Column("accel_error_pelvis_mm_per_s2", "accel_errP", "mm/s^2", 1),
    Column("fps", "fps", "frames/s", 1),
)
ACCEL_LEGEND = (
    "  accel      predicted acceleration |X[t-1] - 2 X[t] + X[t+1]| of the 14 joints: smoothness,"
    " no GT (the original's printed 'accel'; the paper's 'acceleration error' 15.2 is this)\n"
    "  accel_err  acceleration error |accel_pred - accel_gt|, no alignment (the original's"
    " computed, unprinted accel_error)\n"
    "  accel_errP acceleration error after pelvis alignment of both (VIBE/TCMR 'Accel Error')"
)


def delta_columns(delta_t_values: Sequence[int], const: bool) -> list[Column]:
    """Columns of the past/present/future table: PCK and PA-MPJPE at each offset."""
    suffixes = delta_suffixes(delta_t_values)
    offsets = sorted([(dt, s) for dt, s in zip(delta_t_values, suffixes, strict=True)] + [(0, "")])
    columns = []
    for key, short, unit, decimals, tail in (
        ("kp_pck", "pck", "fraction", 4, ""),
        ("joints_pa", "pampjpe", "mm", 2, "_mm"),
    ):
        for dt, suffix in offsets:
            columns.append(Column(f"{key}{suffix}{tail}", f"{short}{dt:+d}", unit, decimals))
            if const and dt != 0:
                columns.append(
                    Column(f"{key}{suffix}{CONST_SUFFIX}{tail}", f"{short}{dt:+d}c", unit, decimals)
                )
    return columns


def format_report(
    results: Mapping[str, Mapping[str, float]],
    metadata: Mapping[str, Any],
    delta_t_values: Sequence[int],
) -> str:
    """Every printed table, each with its units."""
    mode = metadata["pred_mode"]
    source = {
        "pred": "temporal encoder",
        "hal": "hallucinator",
        "const": "hallucinator; c = constant baseline",
    }[mode]
    if mode != "const" and metadata.get("with_const"):
        source += "; c = constant baseline"
    blocks = [
        f"HMMR evaluation of {metadata['load_path']} on split '{metadata['split']}', pred_mode "
        f"'{mode}', min_visible {metadata['min_visible']}, T {metadata['T']}, input "
        f"{metadata['input']}, body model {metadata['body_model']}",
        "Original layout (metres, crop pixels; accel = predicted acceleration, not an error; "
        "-1 = not available):",
        format_table(results, TABLE_COLUMNS, METRIC_UNITS),
        "Millimetres:",
        format_columns(results, MM_COLUMNS),
        "Acceleration (per frame^2, and per s^2 at the dataset's frame rate):",
        format_columns(results, ACCEL_COLUMNS),
        ACCEL_LEGEND,
        f"Past/present/future ({source}): the prediction made at frame t for offset dt is "
        "scored against the GT of frame t + dt:",
        format_columns(results, delta_columns(delta_t_values, bool(metadata.get("with_const")))),
    ]
    return "\n".join(blocks)
