"""Kill-anywhere training: ``python -m src.main`` (deterministic ops, tests/training/
killable_main.py) is SIGKILLed in the middle of checkpoint writes and at random (seeded) moments,
then resumed with the same command each time. Every time the last checkpoint loads and the step
never goes back, and the final checkpoint holds exactly the weights, optimiser moments, dropout
RNG state and step of an uninterrupted run: the checkpoint holds every piece of state the steps
depend on, the input iterator included (window starts drawn from a checkpointed random stream),
so a resumed run redoes the steps since its last checkpoint exactly as they were done."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from src.training import checkpointing as ck
from tests.timeouts import scaled
from tests.training.helpers import PYTHON, REPO, TINY_RUN_FLAGS, subprocess_env

pytestmark = pytest.mark.slow

MAX_STEP = 16
EVERY = 3  # checkpoints at 3, 6, 9, 12, 15 and 16 (the end)
STATE_GROUPS = ("model", "discriminator", "rng", "e_optimizer", "d_optimizer", "step")
KILLABLE = REPO / "tests/training/killable_main.py"


def _args(quick_data: str, standin: str, run_dir: Path) -> list[str]:
    return [
        str(KILLABLE),
        f"--data_dir={quick_data}",
        f"--smpl_model_path={standin}",
        f"--model_dir={run_dir}",
        "--strategy=one_device",
        *TINY_RUN_FLAGS,
        "--dropout_rate=0.5",  # the dropout RNG state must resume too
        "--log_img_step=1000",
        f"--max_iteration={MAX_STEP}",
        f"--checkpoint_every_steps={EVERY}",
        "--max_checkpoints_to_keep=10",
    ]


def _start(args: list[str], log: Path, kill_in_write: str = "") -> subprocess.Popen:
    env = subprocess_env()
    if kill_in_write:
        env["HMMR_TEST_KILL_IN_CHECKPOINT_WRITE"] = kill_in_write
    return subprocess.Popen(
        [PYTHON, *args], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO
    )


def _state(prefix: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    return {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key.split("/", 1)[0] in STATE_GROUPS
    }


def _latest_step(run_dir: Path) -> int:
    """The step of the run's last checkpoint (0 without one); it must load."""
    prefix = ck.latest_checkpoint(run_dir)
    if prefix is None:
        return 0
    state = _state(prefix)  # every tensor readable
    step = int(state["step/.ATTRIBUTES/VARIABLE_VALUE"])
    assert prefix.endswith(f"ckpt-{step}"), prefix
    return step


class Resumes:
    """Runs the same command until it finishes, checking the checkpoint after every end."""

    def __init__(self, args: list[str], run_dir: Path, logs: Path) -> None:
        self.args, self.run_dir, self.logs = args, run_dir, logs
        self.steps = [0]
        self.count = 0

    def log(self) -> Path:
        return self.logs / f"attempt{self.count}.log"

    def start(self, kill_in_write: str = "") -> subprocess.Popen:
        self.count += 1
        return _start(self.args, self.log(), kill_in_write)

    def ended(self, proc: subprocess.Popen, killed: bool) -> None:
        code = proc.wait(scaled(240))
        text = self.log().read_text()
        if self.steps[-1]:  # the run resumed from where the previous attempt left it
            assert f"restored step {self.steps[-1]} from" in text, text[-3000:]
        if killed:
            assert code == -signal.SIGKILL, text[-3000:]
        else:
            assert code == 0, text[-3000:]
        step = _latest_step(self.run_dir)
        assert step >= self.steps[-1], (self.steps, step)
        self.steps.append(step)

    def kill_at(self, step: int, jitter_s: float) -> None:
        """Start, wait for ``step`` to be logged (or the end), wait ``jitter_s``, SIGKILL."""
        proc = self.start()
        deadline = time.monotonic() + scaled(240)
        while f"step {step} " not in self.log().read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, self.log().read_text()[-3000:]
            time.sleep(0.02)
        time.sleep(jitter_s)
        finished = proc.poll() == 0
        proc.send_signal(signal.SIGKILL)
        self.ended(proc, killed=not finished)

    def finish(self) -> dict[str, np.ndarray]:
        self.ended(self.start(), killed=False)
        assert self.steps[-1] == MAX_STEP
        return _state(ck.latest_checkpoint(self.run_dir))


@pytest.fixture(scope="module")
def uninterrupted(quick_data, small_standin, tmp_path_factory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    return Resumes(_args(quick_data, small_standin, tmp / "run"), tmp / "run", tmp).finish()


def _assert_same_state(resumed: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    assert resumed.keys() == reference.keys()
    assert any(key.startswith("rng/") for key in reference)
    for key, value in reference.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_killed_while_writing_checkpoints_resumes_to_the_uninterrupted_state(
    quick_data, small_standin, tmp_path, uninterrupted
):
    run_dir = tmp_path / "run"
    runs = Resumes(_args(quick_data, small_standin, run_dir), run_dir, tmp_path)
    # tensors of ckpt-6 written to ckpt-6_temp/, not merged: ckpt-3 stays the last
    runs.ended(runs.start(kill_in_write="6:shards"), killed=True)
    assert runs.steps[-1] == 3 and list((run_dir / "ckpt").glob("ckpt-6_temp"))
    # ckpt-12 complete but the index file not updated: ckpt-9 stays the last
    runs.ended(runs.start(kill_in_write="12:index"), killed=True)
    assert runs.steps[-1] == 9 and (run_dir / "ckpt" / "ckpt-12.index").is_file()
    _assert_same_state(runs.finish(), uninterrupted)
    assert not list((run_dir / "ckpt").glob("*_temp"))


def test_killed_at_random_moments_resumes_to_the_uninterrupted_state(
    quick_data, small_standin, tmp_path, uninterrupted
):
    run_dir = tmp_path / "run"
    runs = Resumes(_args(quick_data, small_standin, run_dir), run_dir, tmp_path)
    rng = random.Random(12)
    first = rng.randint(1, MAX_STEP // 2)
    for step in (first, rng.randint(first + 1, MAX_STEP - 1)):
        runs.kill_at(step, jitter_s=rng.uniform(0.0, 0.5))
    _assert_same_state(runs.finish(), uninterrupted)
