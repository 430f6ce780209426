"""What every converter's run shares: the conversion as data (:class:`Conversion`, :class:`Plan`)
run in this process (:func:`run_conversion`) or as a Beam pipeline (:mod:`tfrecords_tools.beam`),
the output folders, the writing of the files, per-task seeds and file names.

``--output_directory`` is the TFRecord root that training reads (``--data_dir``): records go to
``<root>/<dataset>/<split>/``. A path that already ends in the dataset's folder name (as in the
original ``prepare_datasets.sh``, e.g. ``.../penn_action``) is used as is.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src.data.tfrecord_lib import write_shards_parallel

log = logging.getLogger("tfrecords_tools")

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


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
