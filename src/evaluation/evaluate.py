"""Evaluate a weights folder on the test TFRecords (``python -m src.evaluation.evaluate``,
entry point ``hmmr-evaluate``), as the original ``src/evaluation/eval.py``
(docs/original_release.md §7):

    python -m src.evaluation.evaluate --load_path models/hmmr_tf2 --tf_dir TEST_TFRECORD_ROOT \\
        --split val --test_datasets 3dpw,h36m,penn_action --pred_mode pred

1. per person tube of the test records, the predictions of the weights folder
   (:mod:`src.evaluation.predictions`), cached per (checkpoint, dataset, file, person, mode) in
   ``--pred_dir`` so a rerun or an interrupted run resumes (:mod:`src.evaluation.cache`);
2. per-frame errors of each tube, present and past/future (:mod:`src.evaluation.tube_errors`),
   pooled per file, then the nan-mean of the file means per dataset
   (:mod:`src.evaluation.aggregate`);
3. the tables are printed (:mod:`src.evaluation.report`);
   ``results_<split>_<mode>_<datasets>.json`` and ``.csv`` are written with every number and its
   unit.

``--pred_mode``: ``pred`` (temporal encoder), ``hal`` (hallucinator, single frame), ``const``
(the paper's Table 5 baseline: the hallucinator's present prediction used as the past and the
future, next to the hallucinator's own past/future predictions; the original's const mode
crashed). Errors print one line to stderr and exit with status 1; Ctrl-C keeps the cache (exit
status 130).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from src import constants
from src.checkpoints.weights_dir import (
    CONFIG_FILE,
    DISCRIMINATOR_PART,
    available_parts,
    read_model_config,
    resolve,
)
from src.evaluation.aggregate import (
    TABLE_COLUMNS,
    aggregate_dataset,
    write_results_csv,
    write_results_json,
)
from src.evaluation.cache import PredictionCache
from src.evaluation.options import PROG, EvalOptions, default_pred_dir, parse_options
from src.evaluation.predictions import BodyModel, ModelPredictions, find_test_files, read_tubes
from src.evaluation.report import format_report
from src.evaluation.tube_errors import TubeSettings, dataset_results, tube_errors
from src.smpl.resolve import resolve_body_model

DATASETS_3D = ("3dpw", "h36m")  # datasets scored in 3D, as the original
MESH_DATASET = "3dpw"  # mesh errors: 3DPW ...
MESH_SPLIT = "test"  # ... test split only, as the original
CACHE_MODE = {"pred": "pred", "hal": "hal", "const": "hal"}  # const reuses the hal predictions
# Frame rates of the test records (3DPW 30 fps; H3.6M subsampled to 25 fps by read_human36m;
# Penn Action assumed at 30 fps); override with --fps.
DATASET_FPS: dict[str, float] = {"3dpw": 30.0, "h36m": 25.0, "penn_action": 30.0}


# --------------------------------------------------------------------------------------------
# The evaluation


@dataclass
class Evaluation:
    """What :func:`evaluate` returns: per-dataset results, their units and the metadata."""

    results: dict[str, dict[str, float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    json_path: Path | None = None
    csv_path: Path | None = None
    report: str = ""


def _checkpoint_name(folder: Path) -> str:
    return f"{folder.parent.name}-{folder.name}" if folder.name == "export" else folder.name


def _prediction_files(folder: Path, smpl_path: Path) -> list[Path]:
    """Files whose identity changes the cached predictions."""
    # the ResNet counts with --use_phi too: its zero-image phi is the window padding
    parts = [p for p in available_parts(folder) if p != DISCRIMINATOR_PART]
    return [folder / CONFIG_FILE, smpl_path, *(folder / f"{p}.npz" for p in parts)]


def _evaluate_file(
    path: str,
    dataset: str,
    predict: Callable[..., dict[str, np.ndarray]],
    cache: PredictionCache,
    mode: str,
    settings: TubeSettings,
    counts: dict[str, int],
) -> list[dict[str, np.ndarray]]:
    """Per-tube errors of one test file (predictions from the cache or the model)."""
    tubes = []
    for person, tube in enumerate(read_tubes(path)):
        num_frames = int(tube["N"])
        preds = cache.load(dataset, path, person, mode, num_frames)
        if preds is None:
            preds = predict(tube, CACHE_MODE[mode], f"{path} (person {person})")
            cache.save(dataset, path, person, mode, preds)
            counts["predicted"] += 1
        else:
            counts["cached"] += 1
        tubes.append(tube_errors(tube, preds, settings))
        counts["tubes"] += 1
        counts["frames"] += num_frames
    return tubes


def pred_dir(options: EvalOptions, folder: Path) -> Path:
    """The prediction cache root: ``--pred_dir``, else beside the weights folder."""
    return Path(options.pred_dir) if options.pred_dir else default_pred_dir(folder)


def cache_settings(options: EvalOptions) -> dict[str, object]:
    """What changes the predictions besides the files: T, the input kind and (bf16 only, so
    float32 caches keep their fingerprint) the ResNet's precision."""
    settings: dict[str, object] = {"T": options.T, "input": "phi" if options.use_phi else "images"}
    if options.precision != constants.DEFAULT_PRECISION:
        settings["precision"] = options.precision
    return settings


