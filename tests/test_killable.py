"""tests/killable.py, the kill-midway helper: with writer threads, the renames before the N-th
are complete when it kills the process (a CI run of the killed Beam conversion found one still
in flight in the other thread)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.timeouts import scaled

REPO = Path(__file__).resolve().parents[1]

THREADED_RENAMES = """
import os, sys, threading, time
sys.path.insert(0, {repo!r})
from tests import killable
real = os.replace
def slow_replace(src, dst, *args, **kwargs):
    time.sleep(0.05)  # a rename still in flight when another thread reaches the N-th
    return real(src, dst, *args, **kwargs)
os.replace = slow_replace
killable._install("replace", 4)
def worker(w):
    for i in range(3):
        tmp = os.path.join({out!r}, f"file{{w}}{{i}}.tmp")
        with open(tmp, "w") as f:
            f.write("x")
        os.replace(tmp, tmp[:-4] + ".done")
threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_replace_hook_dies_with_exactly_the_earlier_renames_done(tmp_path):
    script = THREADED_RENAMES.format(repo=str(REPO), out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=scaled(120))  # fmt: skip
    assert done.returncode == -9, done.stderr[-2000:]
    assert len(list(tmp_path.glob("*.done"))) == 3
    assert list(tmp_path.glob("*.tmp"))  # the 4th is left under its temporary name
