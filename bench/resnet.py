"""ResNet-50 v2 image-encoder throughput: float32 against bfloat16, ours against Keras's.

    python bench/resnet.py [--batch_size 16] [--repeats 7] [--warmup 2] [--threads 0]

Times, in one process, our ResNet-50 v2 (:func:`src.inference.models.build_resnet`, the slim
layout the released weights need) and ``keras.applications.ResNet50V2(weights=None,
include_top=False, pooling="avg")``, each in float32 and in Keras ``mixed_bfloat16``, on the same
224x224 batch, in inference mode, each traced once with ``tf.function``. The four models run
interleaved (every repeat times each of them once), so a change of machine load hits them alike;
images/s is the batch over the median time (``ratios_of_fastest_calls``: over the shortest
one, less sensitive to other work on the machine). Also reports the ratios, the CPU and its bf16
features (AMX, AVX-512 BF16; without them bf16 is emulated and slower), and the difference of
our bf16 features from the float32 ones on the batch, with slim-initialised random weights (the
distribution of the converted-checkpoint test fixtures). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from src.constants import IMG_SIZE  # noqa: E402
from src.machine import cpu_info  # noqa: E402

CPU_FEATURES = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f")
MODELS = ("ours_float32", "ours_bfloat16", "keras_float32", "keras_bfloat16")
# On a GPU, also: TF32 tensor cores for float32 matmuls/convolutions (TensorFlow's default on
# Ampere and newer; "ours_float32" runs with it off) and Keras mixed_float16; every one of ours
# with XLA on and off. On a CPU: ours with XLA (``--xla``).
GPU_MODES = ("ours_tf32", "ours_float16")


@contextlib.contextmanager
def global_dtype_policy(name: str) -> Iterator[None]:
    """Build under the Keras global dtype policy ``name``; the previous one comes back after."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def slim_initialised(resnet) -> None:
    """Random weights drawn as the converted-checkpoint fixtures draw them (LeCun kernels, BN
    statistics away from 0 / 1): features of a realistic size, unlike Keras's initialisers."""
    from src.checkpoints.tf1_names import assign_from_tf1, resnet_weight_map
    from tests.checkpoints._tf1_fixtures import random_values

    rows = resnet_weight_map(resnet)
    values = random_values({row.tf1_name: tuple(row.variable.shape) for row in rows}, seed=9)
    assign_from_tf1(rows, values)


def model_names(gpu: bool, xla: bool) -> list[str]:
    """What one run times: :data:`MODELS`, on a GPU :data:`GPU_MODES` too, and with XLA (always
    on a GPU, with ``--xla`` on a CPU) an ``_xla`` twin of each of ours."""
    names = list(MODELS) + (list(GPU_MODES) if gpu else [])
    if gpu or xla:
        names += [f"{n}_xla" for n in names if n.startswith("ours_")]
    return names


