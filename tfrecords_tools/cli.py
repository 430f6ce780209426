"""The converters' command line: the shared flags, and running a converter from them.

Flags keep the original converters' names and defaults (docs/original_release.md §2.8):
``--data_directory``, ``--output_directory``, ``--split``, ``--num_copy``, ``--precomputed_phi``,
``--pretrained_model_path``, ``--img_size``, ``--trans_max``, ``--delta_trans_max``,
``--scale_max``, ``--delta_scale_max``, ``--save_img``; boolean flags read absl-style
(``--flag``, ``--noflag``, ``--flag=False``) so the original command lines still work. This port
adds ``--precision`` (the ResNet's arithmetic for ``image/phis``: float32 as the original, or
bfloat16), ``--encoder_factory`` and ``--phi_batch_size``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from src.constants import DEFAULT_PRECISION, IMG_SIZE, PRECISIONS
from src.data.features import PHI_BATCH_SIZE
from src.data.tube_augmentation import DELTA_SCALE_MAX, DELTA_TRANS_MAX, SCALE_MAX, TRANS_MAX
from tfrecords_tools.common import Conversion, _one_line, log, run_conversion
from tfrecords_tools.encoder import DEFAULT_PRETRAINED_MODEL, EncoderSpec, check_encoder
from tfrecords_tools.track_records import TrainSettings

SPLITS = ("train", "val", "test")

# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------

_TRUE = ("1", "true", "t", "yes", "y")
_FALSE = ("0", "false", "f", "no", "n")


def parse_bool(text: str) -> bool:
    """absl-style boolean value: true/false, 1/0, yes/no (any case)."""
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def add_bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    """``--name``, ``--name=true|false``, ``--name false`` and ``--noname``, as absl parses them."""
    parser.add_argument(
        f"--{name}",
        nargs="?",
        const=True,
        default=default,
        type=parse_bool,
        metavar="BOOL",
        help=f"{help} (default {default})",
    )
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def base_parser(prog_module: str, description: str, epilog: str = "") -> argparse.ArgumentParser:
    """Parser with the flags of every converter (I/O, workers, resuming, seed, progress)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {prog_module}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data_directory", required=True, help="the raw dataset's folder")
    parser.add_argument(
        "--output_directory",
        required=True,
        help="TFRecord root (training's --data_dir); records go to "
        "<root>/<dataset>/<split>/ (a path already ending in the dataset "
        "folder is used as is)",
    )
    parser.add_argument(
        "--num_workers",
        type=int,
        default=1,
        help="processes writing files in parallel (default 1; each one loads its "
        "own ResNet, so keep 1 on a single GPU); with --runner it goes to the runner "
        "(Dataflow's worker count)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the shuffles and of the augmentation (default 0)",
    )
    add_bool_flag(
        parser,
        "overwrite",
        False,
        "rewrite files that are already complete (otherwise a rerun resumes and skips them)",
    )
    add_bool_flag(parser, "progress", True, "show progress bars")
    beam = parser.add_argument_group(
        "Apache Beam (pip install -e '.[beam]'; docs/scaling.md)",
        "With --runner the conversion runs as a Beam pipeline: inputs are read in parallel, a "
        "bad input goes to the dead-letter file with the reason while the rest completes, and "
        "every flag this tool does not know (--direct_num_workers, --project, --region, "
        "--temp_location ...) goes to the runner's pipeline options. Without --runner: this "
        "process (and --num_workers), stopping at the first bad input.",
    )
    beam.add_argument(
        "--runner",
        default=None,
        help="a Beam runner: DirectRunner (this machine), DataflowRunner, FlinkRunner, "
        "SparkRunner, PortableRunner ...",
    )
    beam.add_argument(
        "--dead_letter",
        default=None,
        metavar="FILE",
        help="JSON lines naming each input or file that failed and why (default "
        "<output folder>/../<split>.dead_letter.jsonl)",
    )
    return parser


def add_split_flag(
    parser: argparse.ArgumentParser, default: str = "train", choices: Sequence[str] = SPLITS
) -> None:
    parser.add_argument(
        "--split",
        default=default,
        choices=tuple(choices),
        help=f"which split to write (default {default})",
    )