def evaluate(options: EvalOptions) -> Evaluation:
    """Run the whole evaluation as ``options`` say; returns the results (also written to disk)."""
    folder = resolve(options.load_path)
    config = read_model_config(folder)
    files = {ds: find_test_files(options.tf_dir, ds, options.split) for ds in options.test_datasets}
    body_choice = resolve_body_model(options.smpl_model_path)
    smpl_path, smpl_text = body_choice.path, body_choice.description
    body = BodyModel(smpl_path)
    predict = ModelPredictions(
        folder, config, body, options.T, options.batch_size, options.use_phi, options.precision
    )
    cache = PredictionCache(
        pred_dir(options, folder),
        _checkpoint_name(folder),
        _prediction_files(folder, smpl_path),
        cache_settings(options),
        overwrite=options.overwrite_cache,
    )
    mode = CACHE_MODE[options.pred_mode]
    fps_table = {**DATASET_FPS, **options.fps}
    out = Evaluation()
    counts_all = {}
    for dataset, test_files in files.items():
        settings = TubeSettings(
            has_3d=dataset in DATASETS_3D,
            min_visible=options.min_visible,
            with_mesh=dataset == MESH_DATASET and options.split == MESH_SPLIT,
            img_size=config.img_size,
            delta_t_values=tuple(config.delta_t_values),
            const=options.scores_const,
            body=body,
        )
        counts = {"files": len(test_files), "tubes": 0, "frames": 0, "predicted": 0, "cached": 0}
        per_file = {}
        ordered = test_files[::-1] if options.reverse else test_files
        for path in tqdm(
            ordered,
            desc=f"{dataset}/{options.split}",
            unit="file",
            file=sys.stderr,
            disable=None,
            leave=False,
        ):
            per_file[path] = _evaluate_file(path, dataset, predict, cache, mode, settings, counts)
        fps = fps_table.get(dataset)
        scores = {key: math.nan for key in TABLE_COLUMNS}  # every column, NaN when unavailable
        scores.update(aggregate_dataset(per_file, decimals=None))
        values, units = dataset_results(scores, fps)
        values["fps"], units["fps"] = (fps if fps else math.nan), "frames/s"
        out.results[dataset] = values
        out.units.update(units)
        counts_all[dataset] = counts
    _fill_missing(out.results)
    out.metadata = {
        "tool": PROG,
        "load_path": str(folder),
        "checkpoint_cache": str(cache.directory),
        "split": options.split,
        "pred_mode": options.pred_mode,
        "with_const": options.scores_const,
        "test_datasets": list(options.test_datasets),
        "min_visible": options.min_visible,
        "T": options.T,
        "input": "image/phis" if options.use_phi else "image/encoded crops + ResNet",
        "precision": options.precision,
        "body_model": smpl_text,
        "delta_t_values": list(config.delta_t_values),
        "fps": {ds: fps_table.get(ds) for ds in files},
        "counts": counts_all,
        "units_note": "metric keys in the original's units (m, px, m/frame^2, fraction); "
        "*_mm in mm, *_mm_per_frame2 / *_mm_per_s2 accelerations; accel is the predicted "
        "acceleration, accel_error the error against GT (no alignment), accel_error_pelvis "
        "the error after pelvis alignment",
        "aggregation": "per file: frames of all its tubes pooled and nan-averaged; per dataset: "
        "nan-mean of the file means; h36m: *cam03* files only; original keys rounded to 5 "
        "decimals",
        "delta_alignment": "<metric>_past/_future: prediction made at frame t for offset dt vs "
        "GT at t + dt; *_const: the present prediction used as past and future",
        "mesh": "3dpw test split only: neutral body model with GT pose and the record's betas vs "
        "the predicted pose and betas, no alignment",
    }
    _write_outputs(out, options, cache.directory)
    out.report = format_report(out.results, out.metadata, config.delta_t_values)
    return out


def _fill_missing(results: dict[str, dict[str, float]]) -> None:
    """Give every dataset every key (NaN where it has no value), in first-seen order."""
    keys: list[str] = []
    for values in results.values():
        keys.extend(k for k in values if k not in keys)
    for dataset, values in results.items():
        results[dataset] = {k: values.get(k, math.nan) for k in keys}


def _write_outputs(out: Evaluation, options: EvalOptions, cache_dir: Path) -> None:
    out_dir = Path(options.out_dir) if options.out_dir else cache_dir
    stem = f"results_{options.split}_{options.pred_mode}_{'-'.join(options.test_datasets)}"
    out.json_path, out.csv_path = out_dir / f"{stem}.json", out_dir / f"{stem}.csv"
    write_results_json(str(out.json_path), out.results, out.units, out.metadata)
    write_results_csv(str(out.csv_path), out.results, TABLE_COLUMNS, out.units)


def _cache_root_text(options: EvalOptions) -> str:
    try:
        return str(pred_dir(options, resolve(options.load_path)))
    except ValueError:  # interrupted before the weights folder was checked
        return "the prediction cache"


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), evaluate, print the tables; returns the exit
    status (0 ok, 1 error, 2 bad flags, 130 interrupted)."""
    try:
        options = parse_options(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        evaluation = evaluate(options)
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; finished predictions stay cached under "
            f"{_cache_root_text(options)}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except tf.errors.OpError as err:
        print(f"{PROG}: error: {type(err).__name__}: {err.message}", file=sys.stderr)
        return 1
    print(evaluation.report)
    print(f"Wrote {evaluation.json_path} and {evaluation.csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