def _tf32(enabled: bool, fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """``fn`` with TF32 execution set as asked for each call (a process-wide switch)."""

    def call(x: tf.Tensor) -> tf.Tensor:
        tf.config.experimental.enable_tensor_float_32_execution(enabled)
        return fn(x)

    return call


def build_models(
    img_size: int, names: Sequence[str] = MODELS, gpu: bool = False
) -> dict[str, Callable[[tf.Tensor], tf.Tensor]]:
    """``names`` (:func:`model_names`) -> a traced inference function ``(B, S, S, 3)`` ->
    ``(B, 2048)`` float32; all of ours share their weights, as do the two Keras models."""
    import keras

    from src.inference.models import build_resnet
    from src.networks.resnet_v2 import build_resnet_v2_50

    keras.utils.set_random_seed(0)
    ours32 = build_resnet(img_size, "float32")
    slim_initialised(ours32)
    ours16 = build_resnet(img_size, "bfloat16")
    ours16.set_weights(ours32.get_weights())
    shape = (img_size, img_size, 3)
    app = keras.applications.ResNet50V2
    keras32 = app(weights=None, include_top=False, pooling="avg", input_shape=shape)
    with global_dtype_policy("mixed_bfloat16"):
        keras16 = app(weights=None, include_top=False, pooling="avg", input_shape=shape)
    keras16.set_weights(keras32.get_weights())
    models = dict(zip(MODELS, (ours32, ours16, keras32, keras16), strict=True))
    models["ours_tf32"] = ours32
    if "ours_float16" in names:
        ours_fp16 = build_resnet_v2_50(img_size, dtype=keras.DTypePolicy("mixed_float16"))
        ours_fp16.set_weights(ours32.get_weights())
        models["ours_float16"] = ours_fp16

    def traced(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
        model = models[name.removesuffix("_xla")]
        fn = tf.function(
            lambda x: tf.cast(model(x, training=False), tf.float32),
            autograph=False,
            jit_compile=name.endswith("_xla"),
        )
        return _tf32("tf32" in name, fn) if gpu else fn

    return {name: traced(name) for name in names}


def smooth_images(rng: np.random.Generator, batch: int, img_size: int) -> np.ndarray:
    """``(B, S, S, 3)`` in [-1, 1]: random colours at 1/8 resolution, bilinearly upsampled (closer
    to photographs than per-pixel noise)."""
    small = rng.uniform(-1.0, 1.0, (batch, img_size // 8, img_size // 8, 3)).astype(np.float32)
    return tf.image.resize(small, (img_size, img_size), "bilinear").numpy()


def feature_difference(got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    """Relative L2 of ``got - want`` over the batch and the lowest per-image cosine."""
    cos = np.sum(got * want, -1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
    return {
        "relative_l2": float(np.linalg.norm(got - want) / np.linalg.norm(want)),
        "min_cosine": float(np.min(cos)),
    }


def ratios(img_per_s: dict[str, float]) -> dict[str, float]:
    """Ours over Keras's in each precision, bf16 over float32 for each network, and each other
    mode of ours (TF32, float16, XLA) over ours in float32."""
    pairs = [
        ("ours_float32", "keras_float32"),
        ("ours_bfloat16", "keras_bfloat16"),
        ("ours_bfloat16", "ours_float32"),
        ("keras_bfloat16", "keras_float32"),
    ]
    pairs += [(n, "ours_float32") for n in img_per_s if n not in MODELS and n.startswith("ours")]
    return {f"{num}_over_{den}": round(img_per_s[num] / img_per_s[den], 3) for num, den in pairs}


def time_interleaved(
    fns: dict[str, Callable[[tf.Tensor], tf.Tensor]], images: tf.Tensor, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each function, every repeat running each of them once."""
    for fn in fns.values():
        for _ in range(warmup):
            fn(images).numpy()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(images).numpy()  # .numpy(): the call has finished
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per model first")
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads (0: TensorFlow's default)"
    )
    parser.add_argument(
        "--xla", action="store_true", help="on a CPU, also time ours with XLA (always on a GPU)"
    )
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    gpus = tf.config.list_physical_devices("GPU")
    fns = build_models(IMG_SIZE, model_names(bool(gpus), args.xla), gpu=bool(gpus))
    images = tf.constant(smooth_images(np.random.default_rng(0), args.batch_size, IMG_SIZE))
    seconds = time_interleaved(fns, images, args.warmup, args.repeats)
    img_per_s = {name: args.batch_size / float(np.median(t)) for name, t in seconds.items()}
    features = {name: fn(images).numpy() for name, fn in fns.items()}
    report = {
        "bench": "resnet",
        "device": (
            tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            if gpus
            else "CPU"
        ),
        **cpu_info(CPU_FEATURES),
        "cpu_count": os.cpu_count(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "batch_size": args.batch_size,
        "img_size": IMG_SIZE,
        "repeats": args.repeats,
        "img_per_s": {name: round(v, 2) for name, v in img_per_s.items()},
        "sec_per_batch_min_median_max": {
            name: [round(float(f(t)), 4) for f in (np.min, np.median, np.max)]
            for name, t in seconds.items()
        },
        "ratios": ratios(img_per_s),
        "ratios_of_fastest_calls": ratios(
            {name: args.batch_size / float(np.min(t)) for name, t in seconds.items()}
        ),
        "bf16_vs_float32_features": {
            "ours": feature_difference(features["ours_bfloat16"], features["ours_float32"]),
            "keras": feature_difference(features["keras_bfloat16"], features["keras_float32"]),
        },
        "other_modes_vs_float32_features": {
            name: feature_difference(features[name], features["ours_float32"])
            for name in features
            if name not in MODELS
        },
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
