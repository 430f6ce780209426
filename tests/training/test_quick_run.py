"""``configs/cpu_quick.cfg`` from scratch: the data set is generated, and the total loss goes
down over a short run (body model swapped for the small stand-in to keep the test short)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.timeouts import scaled
from tests.training.helpers import REPO, run_python

pytestmark = pytest.mark.slow

STEPS = 60
WINDOW = 20


def _scalars(run_dir: Path, tag: str) -> np.ndarray:
    import tensorflow as tf

    values = {}
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return np.array([values[k] for k in sorted(values)])


def test_cpu_quick_generates_its_data_and_the_total_loss_goes_down(small_standin, tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    result = run_python(
        [
            "-m",
            "src.main",
            f"--flagfile={REPO / 'configs/cpu_quick.cfg'}",
            f"--data_dir={data_dir}",
            f"--model_dir={run_dir}",
            f"--smpl_model_path={small_standin}",
            f"--max_iteration={STEPS}",
            "--summary_every_steps=1",
            "--log_img_step=1000",
        ],
        timeout=scaled(500),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in data_dir.iterdir()) == ["h36m", "mocap_neutrMosh", "penn_action"]
    e_loss = _scalars(run_dir, "loss/e_loss")
    assert len(e_loss) == STEPS and np.all(np.isfinite(e_loss))
    first, last = e_loss[:WINDOW].mean(), e_loss[-WINDOW:].mean()
    assert last < 0.95 * first, (first, last)
    assert (
        _scalars(run_dir, "loss/d_loss")[-WINDOW:].mean()
        < _scalars(run_dir, "loss/d_loss")[:WINDOW].mean()
    )
