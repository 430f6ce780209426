"""Ctrl-C / SIGTERM in ``train_loop``: the first signal lets the step in progress finish, then
the loop saves that step and returns interrupted; a second one interrupts the step itself. The
handlers are restored afterwards. (Raising inside TensorFlow's Python code from the handler once
crashed a run with a segmentation fault in an image summary.)"""

from __future__ import annotations

import os
import signal

import pytest
import tensorflow as tf

from src.training import trainer as tr


class FakeTrainer:
    """``train_step`` counts steps and, on the given steps, sends this process signals mid-step."""

    strategy = tf.distribute.get_strategy()

    def __init__(self, signal_at: dict[int, list[int]]) -> None:
        self.step = tf.Variable(0, dtype=tf.int64)
        self.signal_at = signal_at
        self.finished: list[int] = []

    def train_step(self, batch):
        current = int(self.step.numpy()) + 1
        for signum in self.signal_at.get(current, []):
            os.kill(os.getpid(), signum)  # delivered at the next bytecode, inside this step
        self.step.assign(current)
        self.finished.append(current)
        return {"loss": 1.0}, {}

    def learning_rates(self):
        return {}


class FakeCheckpoint:
    def __init__(self) -> None:
        self.saved: list[int] = []

    def maybe_save(self, step):
        return None

    def save(self, step):
        self.saved.append(step)
        return f"ckpt-{step}"


class FakeSummaries:
    def scalars(self, *args):
        pass

    def keypoints(self, *args):
        pass

    def flush(self):
        pass


def _loop(trainer, checkpoint):
    return tr.train_loop(
        trainer, iter(range(10**6)), checkpoint, FakeSummaries(), max_iteration=50,
        log_every_steps=1000, log_img_step=1000,
    )  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_finishes_the_step_then_saves_it(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    trainer, checkpoint = FakeTrainer({3: [signum]}), FakeCheckpoint()
    result = _loop(trainer, checkpoint)
    assert result.interrupted and result.step == 3
    assert trainer.finished == [1, 2, 3]  # step 3 ran to its end; no step 4 started
    assert checkpoint.saved == [3]
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_signal_interrupts_the_step_in_progress():
    both_in_step_2 = {2: [signal.SIGINT, signal.SIGINT]}
    trainer, checkpoint = FakeTrainer(both_in_step_2), FakeCheckpoint()
    result = _loop(trainer, checkpoint)
    assert result.interrupted and trainer.finished == [1]  # step 2 stopped before its end
    assert result.step == 1 and checkpoint.saved == [1]


def test_an_uninterrupted_run_saves_its_last_step():
    trainer, checkpoint = FakeTrainer({}), FakeCheckpoint()
    result = _loop(trainer, checkpoint)
    assert not result.interrupted and result.step == 50 and checkpoint.saved == [50]
