"""``python -m src.motion`` -> :func:`src.motion.cli.run`."""

import sys

from src.motion.cli import run

sys.exit(run())
