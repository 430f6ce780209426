"""``python -m src.main`` end to end in subprocesses: a tiny run writes params.json, TensorBoard
events and checkpoints; killed with SIGKILL, it resumes from its last checkpoint with the same
weights (exported) and step; Ctrl-C saves; errors are one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from src.checkpoints import weights_dir
from src.training import checkpointing as ck
from tests.timeouts import scaled
from tests.training.helpers import PYTHON, REPO, TINY_RUN_FLAGS, run_python, subprocess_env

pytestmark = pytest.mark.slow


def main_args(quick_data: str, standin: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "src.main",
        f"--data_dir={quick_data}",
        f"--smpl_model_path={standin}",
        f"--model_dir={run_dir}",
        "--strategy=one_device",
        *TINY_RUN_FLAGS,
        *extra,
    ]


# ``python -c`` this, then ``-m module args...``: the module runs as ``python -m`` would, with
# SIGINT at Python's own handler. A shell without job control starts background jobs with SIGINT
# ignored, and a child inherits that (Python then never raises KeyboardInterrupt); the run must
# see Ctrl-C as a terminal would deliver it, however pytest itself was started. (Resetting it in
# ``preexec_fn`` runs Python in the forked child before exec, which can deadlock in a
# multi-threaded parent: it hung CI once, in a finaliser of a TFLite interpreter from an earlier
# test joining threads that did not survive the fork.)
WITH_PYTHON_SIGINT = """
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
flag, module, *args = sys.argv[1:]
assert flag == "-m", sys.argv
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-c", WITH_PYTHON_SIGINT, *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
        cwd=REPO,
    )


def wait_for(predicate, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise AssertionError(f"run ended early (rc {proc.returncode}):\n{tail}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")


def _event_tags(run_dir: Path) -> set[str]:
    import tensorflow as tf

    tags = set()
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_killed_run_resumes_from_its_last_checkpoint(quick_data, small_standin, tmp_path):
    run_dir = tmp_path / "run"
    log = tmp_path / "first.log"
    proc = start(
        main_args(
            quick_data,
            small_standin,
            run_dir,
            "--max_iteration=100000",
            "--checkpoint_every_steps=3",
        ),
        log,
    )
    wait_for(
        lambda: (p := ck.latest_checkpoint(run_dir)) is not None and int(p.rsplit("-", 1)[1]) >= 6,
        scaled(240),
        proc,
        log,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(scaled(30))
    prefix = ck.latest_checkpoint(run_dir)
    step = ck.checkpoint_step(prefix)
    assert prefix.endswith(f"ckpt-{step}") and step >= 6
    params = json.loads((run_dir / "params.json").read_text())
    assert params["batch_size"] == 2 and params["do_hallucinate"] is True
    assert {
        "loss/e_loss",
        "loss/d_pose",
        "loss/e_kp_hal_future",
        "lr/e_lr",
        "lr/d_lr",
        "perf/steps_per_sec",
        "keypoints/gt_pred_hal",
    } <= _event_tags(run_dir)

    # resume with nothing left to do: the restored weights are exported as they are
    same = run_python(
        ["-m", "src.main", f"--load_path={run_dir}", f"--max_iteration={step}"], timeout=scaled(300)
    )
    assert same.returncode == 0, same.stderr[-3000:]
    assert f"restored step {step} from {prefix}" in same.stderr
    saved = ck.read_arrays(prefix)
    exported = {}
    for part in weights_dir.available_parts(run_dir / "export"):
        if part != "discriminator":
            for name, value in weights_dir.read_part(run_dir / "export", part).items():
                exported[f"hmmr/{part}/{name}"] = value
    assert exported.keys() == saved.keys()
    for name, value in saved.items():
        np.testing.assert_array_equal(exported[name], value, err_msg=name)
    assert weights_dir.read_model_config(run_dir / "export").num_conv_layers == 0

    # and continue: the step goes on from the checkpoint (flags from params.json)
    more = run_python(
        ["-m", "src.main", f"--load_path={run_dir}", f"--max_iteration={step + 2}"],
        timeout=scaled(300),
    )
    assert more.returncode == 0, more.stderr[-3000:]
    assert ck.checkpoint_step(ck.latest_checkpoint(run_dir)) == step + 2
    assert "changed flag: --max_iteration" in more.stderr


def test_ctrl_c_saves_a_checkpoint_of_the_current_step(quick_data, small_standin, tmp_path):
    run_dir = tmp_path / "run"
    log = tmp_path / "run.log"
    proc = start(
        main_args(
            quick_data,
            small_standin,
            run_dir,
            "--max_iteration=100000",
            "--checkpoint_every_steps=100000",
        ),
        log,
    )
    wait_for(lambda: "step 5 " in log.read_text(), scaled(240), proc, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(scaled(60)) == 130, log.read_text()[-3000:]
    text = log.read_text()
    interrupted = int(text.split("interrupted at step ")[1].split()[0])
    assert interrupted >= 5
    assert ck.checkpoint_step(ck.latest_checkpoint(run_dir)) == interrupted


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data_format=NCHW"], "--data_format='NCHW' is not supported"),
        (["--datasets=nothing_here"], "no *.tfrecord files in"),
        (["--pretrained_model_path=/no/such/folder"], "no such weights folder"),
        (["--smpl_model_path=/no/such/smpl.pkl"], "or pass --smpl_model_path=standin"),
        (["--phi_dim=64"], "image/phis holds 2048 floats per frame; the model expects 64"),
    ],
)
def test_errors_are_one_line_and_exit_1(quick_data, small_standin, tmp_path, extra, message):
    result = run_python(
        main_args(quick_data, small_standin, tmp_path / "run", *extra, "--max_iteration=1"),
        timeout=scaled(300),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hmmr-train: ") and message in last


def test_reduced_phi_width_run_generates_its_data_trains_and_exports(small_standin, tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    result = run_python(
        [
            "-m",
            "src.main",
            f"--data_dir={data_dir}",
            "--make_quick_data",
            f"--smpl_model_path={small_standin}",
            f"--model_dir={run_dir}",
            "--strategy=one_device",
            *TINY_RUN_FLAGS,
            "--phi_dim=64",
            "--max_iteration=2",
        ],
        timeout=scaled(300),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "params.json").read_text())["phi_dim"] == 64
    assert weights_dir.read_model_config(run_dir / "export").phi_dim == 64
    record = next(iter((data_dir / "h36m" / "train").glob("*.tfrecord")))
    assert _first_phi_width(record) == 64


def _first_phi_width(path: Path) -> int:
    import tensorflow as tf

    from src.data import schema

    first = next(iter(tf.data.TFRecordDataset(str(path))))
    return schema.parse_example_np(first.numpy())["phi"].shape[1]
