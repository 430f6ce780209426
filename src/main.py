"""Train HMMR: ``python -m src.main --flagfile configs/FILE.cfg [--flag=value ...]``.

Parses the flags (:mod:`src.training.flags`), turns them into a typed
:class:`~src.training.config.TrainConfig` (:func:`src.training.command_line.train_config`) and
calls the library's :func:`src.training.run.run`. Resume with ``--load_path RUN_DIR`` (the run's
``params.json`` wins except for flags typed on the command line; a ``--flagfile`` given again
does not override it); a run directory that already has ``params.json`` (``--model_dir``)
resumes too. Training needs the SMPL file and the pretrained weights folder unless told
otherwise (``--smpl_model_path=standin``, ``--pretrained_model_path=``). Errors print one line
and exit 1; Ctrl-C saves a checkpoint and exits 130.
"""

from __future__ import annotations

import os
import sys

import tensorflow as tf
from absl import app

from src.training import command_line, strategy
from src.training import flags as train_flags
from src.training.run import run as run_training

FLAGS = train_flags.define_flags()
EXIT_INTERRUPTED = 130


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _, result = run_training(command_line.train_config(FLAGS, sys.argv))
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"hmmr-train: {err}", file=sys.stderr)
        sys.exit(1)
    except tf.errors.OpError as err:  # a damaged record met while training, a lost peer worker
        print(f"hmmr-train: {strategy.op_error_line(err)}", file=sys.stderr)
        sys.exit(1)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


def run() -> None:
    """Console entry point (``hmmr-train``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)


if __name__ == "__main__":
    run()
