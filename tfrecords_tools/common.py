"""What every converter shares: flags, output folders, the phi encoder, crops, pickles, the CLI.

Flags keep the original converters' names and defaults (docs/original_release.md §2.8):
``--data_directory``, ``--output_directory``, ``--split``, ``--num_copy``, ``--precomputed_phi``,
``--pretrained_model_path``, ``--img_size``, ``--trans_max``, ``--delta_trans_max``,
``--scale_max``, ``--delta_scale_max``, ``--save_img``; boolean flags read absl-style
(``--flag``, ``--noflag``, ``--flag=False``) so the original command lines still work. This port
adds ``--precision`` (the ResNet's arithmetic for ``image/phis``: float32 as the original, or
bfloat16), ``--encoder_factory`` and ``--phi_batch_size``.

``--output_directory`` is the TFRecord root that training reads (``--data_dir``): records go to
``<root>/<dataset>/<split>/``. A path that already ends in the dataset's folder name (as in the
original ``prepare_datasets.sh``, e.g. ``.../penn_action``) is used as is.

Training records (§6.1, §6.4-§6.6) are built per track as: per-frame 300-px pre-crop around the
person (:func:`precrop_track`) -> tube augmentation and phi (:func:`build_train_track`). Test
records (§6.2) are 224 crops around the smoothed box, keypoints in crop pixels
(:func:`build_test_track`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from src import paths
from src.checkpoints.weights_dir import RESNET_PART, WeightsDirError, available_parts
from src.constants import DEFAULT_PRECISION, IMG_SIZE, NUM_KPS, PRECISIONS
from src.data import schema
from src.data.features import PHI_BATCH_SIZE, FeatureExtractor, precompute_copies
from src.data.tfrecord_lib import write_shards_parallel
from src.data.tube_augmentation import (
    DELTA_SCALE_MAX,
    DELTA_TRANS_MAX,
    PRECROP_PX,
    SCALE_MAX,
    TRANS_MAX,
    TubeAugmenter,
    crop_for_test,
    precrop,
)
from src.inference.models import load_resnet
from src.smpl.io import RestrictedUnpickler, count_elements
from src.video.bbox import SmoothBBoxes

log = logging.getLogger("tfrecords_tools")

DEFAULT_PRETRAINED_MODEL = str(paths.HMR_WEIGHTS_DIR)  # converted from hmr_noS5.ckpt-642561
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
# Settings passed to the worker processes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderSpec:
    """How to build the phi encoder in a (worker) process."""

    pretrained_model_path: str = DEFAULT_PRETRAINED_MODEL
    encoder_factory: str | None = None
    batch_size: int = PHI_BATCH_SIZE
    img_size: int = IMG_SIZE
    precision: str = DEFAULT_PRECISION


@dataclass(frozen=True)
class TrainSettings:
    """Everything a worker needs to turn pre-crops into training records."""

    precomputed_phi: bool = True
    encoder: EncoderSpec = EncoderSpec()
    img_size: int = IMG_SIZE
    trans_max: int = TRANS_MAX
    delta_trans_max: int = DELTA_TRANS_MAX
    scale_max: float = SCALE_MAX
    delta_scale_max: float = DELTA_SCALE_MAX
    save_img: bool = True

    def augmenter(self) -> TubeAugmenter:
        return TubeAugmenter(
            self.img_size,
            self.trans_max,
            self.delta_trans_max,
            self.scale_max,
            self.delta_scale_max,
        )

    def extractor(self) -> FeatureExtractor:
        return get_extractor(self.encoder)


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


def check_encoder(spec: EncoderSpec) -> None:
    """Fail now (not in a worker) when the encoder cannot be found."""
    if spec.encoder_factory:
        import_callable(spec.encoder_factory)
        return
    parts = available_parts(spec.pretrained_model_path)
    if RESNET_PART not in parts:
        raise WeightsDirError(
            f"{spec.pretrained_model_path}: weights folder without "
            f"'{RESNET_PART}' (it has {parts}); convert hmr_noS5.ckpt-642561 "
            "with python -m src.convert"
        )


def import_callable(path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--encoder_factory: expected MODULE:FUNCTION, got {path!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--encoder_factory {path}: cannot import it ({err})") from None


@functools.lru_cache(maxsize=2)
def get_extractor(spec: EncoderSpec) -> FeatureExtractor:
    """The phi extractor of this process (built once): the ResNet-50 v2 restored from the weights
    folder (computing in ``spec.precision``), or the ``encoder_factory``'s model."""
    if spec.encoder_factory:
        model = import_callable(spec.encoder_factory)(spec.img_size)
    else:
        _gpu_memory_growth()
        model = load_resnet(spec.pretrained_model_path, spec.img_size, spec.precision)
    return FeatureExtractor(model, spec.batch_size, spec.img_size)


