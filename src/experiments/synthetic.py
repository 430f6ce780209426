"""The paper's claims on a synthetic world:
``python -m src.experiments.synthetic --out runs/synth``.

One resumable command (rerun it after an interruption: finished stages are kept):

1. retargets the CMU clips (``--mocap_dir``) onto the body model (:mod:`src.motion`), cached as
   ``<out>/clips/<name>.npz``;
2. generates the world (:mod:`src.synthetic.world`) into ``<out>/world``;
3. trains, each through ``python -m src.main --flagfile configs/synthetic_*.cfg`` like any
   user's run (run folders ``<out>/runs/<name>``):
   - ``single``: the single-frame baseline (``--use_hmr_only``: per-frame HMR, no temporal
     encoder), on the 3D and 2D tiers;
   - ``single_long``: the same trained twice as long (a control for the fine-tuned run);
   - ``temporal``: HMMR (temporal encoder, past/future regressors, hallucinator), same data;
   - ``temporal_from_single``: HMMR with its present regressor initialised from ``single``, as
     the paper's from HMR;
   - ``temporal_present_only``: ``temporal`` with the present-frame losses only (ablation);
   - ``temporal_3d_only``: HMMR on the 3D tier alone (the semi-supervision comparison);
4. evaluates each with ``python -m src.evaluation.evaluate`` on the held-out subjects
   (``--use_phi``; ``--with_const`` scores the present prediction copied to t-5 and t+5, the
   paper's constant baseline; ``--pred_mode const`` the hallucinator and its baseline);
5. writes the report: tables and plots as Markdown + SVG and every figure as JSON
   (``--report_dir``, default ``<out>/report``; the committed copy lives in ``docs/``).

``--preset small`` is the CI-sized world and schedule (minutes on 2 cores); ``full`` the one
reported in docs/results_synthetic.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src import paths
from src.joints import pelvis
from src.machine import machine_summary
from src.synthetic.cli import DEFAULT_MOCAP_DIR
from src.synthetic.world import TIER_3D, WorldConfig

PROG = "python -m src.experiments.synthetic"
CONFIG_DIR = paths.REPO_ROOT / "configs"
TEST_DATASET = TIER_3D
FPS = 30.0
NOTES_MARKER = "<!-- notes: kept when the report is regenerated -->"


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the experiment."""

    name: str
    flagfile: str
    flags: tuple[str, ...] = ()
    hallucinator: bool = True
    init_from: str | None = None  # a run whose export initialises this one (--pretrained_...)
    steps_factor: int = 1  # training steps = steps_factor x the preset's steps


RUNS = (
    Run("single", "synthetic_single.cfg", hallucinator=False),
    # control: the single-frame model trained as many steps as HMMR's single + fine-tuning
    Run("single_long", "synthetic_single.cfg", hallucinator=False, steps_factor=2),
    # HMMR from scratch (temporal encoder, past/future regressors, hallucinator)
    Run("temporal", "synthetic_temporal.cfg"),
    # HMMR as the paper trains it: the present IEF and mean theta start from the trained
    # single-frame model (the original's use_hmr_ief_init from hmr_noS5), the rest from scratch
    Run("temporal_from_single", "synthetic_temporal.cfg", init_from="single"),
    # ablation: the temporal encoder with the present-frame losses only (no past/future, no
    # hallucinator), to tell what the temporal encoder does for the present frame from what the
    # past/future losses do to it (they start from the present prediction)
    Run(
        "temporal_present_only",
        "synthetic_temporal.cfg",
        ("--nopredict_delta", "--nodo_hallucinate", "--nodo_hallucinate_preds"),
        hallucinator=False,
    ),
    Run(
        "temporal_3d_only",
        "synthetic_temporal.cfg",
        (f"--datasets={TIER_3D}", "--nosplit_balanced"),
    ),
)
# the runs scored on the val split too, and the rows of Table 2
PRESENT_RUNS = (
    "single",
    "single_long",
    "temporal",
    "temporal_from_single",
    "temporal_present_only",
)


@dataclasses.dataclass(frozen=True)
class Preset:
    world: WorldConfig
    steps: int
    clip_limit: int | None = None  # clips per subject (None = all)
    runs: tuple[str, ...] = tuple(run.name for run in RUNS)  # which of RUNS to train

    def __post_init__(self) -> None:
        by_name = {run.name: run for run in RUNS}
        for name in self.runs:
            source = by_name[name].init_from
            if source is not None and source not in self.runs[: self.runs.index(name)]:
                raise ValueError(f"run {name} starts from {source}, which the preset trains later")


