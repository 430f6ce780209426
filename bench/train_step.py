"""Time one HMMR training step: seconds per step and sequences per second, with and without XLA,
and the step's distance from its FLOP bound.

    python bench/train_step.py [--batch_size 8] [--T 20] [--steps 5] [--warmup 2] [--quick]
                               [--xla both|on|off] [--unfused]

Precomputed phi (synthetic, 2048-D), the full-width model of the release run (3 temporal blocks,
hallucinator with past/future losses, discriminator with the matching 960 mocap poses at B=8,
T=20) on the generated stand-in body model (6890 vertices, like SMPL), one device (the first GPU,
else the CPU). ``--quick`` times configs/cpu_quick.cfg's reduced widths instead. ``--unfused``
also times the Keras reference step (``Trainer(fused=False)``: Keras Adam, Conv1D, per-joint
discriminator heads) in the same process, its steps interleaved with the fused step's so that a
busy machine slows both alike, and prints the speed-up.

The anchor ratio (issue #13): ``step_over_flop_bound`` = seconds per step / (the step's FLOPs /
the SGEMM rate). FLOPs are counted on the graph of the step without XLA, over the ops it runs,
with the per-op formulas of ``tf.compat.v1.profiler`` (matmuls, convolutions and their
gradients, most elementwise ops); the SGEMM rate is a 2048 x 2048 float32 ``tf.matmul`` on the
same device, timed in every round. The CPU's AMX / AVX-512 flags are printed with it.

``matmuls_alone`` is the second anchor: every matrix product the step runs (MatMul,
BatchMatMulV2, Einsum; 225 MatMuls at full width, most of them 160 rows by 1024-6144), each
timed alone at its own shapes and summed, with ``over_flop_bound`` against an SGEMM rate measured
right beside it. It shows how far the FLOP bound is reachable at all: ``step_over_flop_bound``
cannot drop below ``matmuls_alone.over_flop_bound`` unless the products themselves get faster.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from src.losses.hmmr_losses import LossConfig  # noqa: E402
from src.losses.weights import LossWeights  # noqa: E402
from src.machine import cpu_info  # noqa: E402
from src.networks.config import ModelConfig  # noqa: E402
from src.smpl.standin import default_standin_path  # noqa: E402
from src.training.trainer import Trainer, TrainSettings  # noqa: E402

QUICK_WIDTHS = dict(num_conv_layers=1, ief_hidden=256, hallucinator_hidden=256, disc_all_hidden=256)


def synthetic_batch(rng, batch: int, steps: int, num_mocap: int) -> dict[str, np.ndarray]:
    kp = rng.uniform(-0.8, 0.8, (batch, steps, 25, 2))
    vis = rng.uniform(size=(batch, steps, 25, 1)) > 0.2
    return {
        "phi": rng.normal(0, 1, (batch, steps, 2048)).astype(np.float32),
        "kp2d": (np.concatenate([kp, vis], -1) * vis).astype(np.float32),
        "pose": rng.normal(0, 0.3, (batch, steps, 72)).astype(np.float32),
        "shape": rng.normal(0, 0.5, (batch, 10)).astype(np.float32),
        "joints3d": rng.normal(0, 0.3, (batch, steps, 14, 3)).astype(np.float32),
        "has_3d_joints": (np.arange(batch) % 2).astype(np.float32),
        "has_smpl": np.zeros(batch, np.float32),
        "mocap_pose": rng.normal(0, 0.3, (num_mocap, 72)).astype(np.float32),
    }


SGEMM_SIZE = 2048
MATMUL_TYPES = ("MatMul", "BatchMatMulV2", "Einsum")  # the step's matrix products


def best_seconds_per_call(device: str, op: Any, inputs: list[tf.Tensor], seconds: float) -> float:
    """Best time of one ``op(inputs)`` on ``device``, run ``reps`` times in one traced loop
    (no per-call Python dispatch), ``reps`` doubled until a loop takes 50 ms, over about
    ``seconds``."""
    with tf.device(device):

        @tf.function
        def repeat(reps: tf.Tensor) -> tf.Tensor:
            total = tf.zeros([], tf.float32)
            for _ in tf.range(reps):
                total += tf.reshape(op(inputs), [-1])[0]
            return total

        repeat(tf.constant(1)).numpy()  # trace and warm up
        reps, best = 1, float("inf")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == float("inf"):
            start = time.perf_counter()
            repeat(tf.constant(reps)).numpy()
            elapsed = time.perf_counter() - start
            best = min(best, elapsed / reps)
            if elapsed < 0.05:
                reps *= 2
    return best


def sgemm_gflops(device: str, size: int = SGEMM_SIZE, seconds: float = 0.3) -> float:
    """Best rate of a size x size float32 matmul on ``device`` over about ``seconds``, GFLOP/s."""
    with tf.device(device):
        inputs = [tf.random.normal([size, size], seed=1), tf.random.normal([size, size], seed=2)]
    best = best_seconds_per_call(device, lambda x: tf.matmul(x[0], x[1]), inputs, seconds)
    return 2.0 * size**3 / best / 1e9


def live_ops(graph: tf.Graph) -> set[tf.Operation]:
    """The ops a function graph runs: those its outputs and control outputs depend on. The rest
    is pruned when the function is instantiated, e.g. the encoder's backward pass that
    ``tape.gradient`` of the discriminator loss records and nothing reads."""
    pending = [t.op for t in graph.outputs] + list(graph.control_outputs)
    live: set[tf.Operation] = set()
    while pending:
        op = pending.pop()
        if op not in live:
            live.add(op)
            pending.extend(t.op for t in op.inputs)
            pending.extend(op.control_inputs)
    return live


def count_flops(graph: tf.Graph) -> dict[str, Any]:
    """FLOPs of the live ops of a graph by the FLOP statistics ``tf.compat.v1.profiler`` registers
    (matmuls, convolutions and their gradients, most elementwise ops; none for ops inside nested
    function calls). ``tf.compat.v1.profiler.profile`` itself counts every op of the graph: twice
    the temporal encoder's backward pass here."""
    from tensorflow.python.framework import ops
    from tensorflow.python.profiler.internal import flops_registry  # noqa: F401 (registers)

    by_type: dict[str, int] = {}
    unknown_shapes: set[str] = set()
    for op in live_ops(graph):
        try:
            value = ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except ValueError:  # a shape not known when traced
            unknown_shapes.add(op.type)
            continue
        if value:
            by_type[op.type] = by_type.get(op.type, 0) + int(value)
    largest = sorted(by_type.items(), key=lambda item: -item[1])[:6]
    return {
        "total": sum(by_type.values()),
        "largest_op_types": dict(largest),
        "op_types_with_unknown_shapes": sorted(unknown_shapes),
    }


