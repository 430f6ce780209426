"""tf.distribute: MirroredStrategy on 2 logical CPUs equals one device on the same global batch;
MultiWorkerMirroredStrategy with two local workers ends with identical weights."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.timeouts import scaled
from tests.training.helpers import PYTHON, REPO, TINY_RUN_FLAGS, run_python, subprocess_env

pytestmark = pytest.mark.slow

# float32 sums in another order (per replica, then across): a few ulps of the largest value
GRAD_RTOL = 1e-5
WEIGHT_ATOL = 1e-6  # after two Adam steps of lr 1e-3


def test_mirrored_two_cpus_equal_one_device_on_the_same_global_batch(small_standin):
    result = run_python(
        [str(REPO / "tests/training/mirrored_check.py"), small_standin], timeout=scaled(400)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["steps"] == [2, 2]
    assert {"e_pose", "d_pose", "e_kp_hal_future", "e_smpl_dt_past"} <= set(out["terms"])
    assert out["grad_rel"] < GRAD_RTOL
    assert out["value_rel"] < GRAD_RTOL
    assert out["weight_abs"] < WEIGHT_ATOL
    # averaging per-replica means instead of global counts would be caught by a wide margin
    assert out["naive_grad_rel"] > 100 * GRAD_RTOL


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_multi_worker_mirrored_two_local_workers_end_with_identical_weights(
    quick_data, small_standin, tmp_path
):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run_dir = tmp_path / "run"
    procs = []
    for index in range(2):
        env = subprocess_env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        args = [
            str(REPO / "tests/training/mwms_worker.py"),
            f"--data_dir={quick_data}",
            f"--smpl_model_path={small_standin}",
            f"--model_dir={run_dir}",
            "--strategy=multi_worker_mirrored",
            *TINY_RUN_FLAGS,
            "--max_iteration=3",
            "--checkpoint_every_steps=2",
            f"--weights_out={tmp_path / f'w{index}.npz'}",
        ]
        # a worker whose peer never starts ignores SIGTERM: -k kills it 5 s later
        procs.append(
            subprocess.Popen(
                ["timeout", "-k", "5", f"{scaled(120):.0f}", PYTHON, *args],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=scaled(150))[0] for p in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    w0, w1 = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    assert int(w0["__step__"]) == int(w1["__step__"]) == 3
    assert set(w0.files) == set(w1.files)
    for name in w0.files:
        np.testing.assert_array_equal(w0[name], w1[name], err_msg=name)
    # the chief wrote the checkpoints and the export; the other worker's copies are gone
    assert sorted(p.name for p in (run_dir / "ckpt").glob("*.index")) == [
        "ckpt-2.index",
        "ckpt-3.index",
    ]
    assert not list((run_dir / "ckpt").glob(".worker_*"))
    assert (run_dir / "export" / "model_config.json").is_file()
    assert os.path.isfile(run_dir / "params.json")


def test_a_worker_whose_peer_dies_exits_with_a_one_line_message(
    quick_data, small_standin, tmp_path
):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs = [], []
    for index in range(2):
        env = subprocess_env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        logs.append(tmp_path / f"worker{index}.log")
        args = [
            "-m",
            "src.main",
            f"--data_dir={quick_data}",
            f"--smpl_model_path={small_standin}",
            f"--model_dir={tmp_path / 'run'}",
            "--strategy=multi_worker_mirrored",
            *TINY_RUN_FLAGS,
            "--max_iteration=100000",
            "--checkpoint_every_steps=1000",
        ]
        procs.append(
            subprocess.Popen(
                [PYTHON, *args],
                env=env,
                cwd=REPO,
                stdout=logs[-1].open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + scaled(200)
        while "step 3 " not in logs[0].read_text():
            assert all(p.poll() is None for p in procs), logs[0].read_text()[-3000:]
            assert time.monotonic() < deadline, logs[0].read_text()[-3000:]
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        # a reset connection fails the next collective at once; a peer that vanishes silently is
        # caught by TF's health check (every 30 s, 10 s timeout): 60 s bounds both
        code = procs[0].wait(scaled(60))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    text = logs[0].read_text()
    last = text.strip().splitlines()[-1]
    assert code == 1, text[-3000:]
    assert last.startswith("hmmr-train: lost worker 1 of the multi-worker cluster"), last
    assert "restart every worker with the same command" in last
