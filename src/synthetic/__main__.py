"""``python -m src.synthetic --out DIR``: generate the synthetic world (see src.synthetic.world)."""

import sys

from src.synthetic.cli import run

sys.exit(run())