def matmul_signature(op: tf.Operation) -> tuple | None:
    """``(type, input shapes, attributes)`` of a float32 matrix product with static shapes (the
    key under which identical products of the step are timed once), else None."""
    shapes = tuple(None if t.shape.rank is None else tuple(t.shape.as_list()) for t in op.inputs)
    if any(s is None or None in s for s in shapes) or op.inputs[0].dtype != tf.float32:
        return None
    names = {
        "MatMul": ("transpose_a", "transpose_b"),
        "BatchMatMulV2": ("adj_x", "adj_y"),
        "Einsum": ("equation",),
    }[op.type]
    return op.type, shapes, tuple((name, op.get_attr(name)) for name in names)


def run_signature(signature: tuple) -> Any:
    """``inputs -> tensor``: the product that :func:`matmul_signature` describes."""
    op_type, _, attrs = signature
    kwargs = dict(attrs)
    if op_type == "MatMul":
        return lambda x: tf.raw_ops.MatMul(a=x[0], b=x[1], **kwargs)
    if op_type == "BatchMatMulV2":
        return lambda x: tf.raw_ops.BatchMatMulV2(x=x[0], y=x[1], **kwargs)
    return lambda x: tf.raw_ops.Einsum(inputs=x, equation=kwargs["equation"])


def matmuls_alone(graph: tf.Graph, device: str, seconds_each: float = 0.1) -> dict[str, Any]:
    """The step's matrix products (MatMul, BatchMatMulV2, Einsum) each timed alone on random
    inputs of its own shapes, one after another, and summed: the time the step's products take
    at their own shapes with nothing else running, a floor for the step that the square-SGEMM
    FLOP bound does not see (small products run below the 2048^3 rate)."""
    from tensorflow.python.framework import ops

    counts: dict[tuple, int] = {}
    flops = unknown = 0
    for op in live_ops(graph):
        if op.type not in MATMUL_TYPES:
            continue
        signature = matmul_signature(op)
        if signature is None:
            unknown += 1
            continue
        counts[signature] = counts.get(signature, 0) + 1
        try:
            flops += int(ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0)
        except ValueError:
            pass
    total = 0.0
    for i, (signature, count) in enumerate(counts.items()):
        with tf.device(device):
            inputs = [tf.random.normal(shape, seed=i) for shape in signature[1]]
        total += count * best_seconds_per_call(
            device, run_signature(signature), inputs, seconds_each
        )
    return {
        "seconds": total,
        "ops": sum(counts.values()),
        "distinct_shapes": len(counts),
        "gflop_counted": round(flops / 1e9, 1),
        "ops_skipped_unknown_shapes": unknown,
    }


def step_graph(trainer: Trainer, batch: Any) -> tf.Graph:
    """The graph of one training step without XLA (an XLA forward is one opaque call op)."""
    if not trainer.settings.xla:
        return trainer._train_step.get_concrete_function(batch).graph
    forward = trainer._forward_fn
    trainer._forward_fn = trainer._forward
    try:
        step = tf.function(lambda b: Trainer._train_step.python_function(trainer, b))
        return step.get_concrete_function(batch).graph
    finally:
        trainer._forward_fn = forward