def _gpu_memory_growth() -> None:
    """Let several worker processes share a GPU instead of the first one taking all memory."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process
            pass


# ---------------------------------------------------------------------------------------------
# Output folders and writing
# ---------------------------------------------------------------------------------------------


def dataset_dir(
    output_directory: str | os.PathLike, dataset: str, aliases: Sequence[str] = ()
) -> Path:
    """``<root>/<dataset>``, or ``output_directory`` itself when it already names the dataset."""
    out = Path(output_directory)
    if out.name in (dataset, *aliases):
        return out
    return out / dataset


def split_dir(
    output_directory: str | os.PathLike, dataset: str, split: str, aliases: Sequence[str] = ()
) -> Path:
    """``<root>/<dataset>/<split>`` (see :func:`dataset_dir`)."""
    return dataset_dir(output_directory, dataset, aliases) / split


def write_files(
    tasks: Sequence[tuple[Path, Any]],
    build: Callable[[Any], Iterable[bytes]],
    args: argparse.Namespace,
    desc: str,
) -> dict[Path, int]:
    """Write every ``(path, payload)`` task with ``build`` (see
    :func:`src.data.tfrecord_lib.write_shards_parallel`); finished files are skipped unless
    ``--overwrite``. Logs what was written and skipped."""
    written = write_shards_parallel(
        tasks,
        build,
        num_workers=args.num_workers,
        resume=not args.overwrite,
        desc=desc,
        progress=args.progress,
    )
    skipped = len(tasks) - len(written)
    log.info(
        "%s: wrote %d file(s) (%d records), skipped %d already complete",
        desc,
        len(written),
        sum(written.values()),
        skipped,
    )
    return written


@dataclass(frozen=True)
class Plan:
    """The files to write (``(path, payload)``, ``build(payload)`` gives a file's records) and
    what happened on the way (``{"tracks_dropped_short": 3, ...}``, logged and Beam counters)."""

    tasks: list[tuple[Path, Any]]
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Conversion:
    """One converter run as data, the same for this process and for a Beam pipeline:

    ``inputs`` (cheap names, listed in a fixed order) -> ``read`` each one (where a bad input
    fails, naming its file) -> ``plan`` over all that was read, in input order (the
    deterministic shuffle and shard assignment) -> ``build`` each file's records, written
    atomically. ``setup`` runs once per worker before building (loads the ResNet).
    """

    desc: str
    output: Path  # the folder the files go to
    inputs: Sequence[Any]
    read: Callable[[Any], Any]
    plan: Callable[[list[Any]], Plan]
    build: Callable[[Any], Iterable[bytes]]
    name_of: Callable[[Any], str] = str
    setup: Callable[[], Any] | None = None


def identity(value: Any) -> Any:
    return value


def encoder_setup(settings: TrainSettings | None) -> Callable[[], Any] | None:
    """What a worker runs once before building training files: load the phi encoder."""
    if settings is None or not settings.precomputed_phi:
        return None
    return functools.partial(get_extractor, settings.encoder)


def run_conversion(conversion: Conversion, args: argparse.Namespace) -> dict[Path, int]:
    """This process's path: read every input (the first bad one stops the run), plan, write
    the files over ``--num_workers`` processes."""
    from tqdm import tqdm

    items = [
        conversion.read(item)
        for item in tqdm(
            conversion.inputs,
            desc=f"{conversion.desc}: reading",
            unit="input",
            disable=not args.progress or len(conversion.inputs) < 2,
        )
    ]
    plan = conversion.plan(items)
    for key, value in sorted(plan.counts.items()):
        log.info("%s: %s = %d", conversion.desc, key, value)
    return write_files(plan.tasks, conversion.build, args, conversion.desc)


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator determined by ``seed`` and the task's keys (same draws when resumed or run
    over any number of processes)."""
    return np.random.default_rng([seed, *[int(k) for k in keys]])


def safe_name(name: str) -> str:
    """A file-name-safe form of a video/sequence name (``tag/video`` -> ``tag_video``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.strip("/"))


# ---------------------------------------------------------------------------------------------
# Reading inputs
# ---------------------------------------------------------------------------------------------


def load_pickle(path: str | os.PathLike, what: str = "pickle") -> Any:
    """Unpickle a dataset file (Python 2 or 3; latin-1 strings) allowing only plain data
    (numpy arrays, lists, dicts, strings): nothing in the file is executed.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable, or not plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    # Read into memory first: a length field claiming gigabytes then reads what the file holds.
    data = path.read_bytes()
    try:
        loaded = RestrictedUnpickler(io.BytesIO(data), path).load()
        count_elements(loaded)  # a few shared lists can unfold into billions of elements
        return loaded
    except Exception as err:  # corrupt or truncated pickles raise many types
        text = " ".join(str(err).split())[:300]
        if not text.startswith(str(path)):
            text = f"{path}: {text}"
        raise ValueError(f"not a readable {what} ({type(err).__name__}): {text}") from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Errors raised deep inside a reader of ``path`` (a string where numbers belong, a list
    where a dict was expected) become one ``ValueError`` naming the file."""
    try:
        yield
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read") from None
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError) as err:
        message = " ".join(str(err).split())
        if type(err) is ValueError and str(path) in message:
            raise
        raise ValueError(
            f"{path}: unexpected content ({type(err).__name__}: {message[:200]})"
        ) from None


def require_keys(data: Any, keys: Sequence[str], path: Path, what: str) -> None:
    """ValueError naming ``path`` when ``data`` is not a dict with all ``keys``."""
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{path}: expected a {what} dict with keys {list(keys)}, got {type(data).__name__}"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{path}: {what} lacks key(s) {missing} (has {sorted(map(str, data))})")


def as_array(
    value: Any, path: Path, key: str, shape: tuple[int | None, ...], dtype: Any = np.float64
) -> np.ndarray:
    """``value`` as an array of ``shape`` (None = any size), or a ValueError naming the file."""
    if np.iscomplexobj(value):  # the cast below would drop the imaginary part silently
        raise ValueError(f"{path}: '{key}' holds complex numbers")
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: '{key}' is not numeric") from None
    ok = array.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, array.shape, strict=True)
    )
    if not ok:
        wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{path}: '{key}' has shape {array.shape}, expected {wanted}")
    return array


# ---------------------------------------------------------------------------------------------
# Crops and tracks
# ---------------------------------------------------------------------------------------------


def precrop_track(
    frames: Iterable[np.ndarray],
    kp2d: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
) -> dict[str, np.ndarray]:
    """The 300-px pre-crop of every frame of a track (§6.4).

    Args:
        frames: N ``(H, W, 3)`` uint8 RGB frames (read lazily, one at a time).
        kp2d: ``(N, 25, 3)`` pixel (x, y, vis) in the frames.
        centers: ``(N, 2)`` person centers; scales: ``(N,)`` resize factors (150 / diagonal).
    Returns:
        ``frames`` (N, 300, 300, 3) uint8, ``kp2d`` (N, 25, 3) pre-crop pixels, ``scale_factors``
        (N, 2) actual (fx, fy), ``crop_pts`` (N, 2) crop start in the frame padded by 300.
    """
    crops, kps, factors, starts = [], [], [], []
    for i, frame in enumerate(frames):
        out = precrop(frame, kp2d[i], centers[i], float(scales[i]))
        crops.append(out["image"])
        kps.append(out["kp2d"])
        factors.append(out["scale_factors"])
        starts.append(out["crop_pt"])
    if len(crops) != len(kp2d):
        raise ValueError(f"precrop_track: got {len(crops)} frames for {len(kp2d)} keypoint rows")
    return {
        "frames": np.stack(crops),
        "kp2d": np.stack(kps),
        "scale_factors": np.stack(factors),
        "crop_pts": np.stack(starts),
    }


def build_train_track(
    pre: Mapping[str, np.ndarray],
    settings: TrainSettings,
    rng: np.random.Generator,
    *,
    pose: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    joints3d: np.ndarray | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One augmented copy of a pre-cropped track, ready for ``schema.make_train_example``.

    With ``precomputed_phi``: tube augmentation (§6.5), phi (§6.6), 224 crops, normalised
    keypoints. Without: the 300-px pre-crops and their pixel keypoints, no phi (the original's
    non-precomputed records).

    Args:
        pre: :func:`precrop_track` output.
        pose, shape, joints3d: ``(N, 72)``, ``(10,)``, ``(N, 14, 3)`` ground truth or None.
        extra: per-track fields copied in (``filenames``, ``has_3d_joints``, ``cams`` ...).
    """
    fields = dict(extra or {})
    fields.update(scale_factors=pre["scale_factors"], crop_pts=pre["crop_pts"])
    if settings.precomputed_phi:
        return precompute_copies(
            pre["frames"],
            pre["kp2d"],
            settings.extractor(),
            settings.augmenter(),
            rng,
            1,
            pose=pose,
            shape=shape,
            joints3d=joints3d,
            save_images=settings.save_img,
            extra=fields,
        )[0]
    n = len(pre["kp2d"])
    kp = np.asarray(pre["kp2d"], np.float64).copy()
    kp[..., 2] = kp[..., 2] > 0
    kp *= kp[..., 2:]
    fields.update(
        kp2d=kp,
        pose=pose,
        shape=shape,
        joints3d=joints3d,
        heightwidths=np.full((n, 2), PRECROP_PX),
        centers=np.full((n, 2), PRECROP_PX // 2),
    )
    if settings.save_img:
        fields["images"] = pre["frames"]
    return fields


def build_test_track(
    frames: Iterable[np.ndarray],
    kp2d: np.ndarray,
    boxes: SmoothBBoxes,
    img_size: int = IMG_SIZE,
) -> dict[str, Any]:
    """A test/val track (§6.2): 224 crops around the smoothed box, no jitter, keypoints in crop
    pixels with vis = confidence > 0.1.

    Args:
        frames: the frames ``boxes.start .. boxes.end - 1`` (read lazily).
        kp2d: ``(N, 25, 3)`` pixel (x, y, confidence) of those frames.
        boxes: the smoothed crop parameters (``src.video.bbox``).
    Returns:
        Track fields: ``kp2d``, ``images`` (uint8 crops), ``centers``, ``scale_factors``,
        ``crop_pts``, ``time_pts`` (start, end).
    """
    crops, kps, centers, factors, starts = [], [], [], [], []
    for i, frame in enumerate(frames):
        out = crop_for_test(frame, kp2d[i], boxes.centers[i], float(boxes.scales[i]), img_size)
        crops.append(out["image"])
        kps.append(out["kp2d"])
        centers.append(out["center"])
        factors.append(out["scale_factors"])
        starts.append(out["crop_pt"])
    if len(crops) != len(kp2d):
        raise ValueError(f"build_test_track: got {len(crops)} frames for {len(kp2d)} keypoint rows")
    kp = np.stack(kps)
    kp[..., :2] *= kp[..., 2:]  # invisible points written as zeros
    return {
        "kp2d": kp,
        "images": np.stack(crops),
        "centers": np.stack(centers),
        "scale_factors": np.stack(factors),
        "crop_pts": np.stack(starts),
        "time_pts": np.array([boxes.start, boxes.end], np.int64),
    }


def serialize(tracks: Iterable[Mapping[str, Any]]) -> Iterable[bytes]:
    """Record bytes of each track (``schema.make_train_example``), serialised deterministically
    (the Example's feature map in key order: protobuf's default order varies between processes,
    so a resumed or repeated conversion would write other bytes for the same records)."""
    for track in tracks:
        yield schema.make_train_example(track).SerializeToString(deterministic=True)


def visible_count(kp2d: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """``(N,)`` number of keypoints with visibility/confidence above ``threshold``."""
    return (np.asarray(kp2d)[..., 2] > threshold).sum(axis=-1)


def check_kp25(kp2d: np.ndarray, where: str) -> np.ndarray:
    kp2d = np.asarray(kp2d, np.float64)
    if kp2d.ndim != 3 or kp2d.shape[1:] != (NUM_KPS, 3):
        raise ValueError(f"{where}: expected keypoints (N, {NUM_KPS}, 3), got {kp2d.shape}")
    return kp2d


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


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
