"""The original's aggregation of per-frame errors, its results table, and JSON/CSV writers
(docs/original_release.md §7.3).

Aggregation, as the original:

1. per test file (one video), the per-frame values of all its person tubes are pooled and
   nan-averaged (:func:`file_means`);
2. the dataset score is the nan-mean of the per-file means, rounded to 5 decimals
   (:func:`dataset_scores`);
3. for Human3.6M only the camera-3 files (``*cam03*``) are evaluated (:func:`select_test_files`).

Results are nested dicts ``{dataset: {metric: value}}`` in the units of
:data:`src.evaluation.metrics.METRIC_UNITS` (metres, pixels). A metric that is unavailable for a
dataset (no 3D ground truth, no mesh) is missing or NaN; the table prints it as -1 like the
original, JSON stores ``null``, CSV leaves the cell empty.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from src.evaluation.metrics import M_TO_MM, METRIC_UNITS

# The original's printed columns, in its order.
TABLE_COLUMNS: tuple[str, ...] = (
    "accel",
    "kp",
    "kp_pa",
    "kp_pck",
    "joints",
    "joints_pa",
    "mesh_posed",
    "mesh_tpose",
)
UNAVAILABLE = -1.0  # printed for a metric a dataset does not have, as the original
DECIMALS = 5  # the original rounds dataset scores to 5 decimals
H36M_DATASET = "h36m"
H36M_TEST_PATTERN = "*cam03*"  # the original evaluates Human3.6M on camera 3 only

_NAME_WIDTH = 15  # the original's layout: '{:>15}' + '{:>11}' * 8
_COL_WIDTH = 11

Results = Mapping[str, Mapping[str, float]]


# --------------------------------------------------------------------------------------------
# Aggregation


def select_test_files(paths: Iterable[str], dataset: str) -> list[str]:
    """Sorted test files of ``dataset``; for ``h36m`` only those whose file name matches
    ``*cam03*``.

    Args:
        paths: candidate file paths (e.g. ``<root>/<dataset>/<split>/*.tfrecord``).
        dataset: dataset name (``3dpw``, ``h36m``, ``penn_action`` ...).
    """
    paths = sorted(str(p) for p in paths)
    if dataset != H36M_DATASET:
        return paths
    return [p for p in paths if fnmatch.fnmatch(os.path.basename(p), H36M_TEST_PATTERN)]


def pool_tubes(tube_errors: Iterable[Mapping[str, np.ndarray | float]]) -> dict[str, np.ndarray]:
    """Pool the per-frame errors of all tubes of one file: concatenate each metric's values.

    Args:
        tube_errors: one dict per tube, ``metric -> (n_frames,)`` values (a scalar counts as one
            value, as the original's ``-1`` placeholders do).
    Returns:
        ``metric -> (sum of n_frames,)`` float64.
    """
    pooled: dict[str, list[np.ndarray]] = {}
    for tube in tube_errors:
        for key, values in tube.items():
            pooled.setdefault(key, []).append(np.atleast_1d(np.asarray(values, np.float64)))
    return {key: np.concatenate(parts) for key, parts in pooled.items()}


def nan_mean(values: np.ndarray | Sequence[float]) -> float:
    """Mean ignoring NaN; NaN (without a warning) when nothing is left."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def file_means(pooled: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Nan-mean of each metric of one file's pooled per-frame values."""
    return {key: nan_mean(values) for key, values in pooled.items()}


def dataset_scores(
    per_file: Mapping[str, Mapping[str, float]], decimals: int | None = DECIMALS
) -> dict[str, float]:
    """Dataset score per metric: nan-mean over files of the per-file means, rounded.

    Args:
        per_file: ``file -> metric -> mean`` (from :func:`file_means`).
        decimals: rounding as the original (5), or ``None`` for none.
    Returns:
        ``metric -> score``; NaN when no file has a value.
    """
    keys: list[str] = []
    for means in per_file.values():
        keys.extend(k for k in means if k not in keys)
    scores = {}
    for key in keys:
        score = nan_mean([means.get(key, math.nan) for means in per_file.values()])
        scores[key] = round(score, decimals) if decimals is not None else score
    return scores


def aggregate_dataset(
    per_file_tubes: Mapping[str, Iterable[Mapping[str, np.ndarray | float]]],
    decimals: int | None = DECIMALS,
) -> dict[str, float]:
    """The whole original aggregation for one dataset: ``file -> [tube errors]`` -> scores."""
    return dataset_scores(
        {name: file_means(pool_tubes(tubes)) for name, tubes in per_file_tubes.items()}, decimals
    )


# --------------------------------------------------------------------------------------------
# Units


def unit_of(metric: str, units: Mapping[str, str] = METRIC_UNITS) -> str:
    """Unit string of a metric, ``?`` when unknown."""
    return units.get(metric, "?")


def results_in_mm(
    results: Results, units: Mapping[str, str] = METRIC_UNITS
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Convert metre-valued metrics (``m``, ``m/frame^2``) to millimetres.

    Returns:
        ``(results in mm, their units)``; other metrics and the -1 placeholder are unchanged.
    """
    new_units = {k: u.replace("m", "mm", 1) if u.startswith("m") else u for k, u in units.items()}
    converted: dict[str, dict[str, float]] = {}
    for dataset, metrics in results.items():
        converted[dataset] = {}
        for key, value in metrics.items():
            scale = M_TO_MM if units.get(key, "").startswith("m") else 1.0
            keep = value is None or value == UNAVAILABLE
            converted[dataset][key] = value if keep else float(value) * scale
    return converted, new_units


# --------------------------------------------------------------------------------------------
# Table, JSON, CSV


def _is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_table(
    results: Results,
    columns: Sequence[str] = TABLE_COLUMNS,
    units: Mapping[str, str] = METRIC_UNITS,
    title: str = "Data",
) -> str:
    """The original's summary table (datasets sorted, ``{:>15}`` then ``{:>11.5f}`` columns,
    widened where a value needs it, :func:`align_columns`), with a second header line giving
    each column's unit. Missing/NaN values print as -1.

    Args:
        results: ``dataset -> metric -> value``.
        columns: metrics to print, default the original's eight.
        units: unit per metric.
    Returns:
        The table as text (no trailing newline).
    """
    rows = [[title, *columns], ["", *(unit_of(c, units) for c in columns)]]
    for dataset, metrics in sorted(results.items()):
        values = [metrics.get(c) for c in columns]
        values = [UNAVAILABLE if _is_missing(v) else float(v) for v in values]
        rows.append([dataset, *(f"{v:.{DECIMALS}f}" for v in values)])
    return align_columns(rows)


def align_columns(rows: Sequence[Sequence[str]]) -> str:
    """Right-aligned text columns in the original's layout: the first (names) at least
    ``_NAME_WIDTH`` wide, the others at least ``_COL_WIDTH``, each widened to its longest cell
    plus one space, so that values never touch (``123456.70000`` next to ``234567.80000``).

    Args:
        rows: cells per row, the same number in every row.
    Returns:
        The lines joined by newlines (no trailing newline).
    """
    num_columns = len(rows[0])
    widths = [_NAME_WIDTH] + [_COL_WIDTH] * (num_columns - 1)
    for row in rows:
        if len(row) != num_columns:
            raise ValueError(f"align_columns: expected {num_columns} cells, got {len(row)}")
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell) + (1 if j else 0))
    return "\n".join(
        "".join(f"{cell:>{w}}" for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def _ordered_metrics(results: Results, columns: Sequence[str]) -> list[str]:
    """The table columns first, then any other metric in first-seen order."""
    keys = list(columns)
    for metrics in results.values():
        keys.extend(k for k in metrics if k not in keys)
    return keys


def _json_value(value: float | None) -> float | None:
    return None if _is_missing(value) else float(value)


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temp file next to ``path``, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_results_json(
    path: str,
    results: Results,
    units: Mapping[str, str] = METRIC_UNITS,
    metadata: Mapping[str, object] | None = None,
) -> None:
    """Write ``{"units": {...}, "results": {dataset: {metric: value|null}}, "metadata": {...}}``
    atomically. NaN becomes ``null``.
    """
    metrics = _ordered_metrics(results, ())
    payload = {
        "units": {k: unit_of(k, units) for k in metrics},
        "results": {
            ds: {k: _json_value(v) for k, v in vals.items()} for ds, vals in sorted(results.items())
        },
        "metadata": dict(metadata or {}),
    }
    _write_atomic(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_results_json(path: str) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Read a file of :func:`write_results_json`: ``(results with null -> NaN, units)``."""
    try:
        with open(path) as handle:
            payload = json.load(handle)
        results = {
            ds: {k: math.nan if v is None else float(v) for k, v in vals.items()}
            for ds, vals in payload["results"].items()
        }
        return results, dict(payload["units"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: results JSON not found") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path}: expected a results JSON with 'units' and 'results' ({err})"
        ) from None


def format_csv(
    results: Results,
    columns: Sequence[str] = TABLE_COLUMNS,
    units: Mapping[str, str] = METRIC_UNITS,
) -> str:
    """CSV text: header ``dataset,<metric> [<unit>],...``, one row per dataset (sorted), the
    table columns first then the other metrics; missing values are empty cells.
    """
    keys = _ordered_metrics(results, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", *(f"{k} [{unit_of(k, units)}]" for k in keys)])
    for dataset, metrics in sorted(results.items()):
        cells = [metrics.get(k) for k in keys]
        writer.writerow([dataset, *("" if _is_missing(v) else repr(float(v)) for v in cells)])
    return buffer.getvalue()


def write_results_csv(
    path: str,
    results: Results,
    columns: Sequence[str] = TABLE_COLUMNS,
    units: Mapping[str, str] = METRIC_UNITS,
) -> None:
    """Write :func:`format_csv` atomically to ``path``."""
    _write_atomic(path, format_csv(results, columns, units))
