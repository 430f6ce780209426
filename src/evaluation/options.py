"""The options of one evaluation (``hmmr-evaluate``): the command line, parsed by argparse, becomes
a frozen :class:`EvalOptions` that :func:`src.evaluation.evaluate.evaluate` takes.

    options = parse_options(["--load_path", "models/hmmr_tf2", "--tf_dir", "tf_records"])
    evaluate(options)   # or EvalOptions(load_path=..., tf_dir=...) from Python
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

from src import constants, paths
from src.evaluation.metrics import MIN_VISIBLE

PROG = "hmmr-evaluate"
DEFAULT_DATASETS = ("3dpw", "h36m", "penn_action")
SPLITS = ("val", "test")
PRED_MODES = ("pred", "hal", "const")
PRED_DIR_NAME = "predictions_cache"  # the original's --pred_dir, now beside the weights folder


def default_pred_dir(weights_folder: str | os.PathLike) -> Path:
    """The prediction cache root when ``--pred_dir`` is not given: ``predictions_cache`` beside
    the weights folder (``models/hmmr_tf2`` -> ``models/predictions_cache``; a run's ``export/``
    -> ``<run_dir>/predictions_cache``), so the cache lives with the weights it was made from and
    never lands in the current directory."""
    return Path(weights_folder).resolve().parent / PRED_DIR_NAME


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and how (field names are the flag names; defaults the flags').

    Args:
        load_path: weights folder (``python -m src.convert`` output, or a run's ``export/``).
        tf_dir: test TFRecord root ``<tf_dir>/<dataset>/<split>/*.tfrecord``.
        test_datasets: datasets to score.
        split: ``val`` or ``test``.
        pred_mode: ``pred`` (temporal encoder), ``hal`` (hallucinator) or ``const``.
        with_const: also score the present prediction used as the past and the future.
        min_visible: minimum visible keypoints for a frame to count.
        pred_dir: prediction cache root; None = :func:`default_pred_dir` (``predictions_cache``
            beside the weights folder, never the current directory).
        overwrite_cache: recompute cached predictions.
        T: sliding-window length.
        batch_size: windows per forward pass.
        smpl_model_path: body model (or ``standin``).
        use_phi: predict from the records' ``image/phis`` instead of the JPEG crops.
        out_dir: where the results JSON/CSV go (None: the checkpoint's cache folder).
        fps: frame rates overriding the defaults, ``dataset -> frames/s``.
        reverse: process the files in reverse order.
        precision: arithmetic of the ResNet on the JPEG crops, ``float32`` or ``bfloat16``
            (without ``use_phi``; with it only the padding feature); bf16 predictions are
            cached apart.
    """

    load_path: str
    tf_dir: str
    test_datasets: tuple[str, ...] = DEFAULT_DATASETS
    split: str = "val"
    pred_mode: str = "pred"
    with_const: bool = False
    min_visible: int = MIN_VISIBLE
    pred_dir: str | None = None
    overwrite_cache: bool = False
    T: int = constants.SEQUENCE_LENGTH
    batch_size: int = 8
    smpl_model_path: str = str(paths.SMPL_MODEL_PATH)
    use_phi: bool = False
    out_dir: str | None = None
    fps: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reverse: bool = False
    precision: str = constants.DEFAULT_PRECISION

    def __post_init__(self) -> None:
        object.__setattr__(self, "test_datasets", tuple(self.test_datasets))
        object.__setattr__(self, "fps", types.MappingProxyType(dict(self.fps)))
        if self.split not in SPLITS:
            raise ValueError(f"EvalOptions: split must be one of {SPLITS}, got {self.split!r}")
        if self.pred_mode not in PRED_MODES:
            raise ValueError(
                f"EvalOptions: pred_mode must be one of {PRED_MODES}, got {self.pred_mode!r}"
            )
        if self.precision not in constants.PRECISIONS:
            raise ValueError(
                f"EvalOptions: precision must be one of {constants.PRECISIONS}, "
                f"got {self.precision!r}"
            )

    @property
    def scores_const(self) -> bool:
        """The constant baseline is scored (``--pred_mode const`` or ``--with_const``)."""
        return self.pred_mode == "const" or self.with_const

    @classmethod
    def from_namespace(cls, namespace: argparse.Namespace) -> EvalOptions:
        """The options of a parsed command line; strict: an attribute no field takes, or a
        field without attribute, is a ``ValueError`` naming it."""
        values = vars(namespace)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"EvalOptions: no field takes the flag(s) {unknown}")
        missing = sorted(fields - set(values))
        if missing:
            raise ValueError(f"EvalOptions: no flag for the field(s) {missing}")
        return cls(**values)


