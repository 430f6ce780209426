"""The README's accuracy claims are the bounds the tests assert, not tighter ones."""

from __future__ import annotations

import re

from src import paths
from tests.checkpoints.test_convert import ATOL as CONVERSION_ATOL
from tests.smpl.test_layer import FULL_SIZE_ATOL_M


def _claims(text: str) -> list[str]:
    return re.findall(r"tested to within (\S+)", " ".join(text.split()))


def test_readme_tolerances_are_the_tested_bounds():
    text = (paths.REPO_ROOT / "README.md").read_text()
    claims = [float(c) for c in _claims(text)]
    assert claims == [FULL_SIZE_ATOL_M, CONVERSION_ATOL], claims