def build(xla: bool, fused: bool, args: argparse.Namespace, device: str) -> dict[str, Any]:
    """A trainer, two fixed batches and the first step's time (trace and compile included)."""
    import keras

    keras.utils.set_random_seed(0)
    config = ModelConfig(**(QUICK_WIDTHS if args.quick else {}))
    trainer = Trainer(
        tf.distribute.OneDeviceStrategy(device),
        config,
        LossWeights(),
        LossConfig(do_hallucinate=True, do_hallucinate_preds=True),
        TrainSettings(args.batch_size, args.T, xla=xla),
        default_standin_path(),
        fused=fused,
    )
    rng = np.random.default_rng(0)
    batches = [
        trainer.distribute_batch(
            synthetic_batch(rng, args.batch_size, args.T, trainer.mocap_batch_size)
        )
        for _ in range(2)
    ]
    start = time.perf_counter()
    trainer.train_step(batches[0])
    first = time.perf_counter() - start
    for i in range(args.warmup - 1):
        trainer.train_step(batches[i % 2])
    return {"trainer": trainer, "batches": batches, "first": first, "times": []}


def summary(run: dict[str, Any], flops: int, sgemm: float, batch_size: int) -> dict[str, Any]:
    seconds = float(np.median(run["times"]))
    bound = flops / (sgemm * 1e9)
    return {
        "sec_per_step": round(seconds, 4),
        "sequences_per_sec": round(batch_size / seconds, 3),
        "sec_per_step_min": round(float(np.min(run["times"])), 4),
        "first_step_sec_with_trace_and_compile": round(run["first"], 2),
        "flop_bound_sec": round(bound, 4),
        "step_over_flop_bound": round(seconds / bound, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--T", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="cpu_quick.cfg widths")
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    parser.add_argument(
        "--unfused", action="store_true", help="also time the Keras reference step (fused=False)"
    )
    args = parser.parse_args()
    gpus = tf.config.list_logical_devices("GPU")
    device = gpus[0].name if gpus else "/cpu:0"
    cpu = cpu_info()
    result = {
        "device": (
            tf.config.experimental.get_device_details(
                tf.config.list_physical_devices("GPU")[0]
            ).get("device_name", "GPU")
            if gpus
            else f"CPU {cpu['cpu']}, {os.cpu_count()} cores"
        ),
        "cpu_features": cpu["cpu_features"],
        "batch_size": args.batch_size,
        "T": args.T,
        "model": "cpu_quick widths" if args.quick else "full width (release)",
        "steps_timed": args.steps,
    }
    xla_modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    fused_modes = (True, False) if args.unfused else (True,)
    runs = {
        ("xla" if xla else "no_xla") + ("" if fused else "_unfused"): build(
            xla, fused, args, device
        )
        for xla in xla_modes
        for fused in fused_modes
    }
    rates = []
    for i in range(args.steps):  # one round: the SGEMM rate, then one step of every run
        rates.append(sgemm_gflops(device))
        for run in runs.values():
            start = time.perf_counter()
            run["trainer"].train_step(run["batches"][i % 2])  # host floats: the step finished
            run["times"].append(time.perf_counter() - start)
    sgemm = float(np.median(rates))
    result["sgemm_gflops"] = round(sgemm, 1)
    result["sgemm_gflops_per_round"] = [round(r, 1) for r in rates]
    flops, alone = {}, {}
    for name, run in runs.items():
        fused = run["trainer"].fused
        suffix = "" if fused else "_unfused"
        if fused not in flops:  # the FLOPs do not depend on XLA: counted once per path
            graph = step_graph(run["trainer"], run["batches"][0])
            flops[fused] = count_flops(graph)
            result["flops" + suffix] = flops[fused]
            alone[fused] = matmuls_alone(graph, device)
            beside = sgemm_gflops(device)  # the anchor of this later measurement
            alone[fused]["sgemm_gflops_beside"] = round(beside, 1)
            alone[fused]["over_flop_bound"] = round(
                alone[fused]["seconds"] / (flops[fused]["total"] / (beside * 1e9)), 2
            )
            alone[fused]["seconds"] = round(alone[fused]["seconds"], 4)
            result["matmuls_alone" + suffix] = alone[fused]
        result[name] = summary(run, flops[fused]["total"], sgemm, args.batch_size)
        result[name]["step_over_matmuls_alone"] = round(
            result[name]["sec_per_step"] / alone[fused]["seconds"], 2
        )
    if args.unfused:
        result["speedup_fused_over_unfused"] = {
            mode: round(result[f"{mode}_unfused"]["sec_per_step"] / result[mode]["sec_per_step"], 2)
            for mode in ("xla" if xla else "no_xla" for xla in xla_modes)
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
