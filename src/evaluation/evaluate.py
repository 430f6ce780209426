"""Evaluate a weights folder on the test TFRecords (``python -m src.evaluation.evaluate``,
entry point ``hmmr-evaluate``), as the original ``src/evaluation/eval.py``
(docs/original_release.md §7):

    python -m src.evaluation.evaluate --load_path models/hmmr_tf2 --tf_dir TEST_TFRECORD_ROOT \\
        --split val --test_datasets 3dpw,h36m,penn_action --pred_mode pred

1. test records ``<tf_dir>/<dataset>/<split>/*.tfrecord`` (§6.2; one file per video, one record
   per person tube, keypoints in crop pixels); Human3.6M only ``*cam03*`` files;
2. per tube, predictions of the sliding window (§7.2) on the JPEG crops through the ResNet of the
   weights folder, or on ``image/phis`` with ``--use_phi``; cached per (checkpoint, dataset, file,
   person, mode) in ``--pred_dir`` so a rerun or an interrupted run resumes;
3. per-frame metrics (:mod:`src.evaluation.metrics`), pooled per file, then the nan-mean of the
   file means per dataset (:mod:`src.evaluation.aggregate`);
4. the past/future predictions from a single frame are scored as the original's frame alignment
   (§5.4): the prediction made at frame t for offset dt against the ground truth at t + dt;
5. the original's table (metres, crop pixels) with a units line, the same in millimetres, the
   acceleration (predicted ``accel`` and ``accel_error`` against ground truth, per frame^2 and
   per s^2 at the dataset's frame rate) and the past/present/future table are printed;
   ``results_<split>_<mode>_<datasets>.json`` and ``.csv`` are written with every number and its
   unit.

``--pred_mode``: ``pred`` (temporal encoder), ``hal`` (hallucinator, single frame), ``const``
(the paper's Table 5 baseline: the hallucinator's present prediction used as the past and the
future, next to the hallucinator's own past/future predictions; the original's const mode
crashed). Errors print one line to stderr and exit with status 1; Ctrl-C keeps the cache (exit
status 130).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    RESNET_PART,
    available_parts,
    read_model_config,
    resolve,
)
from src.data.pipeline import dataset_files
from src.data.schema import MISSING_SMPL_VALUE, parse_example_np
from src.evaluation.aggregate import (
    DECIMALS,
    TABLE_COLUMNS,
    aggregate_dataset,
    align_columns,
    format_table,
    select_test_files,
    write_results_csv,
    write_results_json,
)
from src.evaluation.cache import CACHED_KEYS, PredictionCache
from src.evaluation.metrics import (
    M_TO_MM,
    METRIC_UNITS,
    frame_errors,
    frames_with_3d,
    pve_m,
    to_per_s2,
)
from src.evaluation.options import PROG, EvalOptions, default_pred_dir, parse_options
from src.inference.models import load_networks
from src.inference.predictor import Predictor
from src.networks.config import ModelConfig
from src.networks.outputs import theta_to_body
from src.smpl.layer import SMPL
from src.smpl.resolve import resolve_body_model

DATASETS_3D = ("3dpw", "h36m")  # datasets scored in 3D, as the original
MESH_DATASET = "3dpw"  # mesh errors: 3DPW ...
MESH_SPLIT = "test"  # ... test split only, as the original
CACHE_MODE = {"pred": "pred", "hal": "hal", "const": "hal"}  # const reuses the hal predictions
# Frame rates of the test records (3DPW 30 fps; H3.6M subsampled to 25 fps by read_human36m;
# Penn Action assumed at 30 fps); override with --fps.
DATASET_FPS: dict[str, float] = {"3dpw": 30.0, "h36m": 25.0, "penn_action": 30.0}
DELTA_METRICS = ("kp", "kp_pa", "kp_pck", "joints", "joints_pa")  # scored for past/future
CONST_SUFFIX = "_const"
MM_DECIMALS = 3
MESH_CHUNK = 256  # frames per body-model call for the mesh errors
PART_ENCODERS = ("temporal_encoder", "hallucinator", "ief_regressor")

# --------------------------------------------------------------------------------------------
# Inputs: files, records, body model


def find_test_files(tf_dir: str, dataset: str, split: str) -> list[str]:
    """Sorted test files of one dataset (H3.6M: ``*cam03*`` only), or a FileNotFoundError that
    names the folder searched."""
    root = Path(tf_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{tf_dir}: test TFRecord root not found (--tf_dir)")
    files = select_test_files(dataset_files(root, dataset, split), dataset)
    if not files:
        which = "*cam03*.tfrecord" if dataset == "h36m" else "*.tfrecord"
        raise FileNotFoundError(
            f"{root / dataset / split}: no {which} files for dataset '{dataset}' split '{split}'"
        )
    return files


def read_tubes(path: str) -> Iterator[dict[str, Any]]:
    """Parsed records (person tubes) of one test file, in order; errors name the file."""
    try:
        records = tf.data.TFRecordDataset(path).as_numpy_iterator()
        for index, record in enumerate(records):
            yield parse_example_np(record, source=f"{path} (record {index})")
    except tf.errors.OpError as err:
        first = str(err.message).splitlines()[0] if err.message else type(err).__name__
        raise ValueError(f"{path}: not a readable TFRecord file ({first})") from None


class BodyModel:
    """The SMPL layer, loaded on first use (cached predictions need it only for meshes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.cached_property
    def layer(self) -> SMPL:
        return SMPL(self.path)

    def vertices(self, betas: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """``(M, 10)`` betas, ``(M, 72)`` axis-angle poses -> ``(M, V, 3)`` float64 metres."""
        theta = np.zeros((len(betas), constants.THETA_DIM))  # the camera plays no part
        theta[:, constants.POSE_SLICE] = poses
        theta[:, constants.SHAPE_SLICE] = betas
        out = theta_to_body(self.layer, tf.constant(theta, tf.float32))
        return np.asarray(out["vertices"], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Predictions


def _decode_crops(jpegs: Sequence[bytes], img_size: int, source: str) -> Iterator[np.ndarray]:
    """JPEG crops -> ``(S, S, 3)`` uint8 RGB frames, one at a time."""
    for index, jpeg in enumerate(jpegs):
        try:
            frame = tf.io.decode_jpeg(jpeg, channels=3).numpy()
        except tf.errors.OpError:
            raise ValueError(f"{source}: frame {index} of 'image/encoded' is not a JPEG") from None
        if frame.shape != (img_size, img_size, 3):
            raise ValueError(
                f"{source}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, the model "
                f"expects {img_size}x{img_size} crops"
            )
        yield frame


class ModelPredictions:
    """Per-tube predictions of a weights folder with the original's sliding window.

    The networks are built and loaded on the first call, so a fully cached evaluation never
    builds them. Checks that need no weights (the parts present, the input) run at once.

    Args:
        folder: resolved weights folder.
        config: its :class:`ModelConfig`.
        body: the body model.
        T: window length; batch_size: windows per forward pass.
        use_phi: predict from the records' ``image/phis`` (else from the JPEG crops); their
            width must be ``config.phi_dim`` (any width; the ResNet path needs 2048).
        precision: arithmetic of the ResNet (``float32`` or ``bfloat16``).

    Call:
        ``predictions(tube, mode, source)`` with a parsed record, ``mode`` ``pred`` or ``hal``
        and a name for errors -> dict of :data:`src.evaluation.cache.CACHED_KEYS` arrays.
    """

    def __init__(
        self,
        folder: Path,
        config: ModelConfig,
        body: BodyModel,
        T: int,
        batch_size: int,
        use_phi: bool,
        precision: str = constants.DEFAULT_PRECISION,
    ) -> None:
        parts = set(available_parts(folder))
        missing = [p for p in PART_ENCODERS if p not in parts]
        if missing:
            raise ValueError(
                f"{folder}: has no {missing} weights (it has {sorted(parts)}); "
                "convert the HMMR checkpoint into it with python -m src.convert"
            )
        self.has_resnet = RESNET_PART in parts
        resnet_width = constants.PHI_DIM  # ResNet-50 v2 features
        if not use_phi and config.phi_dim != resnet_width:
            raise ValueError(
                f"{folder}: phi_dim {config.phi_dim} cannot take the ResNet-50 v2 features of "
                f"the test crops ({resnet_width} per frame); evaluate records whose image/phis "
                f"hold {config.phi_dim} floats per frame with --use_phi"
            )
        # with --use_phi the ResNet only gives the padding phi (§7.2), when its width fits
        self.pad_with_resnet = self.has_resnet and config.phi_dim == resnet_width
        if not use_phi and not self.has_resnet:
            raise ValueError(
                f"{folder}: has no '{RESNET_PART}' part to encode the test crops; convert the HMR "
                "checkpoint into the same folder (python -m src.convert --hmr_ckpt ...), or "
                "evaluate records that hold image/phis with --use_phi"
            )
        if use_phi and not self.pad_with_resnet:
            why = (
                f"has no '{RESNET_PART}' part"
                if not self.has_resnet
                else f"has phi_dim {config.phi_dim}, not its '{RESNET_PART}' part's {resnet_width}"
            )
            print(
                f"{PROG}: warning: {folder} {why}, so the sliding window "
                "pads sequence ends with zero features instead of the feature of a zero image "
                "(docs/original_release.md §7.2): frames within 6 of either end differ from the "
                "original's protocol",
                file=sys.stderr,
            )
        self.folder, self.config, self.body = folder, config, body
        self.T, self.batch_size, self.use_phi = T, batch_size, use_phi
        self.precision = precision
        self._predictors: dict[str, Any] = {}

    @functools.cached_property
    def _networks(self) -> tuple[Any, Any]:
        """(HMMR model, ResNet or None) with the folder's weights."""
        # the ResNet also with --use_phi: its zero-image phi is the padding (§7.2)
        nets = load_networks(
            self.folder, self.config, with_resnet=self.pad_with_resnet, precision=self.precision
        )
        return nets.model, nets.resnet

    def _predictor(self, mode: str) -> Predictor:
        if mode not in self._predictors:
            model, resnet = self._networks
            self._predictors[mode] = Predictor(
                model,
                self.body.layer,
                T=self.T,
                batch_size=self.batch_size,
                resnet=resnet,
                pred_mode=mode,
            )
        return self._predictors[mode]

    def __call__(self, tube: Mapping[str, Any], mode: str, source: str) -> dict[str, np.ndarray]:
        num_frames = int(tube["N"])
        if self.use_phi:
            if tube.get("phi") is None:
                raise ValueError(
                    f"{source}: the record has no image/phis; evaluate it without "
                    "--use_phi (from the JPEG crops)"
                )
            width = int(np.shape(tube["phi"])[1])
            if width != self.config.phi_dim:
                raise ValueError(
                    f"{source}: image/phis holds {width} floats per frame; the model expects "
                    f"{self.config.phi_dim} (phi_dim in {self.folder / CONFIG_FILE})"
                )
            out = self._predictor(mode).predict_phi(tube["phi"])
        else:
            jpegs = tube.get("images") or []
            if len(jpegs) != num_frames:
                raise ValueError(
                    f"{source}: the record has {len(jpegs)} image/encoded crops for "
                    f"{num_frames} frames; records with image/phis need --use_phi"
                )
            crops = _decode_crops(jpegs, self.config.img_size, source)
            out = self._predictor(mode).predict_images(crops)
        return {key: np.asarray(out[key]) for key in CACHED_KEYS}


# --------------------------------------------------------------------------------------------
# Errors of one tube


def delta_suffixes(delta_t_values: Sequence[int]) -> list[str]:
    """Result-key suffix per offset: ``_past`` / ``_future`` (``_past10`` ... when several)."""
    num_past = sum(dt < 0 for dt in delta_t_values)
    num_future = sum(dt > 0 for dt in delta_t_values)
    out = []
    for dt in delta_t_values:
        word, count = ("past", num_past) if dt < 0 else ("future", num_future)
        out.append(f"_{word}" if count == 1 else f"_{word}{abs(dt)}")
    return out


def _aligned_frames(num_frames: int, dt: int) -> tuple[slice, slice]:
    """(prediction frames, GT frames) pairing the prediction made at t with the GT at t + dt."""
    if dt >= 0:
        return slice(0, max(num_frames - dt, 0)), slice(dt, num_frames)
    return slice(-dt, num_frames), slice(0, max(num_frames + dt, 0))


def delta_errors(
    kp_gt_px: np.ndarray,
    joints_gt: np.ndarray | None,
    kps_delta: np.ndarray,
    joints_delta: np.ndarray,
    delta_t_values: Sequence[int],
    min_visible: int,
    img_size: int,
    suffix: str = "",
) -> dict[str, np.ndarray]:
    """Errors of the past/future predictions, the prediction made at frame t for offset dt
    against the GT of frame t + dt (the original's §5.4 alignment).

    Args:
        kp_gt_px: ``(N, 25, 3)`` GT keypoints in crop pixels.
        joints_gt: ``(N, >=14, 3)`` GT joints in metres, or ``None`` (no 3D).
        kps_delta: ``(N, len(dt), 25, 2)`` normalised keypoints predicted at each frame.
        joints_delta: ``(N, len(dt), 25, 3)`` joints predicted at each frame, metres.
        suffix: appended to the keys (``_const`` for the constant baseline).
    Returns:
        ``<metric>_<past|future><suffix>`` -> ``(N - |dt|,)`` for the :data:`DELTA_METRICS`
        (nothing for an offset longer than the tube).
    """
    num_frames = len(kp_gt_px)
    out = {}
    for index, (dt, name) in enumerate(
        zip(delta_t_values, delta_suffixes(delta_t_values), strict=True)
    ):
        pred, gt = _aligned_frames(num_frames, dt)
        if pred.stop - pred.start <= 0:
            continue
        errors = frame_errors(
            kp_gt_px[gt],
            kps_delta[pred, index],
            joints_delta[pred, index],
            None if joints_gt is None else joints_gt[gt],
            min_visible=min_visible,
            img_size=img_size,
        )
        out.update({f"{key}{name}{suffix}": errors[key] for key in DELTA_METRICS if key in errors})
    return out


def mesh_errors(
    body: BodyModel,
    pose_gt: np.ndarray,
    shape_gt: np.ndarray,
    theta_pred: np.ndarray,
    valid: np.ndarray,
) -> dict[str, np.ndarray]:
    """Posed and T-pose vertex errors (metres, no alignment), as the original: the neutral body
    model with the GT pose and the record's (neutral) betas against the predicted pose and betas.

    Args:
        pose_gt: ``(N, 72)``; shape_gt: ``(10,)``; theta_pred: ``(N, 85)``; valid: ``(N,)``.
    Returns:
        ``mesh_posed``, ``mesh_tpose``: ``(N,)`` m, NaN where not ``valid``.
    """
    posed, tpose = [], []
    for start in range(0, len(theta_pred), MESH_CHUNK):
        rows = slice(start, start + MESH_CHUNK)
        theta = np.asarray(theta_pred[rows], np.float64)
        num = len(theta)
        betas_gt = np.tile(np.asarray(shape_gt, np.float64).reshape(1, -1), (num, 1))
        betas_pred = theta[:, constants.SHAPE_SLICE]
        zeros = np.zeros((num, constants.NUM_POSE))
        gt = body.vertices(betas_gt, pose_gt[rows])
        pred = body.vertices(betas_pred, theta[:, constants.POSE_SLICE])
        posed.append(pve_m(gt, pred, valid[rows]))
        tpose.append(
            pve_m(body.vertices(betas_gt, zeros), body.vertices(betas_pred, zeros), valid[rows])
        )
    return {"mesh_posed": np.concatenate(posed), "mesh_tpose": np.concatenate(tpose)}


@dataclass
class TubeSettings:
    """What the per-tube scoring needs besides the tube and its predictions."""

    has_3d: bool
    with_mesh: bool
    min_visible: int
    img_size: int
    delta_t_values: tuple[int, ...]
    const: bool
    body: BodyModel | None = None


def tube_errors(
    tube: Mapping[str, Any], preds: Mapping[str, np.ndarray], settings: TubeSettings
) -> dict[str, np.ndarray]:
    """Per-frame errors of one tube under the original's keys (present), plus the past/future
    keys (and their ``_const`` twins in const mode)."""
    kp_gt = np.asarray(tube["kp2d"], np.float64)
    # 3D scores on the original's 3D datasets, and on any other whose tubes carry 3D joints
    has_3d = settings.has_3d or bool(tube.get("has_3d_joints"))
    joints_gt = np.asarray(tube["joints3d"], np.float64) if has_3d else None
    errors = frame_errors(
        kp_gt,
        preds["kps"],
        preds["joints"],
        joints_gt,
        min_visible=settings.min_visible,
        img_size=settings.img_size,
    )
    has_smpl_gt = not np.all(np.asarray(tube["pose"]) == MISSING_SMPL_VALUE)
    if settings.with_mesh and has_smpl_gt and settings.body is not None:
        valid = frames_with_3d(kp_gt, settings.min_visible)
        errors.update(
            mesh_errors(
                settings.body,
                np.asarray(tube["pose"], np.float64),
                tube["shape"],
                preds["theta"],
                valid,
            )
        )
    common = dict(
        delta_t_values=settings.delta_t_values,
        min_visible=settings.min_visible,
        img_size=settings.img_size,
    )
    errors.update(
        delta_errors(kp_gt, joints_gt, preds["kps_delta"], preds["joints_delta"], **common)
    )
    if settings.const:
        num_dt = len(settings.delta_t_values)
        kps = np.repeat(np.asarray(preds["kps"])[:, None], num_dt, axis=1)
        joints = np.repeat(np.asarray(preds["joints"])[:, None], num_dt, axis=1)
        errors.update(delta_errors(kp_gt, joints_gt, kps, joints, suffix=CONST_SUFFIX, **common))
    return errors


# --------------------------------------------------------------------------------------------
# Results, units, tables


def base_metric(key: str) -> str:
    """The :data:`METRIC_UNITS` metric a result key derives from (longest prefix match)."""
    matches = [m for m in METRIC_UNITS if key == m or key.startswith(m + "_")]
    return max(matches, key=len) if matches else key


def dataset_results(
    scores: Mapping[str, float], fps: float | None
) -> tuple[dict[str, float], dict[str, str]]:
    """Values and units of one dataset: each metric in the original's unit (rounded to 5
    decimals as the original), metre metrics also as ``<key>_mm``, accelerations also as
    ``<key>_mm_per_frame2`` and ``<key>_mm_per_s2`` (NaN without a frame rate).

    Args:
        scores: metric -> unrounded dataset score in :data:`METRIC_UNITS` units.
        fps: frame rate of the dataset's test records, or ``None``.
    """
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    for key, value in scores.items():
        unit = METRIC_UNITS.get(base_metric(key), "?")
        values[key], units[key] = _round(value, DECIMALS), unit
        if unit == "m":
            values[f"{key}_mm"], units[f"{key}_mm"] = _round(value * M_TO_MM, MM_DECIMALS), "mm"
        elif unit == "m/frame^2":
            mm = value * M_TO_MM
            values[f"{key}_mm_per_frame2"] = _round(mm, MM_DECIMALS)
            per_s2 = to_per_s2(mm, fps) if fps else math.nan
            values[f"{key}_mm_per_s2"] = _round(per_s2, MM_DECIMALS)
            units[f"{key}_mm_per_frame2"], units[f"{key}_mm_per_s2"] = "mm/frame^2", "mm/s^2"
    return values, units


def _round(value: float, decimals: int) -> float:
    return value if math.isnan(value) else round(float(value), decimals)


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