PRESETS = {
    "full": Preset(WorldConfig(), steps=7000),
    "small": Preset(
        WorldConfig(tracks_3d=240, tracks_2d=240, test_max_frames=150, mocap_samples=4000),
        steps=800,
        clip_limit=2,
        runs=("single", "temporal"),  # CI: no semi-supervision run (minutes matter)
    ),
}


# ----------------------------------------------------------------------------------------------
# Stages


def _log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def _run(command: Sequence[str], log_path: Path) -> None:
    """Run a stage's command, its output into ``log_path`` (and its tail on failure)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        result = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=paths.REPO_ROOT, check=False
        )
    if result.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{command[2]} exited {result.returncode}; log {log_path}:\n{tail}")


def record_time(out: Path, stage: str, seconds: float) -> None:
    """Add a finished stage's wall time to ``<out>/timings.json`` (a resumed experiment reports
    the time of every stage, not only of its last invocation)."""
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    timings[stage] = round(seconds, 1)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(timings, indent=2) + "\n")
    os.replace(tmp, path)


def total_time(out: Path) -> dict[str, float]:
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def train(run: Run, world: Path, out: Path, steps: int, smpl: str, extra: Sequence[str]) -> Path:
    """Train one run (resumes from its checkpoints); returns its weights folder."""
    run_dir = out / "runs" / run.name
    export = run_dir / "export"
    if (export / "model_config.json").is_file():
        return export
    steps *= run.steps_factor
    init = []
    if run.init_from is not None:
        init = [f"--pretrained_model_path={out / 'runs' / run.init_from / 'export'}"]
    command = [
        sys.executable,
        "-m",
        "src.main",
        f"--flagfile={CONFIG_DIR / run.flagfile}",
        f"--data_dir={world}",
        f"--model_dir={run_dir}",
        f"--max_iteration={steps}",
        f"--smpl_model_path={smpl}",
        *run.flags,
        *init,
        *extra,
    ]
    _log(f"train {run.name}: {steps} steps -> {run_dir}")
    start = time.time()
    _run(command, out / "logs" / f"train_{run.name}.log")
    record_time(out, f"train_{run.name}", time.time() - start)
    _log(f"train {run.name}: done in {time.time() - start:.0f} s")
    return export


def evaluate(
    run: Run, weights: Path, world: Path, out: Path, smpl: str, mode: str, split: str = "test"
) -> dict[str, Any]:
    """Evaluate one run's weights with the real evaluator on ``split`` (``test``: the held-out
    subjects; ``val``: training subjects' clips seen anew); returns the results JSON."""
    result_dir = out / "eval" / (f"{run.name}_{mode}" + ("" if split == "test" else f"_{split}"))
    stem = f"results_{split}_{mode}_{TEST_DATASET}.json"
    if not (result_dir / stem).is_file():
        command = [
            sys.executable,
            "-m",
            "src.evaluation.evaluate",
            f"--load_path={weights}",
            f"--tf_dir={world}",
            f"--test_datasets={TEST_DATASET}",
            f"--split={split}",
            "--use_phi",
            f"--pred_mode={mode}",
            f"--smpl_model_path={smpl}",
            f"--pred_dir={out / 'eval_cache'}",
            f"--out_dir={result_dir}",
            f"--fps={TEST_DATASET}={FPS:g}",
        ]
        if mode == "pred":
            command.append("--with_const")
        _log(f"evaluate {run.name} ({mode}, {split})")
        start = time.time()
        _run(command, out / "logs" / f"eval_{run.name}_{mode}_{split}.log")
        record_time(out, f"eval_{run.name}_{mode}_{split}", time.time() - start)
    return json.loads((result_dir / stem).read_text())


# ----------------------------------------------------------------------------------------------
# Report


def _value(results: Mapping[str, Any], key: str) -> float:
    value = results["results"][TEST_DATASET].get(key)
    return math.nan if value is None else float(value)


