"""The suite's long-first order (tests/conftest.py) names modules that exist and runs them first."""

from __future__ import annotations

import subprocess
import sys

from src import paths
from tests.conftest import LONG_MODULES
from tests.timeouts import scaled


def test_every_long_module_exists():
    missing = [m for m in LONG_MODULES if not (paths.REPO_ROOT / m).is_file()]
    assert missing == [], f"tests/conftest.py LONG_MODULES names missing modules: {missing}"


def test_long_modules_are_collected_first_in_their_order():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/test_joints.py", *reversed(LONG_MODULES[:3])],
        cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=scaled(120), check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    modules = []
    for line in listed.stdout.splitlines():
        module = line.split("::")[0]
        if "::" in line and module not in modules:
            modules.append(module)
    assert modules == [*LONG_MODULES[:3], "tests/test_joints.py"], modules
