"""``python -m src.smpl`` -> :func:`src.smpl.cli.run`."""

import sys

from src.smpl.cli import run

sys.exit(run())
