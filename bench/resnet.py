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
from collections.abc import Callable, Iterator
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


def build_models(img_size: int) -> dict[str, Callable[[tf.Tensor], tf.Tensor]]:
    """:data:`MODELS` -> a traced inference function ``(B, S, S, 3)`` -> ``(B, 2048)`` float32;
    the float32 and bf16 model of each pair share their weights."""
    import keras

    from src.inference.models import build_resnet

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

    def traced(model) -> Callable[[tf.Tensor], tf.Tensor]:
        return tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), autograph=False)

    return {name: traced(model) for name, model in models.items()}


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
    """Ours over Keras's in each precision, and bf16 over float32 for each network."""
    return {
        f"{num}_over_{den}": round(img_per_s[num] / img_per_s[den], 3)
        for num, den in (
            ("ours_float32", "keras_float32"),
            ("ours_bfloat16", "keras_bfloat16"),
            ("ours_bfloat16", "ours_float32"),
            ("keras_bfloat16", "keras_float32"),
        )
    }


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
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    gpus = tf.config.list_physical_devices("GPU")
    fns = build_models(IMG_SIZE)
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
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