def parse_options(argv: Sequence[str] | None = None) -> EvalOptions:
    """Parse ``argv`` (default ``sys.argv[1:]``); bad flags print one line and exit 2."""
    return EvalOptions.from_namespace(build_parser().parse_args(argv))


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``hmmr-evaluate: error: ...``, exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. 3dpw,h36m")
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"a dataset is listed twice in '{text}'")
    return items


def _fps_overrides(text: str) -> dict[str, float]:
    out = {}
    for item in _comma_list(text):
        name, sep, value = item.partition("=")
        try:
            fps = float(value)
        except ValueError:
            fps = -1.0
        if not sep or fps <= 0:
            raise argparse.ArgumentTypeError(f"expected DATASET=FPS with FPS > 0, got '{item}'")
        out[name] = fps
    return out


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The flags of the original's eval (docs/original_release.md §2.8) and the few this port
    adds."""
    parser = _Parser(
        prog=PROG,
        description="Evaluate a weights folder on the test TFRecords as "
        "the original eval.py: per-frame metrics, per-file then per-dataset means, "
        "tables and JSON/CSV with units (docs/evaluation.md).",
    )
    add = parser.add_argument
    add(
        "--load_path",
        required=True,
        help="weights folder (python -m src.convert output, or a training run's export/)",
    )
    add(
        "--tf_dir",
        "--data_dir",
        dest="tf_dir",
        required=True,
        help="test TFRecord root: <tf_dir>/<dataset>/<split>/*.tfrecord",
    )
    add(
        "--test_datasets",
        type=_comma_list,
        default=list(DEFAULT_DATASETS),
        help="comma-separated datasets (default 3dpw,h36m,penn_action)",
    )
    add("--split", choices=SPLITS, default="val", help="val (the original's default) or test")
    add(
        "--pred_mode",
        choices=PRED_MODES,
        default="pred",
        help="pred: temporal encoder; hal: hallucinator; const: Table 5 constant baseline",
    )
    add(
        "--with_const",
        action="store_true",
        help="also score the present prediction used as the past and the future (*_const, the "
        "paper's Table 5 constant baseline) next to any --pred_mode's own past/future",
    )
    add(
        "--min_visible",
        type=_non_negative_int,
        default=MIN_VISIBLE,
        help="minimum visible keypoints for a frame to count (6)",
    )
    add(
        "--pred_dir",
        default=None,
        help=f"prediction cache root (default: {PRED_DIR_NAME}/ beside the weights folder, e.g. "
        f"models/{PRED_DIR_NAME} for models/hmmr_tf2, RUN_DIR/{PRED_DIR_NAME} for a run)",
    )
    add("--overwrite_cache", action="store_true", help="recompute cached predictions")
    add(
        "--T",
        type=_positive_int,
        default=constants.SEQUENCE_LENGTH,
        help="sliding-window length (20)",
    )
    add("--batch_size", type=_positive_int, default=8, help="windows per forward pass (8)")
    add(
        "--smpl_model_path",
        default=str(paths.SMPL_MODEL_PATH),
        help=f"neutral body model with the 25-joint regressor; '{paths.STANDIN_NAME}' = the "
        "generated "
        "stand-in (also the fallback, with a warning, when the default file is absent)",
    )
    add(
        "--use_phi",
        action="store_true",
        help="predict from the records' image/phis instead of encoding the JPEG crops",
    )
    add(
        "--out_dir",
        default=None,
        help="where the results JSON/CSV go (default <pred_dir>/<checkpoint cache folder>)",
    )
    add(
        "--fps",
        type=_fps_overrides,
        default={},
        help="frame rates for the per-second^2 columns, e.g. 3dpw=30,h36m=25",
    )
    add("--reverse", action="store_true", help="process the files in reverse order")
    add(
        "--precision",
        choices=constants.PRECISIONS,
        default=constants.DEFAULT_PRECISION,
        help="arithmetic of the ResNet on the JPEG crops: float32 (default, the original's "
        "numbers) or bfloat16 (faster on AMX / AVX-512 BF16 CPUs and GPU tensor cores; "
        "cached apart; docs/benchmarks.md). With --use_phi it only changes the padding feature",
    )
    return parser
