"""Run a module as ``python -m MODULE ARGS`` and SIGKILL it in the middle of its N-th write, for
the killed-midway tests: ``python tests/killable.py HOOK:N MODULE [ARGS...]``.

- ``savez:N``: right after the N-th ``numpy.savez`` (the prediction cache writes its temp file;
  the rename to the final name has not happened);
- ``replace:N``: right before the N-th ``os.replace`` of a ``*.tmp`` file (a TFRecord file is
  complete under its temp name, not yet renamed).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _die(what: str) -> None:
    print(f"killing myself {what}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _install(hook: str, count: int) -> None:
    calls = [0]
    if hook == "savez":
        import numpy as np

        savez = np.savez

        def savez_then_die(file, *args, **kwargs):
            savez(file, *args, **kwargs)
            calls[0] += 1
            if calls[0] == count:
                file.flush()
                _die(f"after numpy.savez #{count}")

        np.savez = savez_then_die
    elif hook == "replace":
        replace = os.replace
        lock = threading.Lock()  # writer threads (Beam's multi_threading): the N-1 renames
        # before the N-th are complete when it dies, not still in flight in another thread

        def die_before_replace(src, dst, *args, **kwargs):
            if not str(src).endswith(".tmp"):
                return replace(src, dst, *args, **kwargs)
            with lock:
                calls[0] += 1
                if calls[0] == count:
                    _die(f"before renaming {src}")
                return replace(src, dst, *args, **kwargs)

        os.replace = die_before_replace
    else:
        raise ValueError(f"unknown hook {hook!r}: expected savez or replace")


if __name__ == "__main__":
    spec, module, *args = sys.argv[1:]
    hook, count = spec.split(":")
    _install(hook, int(count))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