def add_train_flags(parser: argparse.ArgumentParser, num_copy: int = 1) -> None:
    """Augmentation and feature flags of the training records (§2.6, §2.8, §6.5, §6.6)."""
    group = parser.add_argument_group("training records (--split train)")
    group.add_argument(
        "--num_copy",
        type=int,
        default=num_copy,
        help=f"independently augmented copies of each track (default {num_copy})",
    )
    add_bool_flag(
        group,
        "precomputed_phi",
        True,
        "store 224 augmented crops with ResNet features (image/phis); false stores the "
        "300-px pre-crops and pixel keypoints without phi (the original's on-the-fly "
        "path; this port's training needs phi)",
    )
    group.add_argument(
        "--pretrained_model_path",
        default=DEFAULT_PRETRAINED_MODEL,
        help="weights folder holding resnet_v2_50 (converted from "
        "hmr_noS5.ckpt-642561 with python -m src.convert) "
        f"(default {DEFAULT_PRETRAINED_MODEL})",
    )
    group.add_argument(
        "--encoder_factory",
        default=None,
        metavar="MODULE:FUNCTION",
        help="advanced: a function f(img_size) returning an encoder "
        "(B, S, S, 3) in [-1, 1] -> (B, 2048), used instead of the ResNet "
        "(other backbones, tests)",
    )
    group.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="arithmetic of the ResNet computing image/phis: float32 (default, the original's "
        "features) or bfloat16 (faster on AMX / AVX-512 BF16 CPUs and GPU tensor cores; "
        "features within about 0.5%%, docs/benchmarks.md); not used with --encoder_factory",
    )
    group.add_argument(
        "--phi_batch_size",
        type=int,
        default=PHI_BATCH_SIZE,
        help=f"images per ResNet call (default {PHI_BATCH_SIZE}, the original's)",
    )
    group.add_argument("--img_size", type=int, default=IMG_SIZE, help="crop side (default 224)")
    group.add_argument(
        "--trans_max",
        type=int,
        default=TRANS_MAX,
        help=f"translation jitter bound, px (default {TRANS_MAX})",
    )
    group.add_argument(
        "--delta_trans_max",
        type=int,
        default=DELTA_TRANS_MAX,
        help="frame-to-frame translation bound; equal to --trans_max gives i.i.d. "
        f"jitter, 0 a constant one per track (default {DELTA_TRANS_MAX})",
    )
    group.add_argument(
        "--scale_max",
        type=float,
        default=SCALE_MAX,
        help=f"scale jitter: factor 2**u, |u| < scale_max (default {SCALE_MAX})",
    )
    group.add_argument(
        "--delta_scale_max",
        type=float,
        default=DELTA_SCALE_MAX,
        help=f"frame-to-frame scale-exponent bound (default {DELTA_SCALE_MAX})",
    )
    add_bool_flag(group, "save_img", True, "store the crops as JPEG (image/encoded)")


# ---------------------------------------------------------------------------------------------
# Settings from the flags
# ---------------------------------------------------------------------------------------------


def train_settings(args: argparse.Namespace) -> TrainSettings:
    """:class:`TrainSettings` from parsed flags, checking them (and the weights folder) early."""
    if args.num_copy < 1:
        raise ValueError(f"--num_copy must be >= 1, got {args.num_copy}")
    if args.trans_max < 0 or args.scale_max < 0:
        raise ValueError("--trans_max and --scale_max must be >= 0")
    encoder = EncoderSpec(
        args.pretrained_model_path,
        args.encoder_factory,
        args.phi_batch_size,
        args.img_size,
        args.precision,
    )
    if args.precomputed_phi:
        check_encoder(encoder)
    return TrainSettings(
        args.precomputed_phi,
        encoder,
        args.img_size,
        args.trans_max,
        args.delta_trans_max,
        args.scale_max,
        args.delta_scale_max,
        args.save_img,
    )


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def run_cli(
    parser: argparse.ArgumentParser,
    conversion: Callable[[argparse.Namespace], Conversion],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv``, build the :class:`Conversion` and run it in this process or, with
    ``--runner``, as a Beam pipeline (:mod:`tfrecords_tools.beam`); a bad input prints one line
    (no traceback) and returns 1.

    Returns:
        The exit status (0 on success; 1 also when the Beam run sent inputs to the dead letter).
    """
    args, extra = parser.parse_known_args(argv)
    if extra and not args.runner:
        parser.error(f"unrecognized arguments: {' '.join(extra)} (runner options need --runner)")
    if getattr(args, "num_workers", 1) < 1:
        parser.error("--num_workers must be >= 1")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        job = conversion(args)
        if not args.runner:
            run_conversion(job, args)
            return 0
        from tfrecords_tools import beam

        if args.num_workers > 1:  # Dataflow's option of the same name: its worker count
            extra = [*extra, f"--num_workers={args.num_workers}"]
        failed = beam.run(job, args, extra)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        print(f"{parser.prog}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    if failed:
        print(
            f"{parser.prog}: {failed} input(s) or file(s) failed, the rest was written; "
            f"reasons in {beam.dead_letter_path(job, args)}",
            file=sys.stderr,
        )
        return 1
    return 0
