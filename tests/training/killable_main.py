"""``python -m src.main`` with deterministic ops, for the kill-anywhere tests.

``tf.config.experimental.enable_op_determinism()`` makes the run reproducible (with the seeds the
run sets and an input iterator restored from the checkpoint). ``HMMR_TEST_KILL_IN_CHECKPOINT_WRITE
=STEP:POINT`` SIGKILLs the process in the middle of writing the checkpoint of STEP:

- ``shards``: the tensors are written to ``ckpt-STEP_temp/``, not yet merged under the final name;
- ``index``: ``ckpt-STEP.index``/``.data`` are complete, the ``checkpoint`` index file still names
  the previous checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

KILL_ENV = "HMMR_TEST_KILL_IN_CHECKPOINT_WRITE"


def _kill_self(marker: str) -> None:
    print(f"killing myself: {marker}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill_hook(spec: str) -> None:
    from tensorflow.python.checkpoint import checkpoint_management
    from tensorflow.python.ops import gen_io_ops

    step, point = spec.split(":")
    name = f"ckpt-{int(step)}"
    if point == "shards":
        merge = gen_io_ops.merge_v2_checkpoints

        def merge_or_die(prefixes, destination, *args, **kwargs):
            if str(destination.numpy().decode()).endswith(name):
                _kill_self(f"{name} shards written, not merged")
            return merge(prefixes, destination, *args, **kwargs)

        gen_io_ops.merge_v2_checkpoints = merge_or_die
    elif point == "index":
        update = checkpoint_management.update_checkpoint_state_internal

        def update_or_die(save_dir, model_checkpoint_path, *args, **kwargs):
            if str(model_checkpoint_path).endswith(name):
                _kill_self(f"{name} written, index not updated")
            return update(save_dir, model_checkpoint_path, *args, **kwargs)

        checkpoint_management.update_checkpoint_state_internal = update_or_die
    else:
        raise ValueError(f"{KILL_ENV}={spec!r}: expected STEP:shards or STEP:index")


if __name__ == "__main__":
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    if os.environ.get(KILL_ENV):
        _install_kill_hook(os.environ[KILL_ENV])
    from src import main

    sys.argv[0] = "src.main"
    main.run()
