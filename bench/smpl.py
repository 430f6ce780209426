"""SMPL body-model layer throughput: bodies/s forward and forward+backward, against the layer's
FLOP bound and (optionally) smplx.

    python bench/smpl.py [--batch_size 64] [--repeats 15] [--warmup 3] [--threads 0]
                         [--smplx_python /tmp/smplx-venv/bin/python]

Times :class:`src.smpl.SMPL` (float32) on the generated stand-in body model (6890 vertices, like
SMPL), each pass traced once with ``tf.function``: the forward pass (betas, thetas -> vertices)
and the forward+backward pass (the gradient of sum(vertices^2) w.r.t. betas and thetas).
bodies/s is the batch over the median time.

The anchor ratio (issue #13): ``fraction_of_flop_bound`` = (the pass's FLOPs / the SGEMM rate)
/ seconds per pass. FLOPs are those of the pass's matmuls, counted analytically
(:func:`matmul_flops`); the SGEMM rate is that of a 2048 x 2048 float32 ``tf.matmul`` on the
same intra-op threads (:func:`bench.train_step.sgemm_gflops`), timed in every round.

``--smplx_python`` names an interpreter with ``torch`` and ``smplx`` (a separate virtualenv:
neither is a dependency of this project). It then runs smplx's ``lbs()`` on the same model
arrays and inputs, with ``torch.set_num_threads`` equal to TensorFlow's intra-op threads, as a
worker process on the CPU whose rounds alternate with ours (a busy machine slows both alike),
and the report adds its bodies/s, ours over smplx and the largest vertex difference between
the two. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.train_step import sgemm_gflops  # noqa: E402
from src.machine import cpu_info  # noqa: E402
from src.smpl import SMPL, load_smpl_params  # noqa: E402
from src.smpl.standin import default_standin_path  # noqa: E402

PASSES = ("forward", "forward_backward")
SETTLE_S = 0.05  # pause between ours, smplx and the SGEMM, for idle threads to stop spinning
NUM_BETAS = 10
POSE_STD_RAD = 0.5  # thetas ~ N(0, 0.5^2) per component: varied but plausible bodies

# A worker timing smplx's lbs(); reads the .npz the bench writes, answers one JSON line per
# "round" line on stdin: the seconds of one forward and one forward+backward pass.
SMPLX_WORKER = r"""
import json, sys, time
import numpy as np, torch
from smplx.lbs import lbs
arrays, threads = np.load(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
as_tensor = lambda key: torch.tensor(arrays[key], dtype=torch.float32)
num_pose = arrays["posedirs"].shape[-1]
posedirs = torch.tensor(arrays["posedirs"].reshape(-1, num_pose).T.copy(), dtype=torch.float32)
model = (as_tensor("v_template"), as_tensor("shapedirs"), posedirs, as_tensor("J_regressor"),
         torch.tensor(arrays["parents"], dtype=torch.long), as_tensor("weights"))
betas, thetas = as_tensor("betas"), as_tensor("thetas")
def forward():
    with torch.no_grad():
        return lbs(betas, thetas, *model)[0]
def forward_backward():
    b, t = betas.clone().requires_grad_(), thetas.clone().requires_grad_()
    loss = (lbs(b, t, *model)[0] ** 2).sum()
    return torch.autograd.grad(loss, [b, t])
np.save(sys.argv[3], forward().numpy())
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    seconds = {}
    for name, fn in (("forward", forward), ("forward_backward", forward_backward)):
        start = time.perf_counter()
        fn()
        seconds[name] = time.perf_counter() - start
    print(json.dumps(seconds), flush=True)
"""


def matmul_flops(batch: int, num_verts: int, num_joints: int, num_betas: int) -> dict[str, int]:
    """FLOPs (2 per multiply-add) of the matmuls of one pass of :func:`src.smpl.lbs.lbs`.

    Forward: the shape and pose blend shapes ((N, 10) and (N, 207) by (., 3V)), the per-vertex
    skinning rows ((V, J) by (N, J, 12)) and the rest joints from J_regressor (J, V) times the
    template and shape directions (V, 3 (1 + 10)). Backward adds the same products for the
    gradients w.r.t. the coefficients and the transforms (not w.r.t. the model's constants).
    The elementwise work (Rodrigues, the kinematic chain, applying the rows) is left out.
    """
    num_pose = 9 * (num_joints - 1)
    blend = 2 * batch * (num_betas + num_pose) * 3 * num_verts
    skin = 2 * batch * num_verts * num_joints * 12
    rest = 2 * num_joints * num_verts * 3 * (1 + num_betas)
    return {"forward": blend + skin + rest, "forward_backward": 2 * (blend + skin) + rest}


def traced_passes(smpl: SMPL) -> dict[str, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]]:
    """:data:`PASSES` -> a traced function (betas, thetas) -> a tensor that ends the pass."""

    def forward(betas: tf.Tensor, thetas: tf.Tensor) -> tf.Tensor:
        return smpl(betas, thetas)["vertices"]

    def forward_backward(betas: tf.Tensor, thetas: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch([betas, thetas])
            loss = tf.reduce_sum(smpl(betas, thetas)["vertices"] ** 2)
        d_betas, d_thetas = tape.gradient(loss, [betas, thetas])
        return tf.concat([d_betas, d_thetas], axis=-1)

    return {
        name: tf.function(fn) for name, fn in zip(PASSES, (forward, forward_backward), strict=True)
    }


class SmplxWorker:
    """smplx's ``lbs()`` in ``python`` (a process of its own), one round per :meth:`round`."""

    def __init__(self, python: str, arrays_path: Path, threads: int, vertices_path: Path):
        self.process = subprocess.Popen(
            [python, "-c", SMPLX_WORKER, str(arrays_path), str(threads), str(vertices_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._answer()

    def _answer(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"smplx worker exited with {self.process.wait()} (see its stderr)")
        return json.loads(line)

    def round(self) -> dict[str, float]:
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def write_arrays(path: Path, params: dict[str, Any], betas: np.ndarray, thetas: np.ndarray):
    """The model arrays smplx's lbs() needs and the inputs, as an .npz for the worker."""
    np.savez(
        path,
        **{key: params[key] for key in ("v_template", "shapedirs", "posedirs", "J_regressor")},
        weights=params["weights"],
        parents=np.asarray(params["kintree_table"][0], np.int64),
        betas=betas,
        thetas=thetas,
    )


def stats(seconds: list[float]) -> list[float]:
    return [round(float(f(seconds)), 5) for f in (np.min, np.median, np.max)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each pass first")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: one per core)")
    parser.add_argument(
        "--smplx_python", default=None, help="an interpreter with torch and smplx, to compare"
    )
    args = parser.parse_args()
    threads = args.threads or os.cpu_count()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    gpus = tf.config.list_logical_devices("GPU")
    device = gpus[0].name if gpus else "/cpu:0"  # where TF places the passes

    path = default_standin_path()
    params = load_smpl_params(path)
    smpl = SMPL(path)
    rng = np.random.default_rng(0)
    betas = rng.normal(0.0, 1.0, (args.batch_size, NUM_BETAS)).astype(np.float32)
    thetas = rng.normal(0.0, POSE_STD_RAD, (args.batch_size, 3 * len(smpl.parents)))
    thetas = thetas.astype(np.float32)
    inputs = (tf.constant(betas), tf.constant(thetas))
    fns = traced_passes(smpl)
    for fn in fns.values():
        for _ in range(args.warmup):
            fn(*inputs).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        worker = None
        if args.smplx_python:
            write_arrays(Path(tmp) / "arrays.npz", params, betas, thetas)
            worker = SmplxWorker(
                args.smplx_python, Path(tmp) / "arrays.npz", threads, Path(tmp) / "verts.npy"
            )
            for _ in range(args.warmup):
                worker.round()
        seconds = {name: [] for name in PASSES}
        smplx_seconds = {name: [] for name in PASSES}
        rates = []
        for _ in range(args.repeats):  # one round: SGEMM, each pass of ours, smplx's
            rates.append(sgemm_gflops(device))
            time.sleep(SETTLE_S)
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(*inputs).numpy()  # .numpy(): the pass has finished
                seconds[name].append(time.perf_counter() - start)
            if worker:
                time.sleep(SETTLE_S)
                for name, value in worker.round().items():
                    smplx_seconds[name].append(value)
                time.sleep(SETTLE_S)
        if worker:
            worker.close()
            smplx_vertices = np.load(Path(tmp) / "verts.npy")

    sgemm = float(np.median(rates))
    flops = matmul_flops(args.batch_size, smpl.num_verts, len(smpl.parents), NUM_BETAS)
    bodies = {name: args.batch_size / float(np.median(t)) for name, t in seconds.items()}
    report = {
        "bench": "smpl",
        "device": "GPU" if gpus else "CPU",
        **cpu_info(),
        "cpu_count": os.cpu_count(),
        "intra_op_threads": threads,
        "batch_size": args.batch_size,
        "num_verts": smpl.num_verts,
        "repeats": args.repeats,
        "bodies_per_s": {name: round(value, 1) for name, value in bodies.items()},
        "sec_per_batch_min_median_max": {name: stats(t) for name, t in seconds.items()},
        "matmul_gflop": {name: round(value / 1e9, 4) for name, value in flops.items()},
        "sgemm_gflops": round(sgemm, 1),
        "fraction_of_flop_bound": {
            name: round(flops[name] / (sgemm * 1e9) / float(np.median(seconds[name])), 3)
            for name in PASSES
        },
    }
    if worker:
        smplx_bodies = {
            name: args.batch_size / float(np.median(t)) for name, t in smplx_seconds.items()
        }
        ours_vertices = smpl(*inputs)["vertices"].numpy()
        report["smplx"] = {
            **worker.info,
            "bodies_per_s": {name: round(value, 1) for name, value in smplx_bodies.items()},
            "sec_per_batch_min_median_max": {name: stats(t) for name, t in smplx_seconds.items()},
        }
        report["ours_over_smplx"] = {
            name: round(bodies[name] / smplx_bodies[name], 2) for name in PASSES
        }
        report["ours_over_smplx_fastest_calls"] = {
            name: round(min(smplx_seconds[name]) / min(seconds[name]), 2) for name in PASSES
        }
        report["max_abs_vertex_diff_vs_smplx_m"] = float(
            np.max(np.abs(ours_vertices - smplx_vertices))
        )
    report["python"] = platform.python_version()
    report["tensorflow"] = tf.__version__
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