def summarise(evals: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The three tables (and their acceptance checks) from the evaluator's results."""
    present_keys = {
        "mpjpe_mm": "joints_mm",
        "pa_mpjpe_mm": "joints_pa_mm",
        "accel_mm_per_frame2": "accel_mm_per_frame2",
        "accel_error_mm_per_frame2": "accel_error_pelvis_mm_per_frame2",
        "accel_error_unaligned_mm_per_frame2": "accel_error_mm_per_frame2",
    }
    table2 = {
        name: {label: _value(evals[f"{name}_pred"], key) for label, key in present_keys.items()}
        for name in PRESENT_RUNS
        if f"{name}_pred" in evals
    }
    table5 = {}
    for source, mode in (("temporal", "temporal_pred"), ("hallucinator", "temporal_const")):
        table5[source] = {
            f"{when}_{kind}": _value(evals[mode], f"joints_pa_{when}{suffix}_mm")
            for when in ("past", "future")
            for kind, suffix in (("learned", ""), ("constant", "_const"))
        }
        table5[source]["present"] = _value(evals[mode], "joints_pa_mm")
    semi = {
        name: {label: _value(evals[f"{name}_pred"], key) for label, key in present_keys.items()}
        for name in ("temporal_3d_only", "temporal")
        if f"{name}_pred" in evals
    }
    val_keys = {
        **present_keys,
        "pa_mpjpe_past_mm": "joints_pa_past_mm",
        "pa_mpjpe_past_constant_mm": "joints_pa_past_const_mm",
        "pa_mpjpe_future_mm": "joints_pa_future_mm",
        "pa_mpjpe_future_constant_mm": "joints_pa_future_const_mm",
    }
    in_distribution = {
        name: {label: _value(evals[f"{name}_pred_val"], key) for label, key in val_keys.items()}
        for name in PRESENT_RUNS
        if f"{name}_pred_val" in evals
    }
    single, temporal = table2["single"], table2["temporal"]
    checks = {
        "temporal accel error <= 0.5 x single-frame": temporal["accel_error_mm_per_frame2"]
        <= 0.5 * single["accel_error_mm_per_frame2"],
        "temporal PA-MPJPE <= single-frame": temporal["pa_mpjpe_mm"] <= single["pa_mpjpe_mm"],
    }
    if "temporal_from_single" in table2:  # the paper's recipe, fine-tuned from single-frame
        checks["HMMR fine-tuned from single-frame: PA-MPJPE <= single-frame"] = (
            table2["temporal_from_single"]["pa_mpjpe_mm"] <= single["pa_mpjpe_mm"]
        )
    for source in ("temporal", "hallucinator"):
        for when in ("past", "future"):
            row = table5[source]
            ratio = 0.9 if source == "temporal" else 1.0
            checks[
                f"{source} t{'-' if when == 'past' else '+'}5 PA-MPJPE <= {ratio:g} x constant"
            ] = row[f"{when}_learned"] <= ratio * row[f"{when}_constant"]
    if "temporal_3d_only" in semi:
        checks["3D + 2D tiers PA-MPJPE <= 3D tier alone"] = (
            semi["temporal"]["pa_mpjpe_mm"] <= semi["temporal_3d_only"]["pa_mpjpe_mm"]
        )
    return {
        "table2": table2,
        "table5": table5,
        "semi_supervision": semi,
        "in_distribution": in_distribution,
        "checks": {k: bool(v) for k, v in checks.items()},
    }


def accel_series(out: Path, clip: str) -> dict[str, list[float]]:
    """Per-frame acceleration (mm/frame^2, pelvis-aligned 14 joints) of one test clip: ground
    truth, single-frame and temporal predictions (from the evaluator's prediction cache)."""
    from src.data.schema import parse_example_np

    record = out / "world" / TEST_DATASET / "test" / f"{clip}.tfrecord"
    import tensorflow as tf

    tube = parse_example_np(next(iter(tf.data.TFRecordDataset(str(record)).as_numpy_iterator())))

    def accel(joints: np.ndarray) -> list[float]:
        j = np.asarray(joints, np.float64)[:, :14]
        j = j - pelvis(j)[:, None]
        second = j[:-2] - 2 * j[1:-1] + j[2:]
        return [math.nan, *(1000 * np.linalg.norm(second, axis=-1).mean(axis=-1)), math.nan]

    series = {"ground truth": accel(tube["joints3d"])}
    for name, label in (("single", "single-frame"), ("temporal", "temporal (HMMR)")):
        # the evaluator names a run's cache <run>-export-<fingerprint>; the newest is this run's
        pattern = f"{name}-export-*/{TEST_DATASET}-test-{clip}-P0-pred.npz"
        found = list((out / "eval_cache").glob(pattern))
        if found:
            with np.load(max(found, key=lambda p: p.stat().st_mtime)) as data:
                series[label] = accel(data["joints"])
    return series


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def write_report(
    summary: Mapping[str, Any],
    meta: Mapping[str, Any],
    report_dir: Path,
    accel: Mapping[str, list[float]],
    test_clip: str,
) -> Path:
    """``results_synthetic.md``, ``.json`` and two SVG plots into ``report_dir``."""
    from src.experiments import svg

    report_dir.mkdir(parents=True, exist_ok=True)
    svg.line_chart(
        report_dir / "results_synthetic_accel.svg",
        accel,
        f"Per-frame acceleration, test clip {test_clip}",
        "frame (30 fps)",
        "acceleration (mm/frame^2)",
    )
    t5 = summary["table5"]
    groups = ["t-5", "t", "t+5"]
    series = {
        "temporal, learned": [
            t5["temporal"]["past_learned"],
            t5["temporal"]["present"],
            t5["temporal"]["future_learned"],
        ],
        "temporal, constant": [
            t5["temporal"]["past_constant"],
            t5["temporal"]["present"],
            t5["temporal"]["future_constant"],
        ],
        "hallucinator, learned": [
            t5["hallucinator"]["past_learned"],
            t5["hallucinator"]["present"],
            t5["hallucinator"]["future_learned"],
        ],
        "hallucinator, constant": [
            t5["hallucinator"]["past_constant"],
            t5["hallucinator"]["present"],
            t5["hallucinator"]["future_constant"],
        ],
    }
    svg.bar_chart(
        report_dir / "results_synthetic_dynamics.svg",
        groups,
        series,
        "PA-MPJPE of past / present / future predictions",
        "PA-MPJPE (mm)",
    )
    payload = {**summary, "meta": dict(meta)}
    json_path = report_dir / "results_synthetic.json"
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    os.replace(tmp, json_path)
    md = report_dir / "results_synthetic.md"
    notes = ""
    if md.is_file() and NOTES_MARKER in md.read_text():  # hand-written reading of the numbers
        notes = md.read_text().split(NOTES_MARKER, 1)[1]
    tmp = md.with_name(md.name + ".tmp")
    tmp.write_text(_markdown(summary, meta) + "\n" + NOTES_MARKER + notes)
    os.replace(tmp, md)
    return md


TABLE2_LABELS = {
    "single": "single-frame (--use_hmr_only)",
    "single_long": "single-frame, trained twice as long (control)",
    "temporal": "HMMR",
    "temporal_from_single": "HMMR fine-tuned from the single-frame model (the paper's recipe)",
    "temporal_present_only": "ablation: HMMR, present losses only",
}


def _markdown(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    t2, t5, semi = summary["table2"], summary["table5"], summary["semi_supervision"]
    lines = [
        "# Results on the synthetic world (generated by `src.experiments.synthetic`)",
        "",
        f"Command: `{meta['command']}`  ",
        f"Seed: {meta['seed']}, preset `{meta['preset']}`, {meta['steps']} training steps per "
        f"run  ",
        f"Machine: {meta['machine']}; date {meta['date']}; wall time {meta['wall_s'] / 60:.1f} "
        "min (every stage, summed over resumed invocations: "
        + ", ".join(f"{k} {v / 60:.1f}" for k, v in meta["stage_wall_s"].items())
        + ")  ",
        f"Held-out CMU subjects: {meta['test_subjects']}",
        "",
        "## Table 2 analogue: single-frame vs temporal (held-out subjects)",
        "",
        "| model | MPJPE (mm) | PA-MPJPE (mm) | accel (mm/frame^2) | accel error (mm/frame^2) "
        "| accel error, unaligned |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in TABLE2_LABELS.items():
        if name not in t2:
            continue
        row = t2[name]
        lines.append(
            f"| {label} | {_fmt(row['mpjpe_mm'])} | {_fmt(row['pa_mpjpe_mm'])} | "
            f"{_fmt(row['accel_mm_per_frame2'], 2)} | {_fmt(row['accel_error_mm_per_frame2'], 2)}"
            f" | {_fmt(row['accel_error_unaligned_mm_per_frame2'], 2)} |"
        )
    lines += [
        "",
        "## Table 5 analogue: PA-MPJPE (mm) of past and future predictions",
        "",
        "| source | t-5 learned | t-5 constant | t | t+5 learned | t+5 constant |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("temporal", "hallucinator"):
        row = t5[name]
        lines.append(
            f"| {name} | {_fmt(row['past_learned'])} | {_fmt(row['past_constant'])} | "
            f"{_fmt(row['present'])} | {_fmt(row['future_learned'])} | "
            f"{_fmt(row['future_constant'])} |"
        )
    lines += [
        "",
        "## Semi-supervision: HMMR on the 3D tier alone vs 3D + 2D-only tiers (scored in 3D)",
        "",
        "| training data | MPJPE (mm) | PA-MPJPE (mm) | accel error (mm/frame^2) |",
        "|---|---|---|---|",
    ]
    for name, label in (("temporal_3d_only", "3D tier"), ("temporal", "3D + 2D-only tiers")):
        if name not in semi:
            lines.append(f"| {label} | not run in this preset | | |")
            continue
        row = semi[name]
        lines.append(
            f"| {label} | {_fmt(row['mpjpe_mm'])} | {_fmt(row['pa_mpjpe_mm'])} | "
            f"{_fmt(row['accel_error_mm_per_frame2'], 2)} |"
        )
    lines += _in_distribution_section(summary.get("in_distribution", {}))
    lines += ["", "## Checks", ""]
    lines += [f"- {'yes' if ok else '**no**'}: {name}" for name, ok in summary["checks"].items()]
    lines += [
        "",
        "![acceleration](results_synthetic_accel.svg)",
        "",
        "![past/present/future](results_synthetic_dynamics.svg)",
        "",
    ]
    lines += _world_section(meta)
    return "\n".join(lines) + "\n"


def _in_distribution_section(rows: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The same models on the val split: training subjects' clips, new cameras, bodies, noise."""
    if not rows:
        return []
    lines = [
        "",
        "## In-distribution check (not the held-out score)",
        "",
        "The `val` split holds the first clip of each *training* subject, seen by new cameras on "
        "new bodies with new noise: it separates what the noise costs (which context can "
        "remove) from what generalising to unseen motion costs (which it cannot).",
        "",
        "| model | MPJPE (mm) | PA-MPJPE (mm) | accel error (mm/frame^2) | t-5 learned / constant "
        "| t+5 learned / constant |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in TABLE2_LABELS.items():
        if name not in rows:
            continue
        row = rows[name]
        if name not in ("temporal", "temporal_from_single"):  # no past/future regressor
            dynamics = "(not trained) | (not trained)"
        else:
            dynamics = (
                f"{_fmt(row['pa_mpjpe_past_mm'])} / {_fmt(row['pa_mpjpe_past_constant_mm'])} | "
                f"{_fmt(row['pa_mpjpe_future_mm'])} / {_fmt(row['pa_mpjpe_future_constant_mm'])}"
            )
        lines.append(
            f"| {label} | {_fmt(row['mpjpe_mm'])} | {_fmt(row['pa_mpjpe_mm'])} | "
            f"{_fmt(row['accel_error_mm_per_frame2'], 2)} | {dynamics} |"
        )
    return lines


def _world_section(meta: Mapping[str, Any]) -> list[str]:
    """How the numbers were made: the world, the split, the models, the metrics."""
    world, split, counts = meta["world"], meta["split"], meta["counts"]
    lines = [
        "## The world (src/synthetic/world.py)",
        "",
        "Real motion: the CMU clips retargeted onto the body model (`python -m src.motion`, "
        "docs/retargeting.md), at 30 fps. Each track is a window of a clip on a body of random "
        "shape, seen by a weak-perspective camera that orbits, tilts, zooms and pans; theta "
        "(camera | pose in the camera frame | betas), the 2D keypoints and the 3D joints are "
        "exact. phi is a frozen random two-layer tanh network (never trained) of what the camera "
        "sees in that frame: the 25 joints in the crop, their depth relative to the pelvis (a "
        "weak cue) and their blur streak over a half-frame exposure, each with independent "
        "per-frame noise, a fraction of hard frames with stronger noise, and noise on phi. A "
        "single frame is ambiguous (depth is mostly hidden, every joint is jittered); context "
        "can help. The parameters were set before any training run and were not tuned to the "
        "test split.",
        "",
        f"- Subjects held out for test: {split['test']}; 3D tier from {split['train_3d']}; "
        f"2D-only tier from {split['train_2d']} (a different set, as in-the-wild video adds "
        "motion a lab lacks).",
        f"- Records: {counts}.",
        f"- Test clips: {', '.join(meta.get('test_clips', []))} (first "
        f"{world['test_max_frames']} frames each, one tube per file, test schema).",
        "- Models: `configs/synthetic_single.cfg` (`--use_hmr_only`) and "
        "`configs/synthetic_temporal.cfg`: phi 256-D, IEF hidden 512, hallucinator 256, "
        "discriminator all-joint FC 256, temporal encoder 3 blocks (13-frame receptive field), "
        "T = 20, B = 8, Adam 3e-4 (discriminator 1e-4), every loss weight as the original; the "
        f"body model is the generated stand-in ({meta['body_model']}).",
        '- Metrics: the evaluator\'s (docs/evaluation.md), 14 joints. "accel error" is the '
        "acceleration error after pelvis alignment (VIBE/TCMR's); the unaligned one compares "
        "with ground truth that keeps its root trajectory, which no model here predicts.",
        "",
        "| parameter | value |",
        "|---|---|",
    ]
    lines += [f"| `{key}` | {value} |" for key, value in world.items()]
    lines += [
        "",
        "The motion comes from the CMU Graphics Lab Motion Capture Database. "
        "The data used in this project was obtained from mocap.cs.cmu.edu. "
        "The database was created with funding from NSF EIA-0196217.",
    ]
    return lines


# ----------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--out", required=True, help="experiment folder (rerun the same command to resume)")
    add("--preset", choices=sorted(PRESETS), default="full", help="world and schedule size")
    add("--mocap_dir", default=str(DEFAULT_MOCAP_DIR), help="folder of CMU .bvh[.gz] clips")
    add(
        "--smpl_model_path",
        default=paths.STANDIN_NAME,
        help="body model (default: the generated stand-in)",
    )
    add("--seed", type=int, default=0, help="world seed")
    add("--steps", type=int, default=None, help="training steps per run (default: the preset's)")
    add("--report_dir", default=None, help="where the report goes (default <out>/report)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from src.smpl.resolve import resolve_body_model
    from src.synthetic.clips import clip_files, load_clips
    from src.synthetic.world import write_world

    started = time.time()
    preset = PRESETS[args.preset]
    cfg = dataclasses.replace(preset.world, seed=args.seed)
    steps = args.steps or preset.steps
    out = Path(args.out).resolve()
    smpl = str(resolve_body_model(args.smpl_model_path).path)
    _log(f"retarget clips from {args.mocap_dir}")
    files = clip_files(args.mocap_dir, preset.clip_limit)
    world_done = (out / "world" / "world.json").is_file()
    clips = load_clips(files, out / "clips", cfg.fps, smpl)
    _log(f"world: {len(clips)} clips -> {out / 'world'}")
    manifest = write_world(clips, out / "world", cfg, smpl)
    if not world_done:
        record_time(out, "retarget_and_world", time.time() - started)
    extra = [f"--phi_dim={cfg.phi_dim}"]
    evals: dict[str, Any] = {}
    for run in (r for r in RUNS if r.name in preset.runs):
        weights = train(run, out / "world", out, steps, smpl, extra)
        evals[f"{run.name}_pred"] = evaluate(run, weights, out / "world", out, smpl, "pred")
        if run.hallucinator and run.name == "temporal":
            evals[f"{run.name}_const"] = evaluate(run, weights, out / "world", out, smpl, "const")
        if run.name in PRESENT_RUNS:
            evals[f"{run.name}_pred_val"] = evaluate(
                run, weights, out / "world", out, smpl, "pred", split="val"
            )
    summary = summarise(evals)
    test_clip = manifest["clips"]["test"][0]
    meta = {
        "command": " ".join([PROG, *(argv if argv is not None else sys.argv[1:])]),
        "preset": args.preset,
        "seed": args.seed,
        "steps": steps,
        "world": manifest["config"],
        "test_subjects": manifest["split"]["test"],
        "test_clips": manifest["clips"]["test"],
        "split": manifest["split"],
        "counts": manifest["counts"],
        "machine": machine_summary(),
        "date": datetime.date.today().isoformat(),
        "wall_s": sum(total_time(out).values()),
        "stage_wall_s": total_time(out),
        "body_model": smpl,
    }
    report = write_report(
        summary,
        meta,
        Path(args.report_dir or out / "report"),
        accel_series(out, test_clip),
        test_clip,
    )
    for name, ok in summary["checks"].items():
        _log(f"{'PASS' if ok else 'FAIL'} {name}")
    _log(f"report: {report}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    try:
        return main(argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
