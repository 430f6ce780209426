"""A converter as an Apache Beam pipeline (``--runner``; ``pip install -e ".[beam]"``).

The same :class:`~tfrecords_tools.common.Conversion` as the single-process path, so there is one
implementation of each conversion::

    inputs --Reshuffle--> read (one per input) --+--> plan (all inputs, in input order)
                                                 |      --Reshuffle--> write one file each
                                                 +--> dead letter <--+

- **Deterministic**: ``plan`` sees what was read in input order (Beam's order is not kept, the
  inputs' indices are), so the shuffle and the shard assignment are those of the single-process
  path, and the files are byte for byte the same when no input failed.
- **Atomic and resumable**: each file is written under a temporary name and renamed; a file that
  is already complete is skipped (unless ``--overwrite``), so a killed or failed run is resumed
  by running the same command again.
- **Dead letter**: an input that cannot be read (a corrupt video, a malformed label file) or a file
  whose building fails goes to the dead-letter file (JSON lines: stage, input or file, reason)
  while the rest completes.
- **Counters** (Beam metrics, namespace ``hmmr_tfrecords``): inputs read/failed, files written,
  skipped as complete or failed, records written, and the converter's own counts (tracks kept,
  dropped and why); printed at the end.
- **Once per worker**: the ResNet is loaded in ``DoFn.setup`` and kept; each worker builds one
  file at a time, so its memory is bounded by one file's tracks.

Options the converter does not know go to Beam (``--direct_num_workers 2
--direct_running_mode multi_processing`` on this machine; ``--project --region
--temp_location ...`` on Dataflow; ``--flink_master ...``). Every worker needs this package
installed and read access to the inputs and write access to the output folder (shared storage).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from src.data.tfrecord_lib import is_complete, write_records
from tfrecords_tools.common import Conversion, Plan, _one_line

try:
    import apache_beam as beam
    from apache_beam.metrics.metric import Metrics, MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError as err:  # the optional extra
    raise RuntimeError(
        f"--runner needs Apache Beam, which is not installed ({err}); install the optional "
        "extra: pip install -e '.[beam]'"
    ) from None

log = logging.getLogger("tfrecords_tools.beam")

NAMESPACE = "hmmr_tfrecords"
FAILED = "failed"


def dead_letter_path(conversion: Conversion, args: argparse.Namespace) -> Path:
    """``--dead_letter``, else ``<output>/../<output name>.dead_letter.jsonl``."""
    if args.dead_letter:
        return Path(args.dead_letter)
    return conversion.output.parent / f"{conversion.output.name}.dead_letter.jsonl"


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {_one_line(err)}"[:2000]


def _failure(stage: str, what: str, err: BaseException) -> beam.pvalue.TaggedOutput:
    Metrics.counter(NAMESPACE, f"{stage}_failed").inc()
    record = {"stage": stage, "input": what, "reason": _reason(err)}
    return beam.pvalue.TaggedOutput(FAILED, json.dumps(record, sort_keys=True))


class ReadInput(beam.DoFn):
    """``(index, input) -> (index, read(input))``; a failure goes to the dead letter."""

    def __init__(self, conversion: Conversion):
        self._read = conversion.read
        self._name_of = conversion.name_of

    def process(self, element: tuple[int, Any]) -> Iterator[Any]:
        index, item = element
        try:
            value = self._read(item)
        except Exception as err:
            yield _failure("read", self._name_of(item), err)
            return
        Metrics.counter(NAMESPACE, "inputs_read").inc()
        yield index, value


class PlanFiles(beam.DoFn):
    """All read inputs -> the files to write, as the single-process path plans them."""

    def __init__(self, conversion: Conversion):
        self._plan = conversion.plan

    def process(self, indexed: list[tuple[int, Any]]) -> Iterator[Any]:
        items = [value for _, value in sorted(indexed, key=lambda pair: pair[0])]
        try:
            plan: Plan = self._plan(items)
        except Exception as err:  # e.g. no track survives the cleaning
            yield _failure("plan", f"{len(items)} input(s)", err)
            return
        for key, value in plan.counts.items():
            Metrics.counter(NAMESPACE, key).inc(int(value))
        Metrics.counter(NAMESPACE, "files_planned").inc(len(plan.tasks))
        for path, payload in plan.tasks:
            yield str(path), payload


class WriteFile(beam.DoFn):
    """Build one file's records and write them atomically; complete files are skipped."""

    def __init__(self, conversion: Conversion, overwrite: bool):
        self._build = conversion.build
        self._setup = conversion.setup
        self._overwrite = overwrite

    def setup(self) -> None:
        if self._setup is not None:
            self._setup()

    def process(self, task: tuple[str, Any]) -> Iterator[Any]:
        path, payload = task
        if not self._overwrite and is_complete(path):
            Metrics.counter(NAMESPACE, "files_skipped_complete").inc()
            return
        try:
            count = write_records(path, self._build(payload))
        except Exception as err:
            yield _failure("write", path, err)
            return
        Metrics.counter(NAMESPACE, "files_written").inc()
        Metrics.counter(NAMESPACE, "records_written").inc(count)
        yield path, count


def build_pipeline(
    pipeline: beam.Pipeline, conversion: Conversion, overwrite: bool, dead_letter: Path
) -> None:
    """Add the conversion's transforms to ``pipeline`` (see the module docstring)."""
    read = (
        pipeline
        | "Inputs" >> beam.Create(list(enumerate(conversion.inputs)))
        | "SpreadInputs" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadInput(conversion)).with_outputs(FAILED, main="read")
    )
    planned = (
        read.read
        | "Gather" >> beam.combiners.ToList()
        | "Plan" >> beam.ParDo(PlanFiles(conversion)).with_outputs(FAILED, main="tasks")
    )
    written = (
        planned.tasks
        | "SpreadFiles" >> beam.Reshuffle()
        | "Write" >> beam.ParDo(WriteFile(conversion, overwrite)).with_outputs(FAILED, main="ok")
    )
    _ = (
        (read[FAILED], planned[FAILED], written[FAILED])
        | "Failures" >> beam.Flatten()
        | "DeadLetter"
        >> beam.io.WriteToText(str(dead_letter), shard_name_template="", num_shards=1)
    )


def counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    """The pipeline's counters in our namespace (committed where the runner has them)."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def run(conversion: Conversion, args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    """Run ``conversion`` on ``--runner`` with ``beam_args`` as pipeline options.

    Returns:
        How many inputs or files failed (listed in the dead-letter file).
    """
    dead_letter = dead_letter_path(conversion, args)
    dead_letter.parent.mkdir(parents=True, exist_ok=True)
    conversion.output.mkdir(parents=True, exist_ok=True)
    options = PipelineOptions([*beam_args, f"--runner={args.runner}"])
    log.info(
        "%s: %d input(s) on %s -> %s (dead letter: %s)",
        conversion.desc,
        len(conversion.inputs),
        args.runner,
        conversion.output,
        dead_letter,
    )
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, conversion, args.overwrite, dead_letter)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as err:  # the runner wraps a worker's error in its whole traceback
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        raise RuntimeError(
            f"the {args.runner} pipeline failed: {lines[-1] if lines else type(err).__name__}"
        ) from err
    totals = counters(result)
    for key in sorted(totals):
        log.info("%s: %s = %d", conversion.desc, key, totals[key])
    return sum(totals.get(f"{stage}_failed", 0) for stage in ("read", "plan", "write"))


def read_dead_letter(path: str | Path) -> list[dict[str, str]]:
    """The failures a run listed (``[]`` when the file is empty)."""
    lines: Iterable[str] = Path(path).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
