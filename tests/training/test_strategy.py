"""Strategy factory: names, CPU fallback, TF_CONFIG validation, chief/worker bookkeeping."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from src.training import strategy


def test_one_device_falls_back_to_the_cpu_without_gpus():
    made = strategy.make_strategy("one_device")
    assert isinstance(made, tf.distribute.OneDeviceStrategy)
    assert made.num_replicas_in_sync == 1
    if not tf.config.list_physical_devices("GPU"):
        assert "CPU" in made.extended.worker_devices[0].upper()
    assert strategy.is_chief(made) and strategy.worker_index(made) == 0
    assert strategy.num_workers(made) == 1


def test_mirrored_uses_every_local_device():
    made = strategy.make_strategy("mirrored")
    expected = len(tf.config.list_logical_devices("GPU")) or len(
        tf.config.list_logical_devices("CPU")
    )
    assert isinstance(made, tf.distribute.MirroredStrategy)
    assert made.num_replicas_in_sync == expected


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="expected one of one_device, mirrored"):
        strategy.make_strategy("tpu")


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        json.dumps({"cluster": {}}),
        json.dumps({"cluster": {"worker": ["a:1"]}, "task": {}}),
    ],
)
def test_malformed_tf_config_is_refused_with_an_example(monkeypatch, raw):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ValueError, match="TF_CONFIG: expected JSON like"):
        strategy._check_tf_config()


def test_well_formed_tf_config_passes(monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {
                "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                "task": {"type": "worker", "index": 1},
            }
        ),
    )
    strategy._check_tf_config()


def test_a_lost_peer_is_named_in_one_line_and_other_op_errors_keep_their_detail():
    from src.training.strategy import op_error_line

    lost = tf.errors.UnavailableError(
        None,
        None,
        "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at:\n"
        '  File "trainer.py", line 1\n\nrecvmsg:Connection reset by peer\n'
        "Additional GRPC error information from remote target /job:worker/replica:0/task:1 "
        "while calling /tensorflow.WorkerService/RecvBuf:\n\t [[{{node CollectiveReduceV2}}]]",
    )
    line = op_error_line(lost)
    assert "\n" not in line
    assert line.startswith("lost worker 1 of the multi-worker cluster (UnavailableError: ")
    assert "Connection reset by peer" in line and "restart every worker" in line
    damaged = tf.errors.DataLossError(None, None, "Graph execution error:\n\nbad record in x\n")
    assert op_error_line(damaged) == "bad record in x"
