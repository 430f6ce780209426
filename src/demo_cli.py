"""Entry point ``hmmr-demo``: the same command line as ``python demo.py``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    """Run the demo with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from src.demo.cli import main  # here: TensorFlow is imported after the settings above

    return main(argv, prog="hmmr-demo")


if __name__ == "__main__":
    sys.exit(run())
