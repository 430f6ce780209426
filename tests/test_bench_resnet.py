"""bench/resnet.py's GPU modes (TF32, mixed_float16, XLA) run here on the CPU: the code a GPU run
takes builds, traces and agrees with float32 (no GPU is lent to CI)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import resnet as bench

pytestmark = pytest.mark.slow


def test_model_names_add_the_gpu_modes_and_xla_twins():
    assert bench.model_names(gpu=False, xla=False) == list(bench.MODELS)
    on_gpu = bench.model_names(gpu=True, xla=False)
    assert {"ours_tf32", "ours_float16", "ours_float16_xla", "ours_float32_xla"} <= set(on_gpu)
    assert not [n for n in on_gpu if n.startswith("keras") and n.endswith("_xla")]


def test_every_gpu_mode_builds_and_agrees_with_float32():
    fns = bench.build_models(64, bench.model_names(gpu=True, xla=False), gpu=True)
    images = bench.smooth_images(np.random.default_rng(1), 2, 64)
    want = fns["ours_float32"](images).numpy()
    for name, fn in fns.items():
        if not name.startswith("ours"):
            continue
        got = fn(images).numpy()
        assert got.shape == (2, 2048) and got.dtype == np.float32, name
        tolerance = 1e-5 if "16" not in name else 2e-2  # bf16 / fp16 arithmetic
        assert bench.feature_difference(got, want)["relative_l2"] < tolerance, name
