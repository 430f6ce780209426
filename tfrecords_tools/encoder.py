"""The phi encoder of the training records (§6.6): the ResNet-50 v2 restored from a weights folder
(``--pretrained_model_path``, computing in ``--precision``) or an ``--encoder_factory``'s model,
built once per (worker) process and checked before any work starts.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from src import paths
from src.checkpoints.weights_dir import RESNET_PART, WeightsDirError, available_parts
from src.constants import DEFAULT_PRECISION, IMG_SIZE
from src.data.features import PHI_BATCH_SIZE, FeatureExtractor
from src.inference.models import load_resnet

DEFAULT_PRETRAINED_MODEL = str(paths.HMR_WEIGHTS_DIR)  # converted from hmr_noS5.ckpt-642561


@dataclass(frozen=True)
class EncoderSpec:
    """How to build the phi encoder in a (worker) process."""

    pretrained_model_path: str = DEFAULT_PRETRAINED_MODEL
    encoder_factory: str | None = None
    batch_size: int = PHI_BATCH_SIZE
    img_size: int = IMG_SIZE
    precision: str = DEFAULT_PRECISION


def check_encoder(spec: EncoderSpec) -> None:
    """Fail now (not in a worker) when the encoder cannot be found."""
    if spec.encoder_factory:
        import_callable(spec.encoder_factory)
        return
    parts = available_parts(spec.pretrained_model_path)
    if RESNET_PART not in parts:
        raise WeightsDirError(
            f"{spec.pretrained_model_path}: weights folder without "
            f"'{RESNET_PART}' (it has {parts}); convert hmr_noS5.ckpt-642561 "
            "with python -m src.convert"
        )


def import_callable(path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--encoder_factory: expected MODULE:FUNCTION, got {path!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--encoder_factory {path}: cannot import it ({err})") from None


@functools.lru_cache(maxsize=2)
def get_extractor(spec: EncoderSpec) -> FeatureExtractor:
    """The phi extractor of this process (built once): the ResNet-50 v2 restored from the weights
    folder (computing in ``spec.precision``), or the ``encoder_factory``'s model."""
    if spec.encoder_factory:
        model = import_callable(spec.encoder_factory)(spec.img_size)
    else:
        _gpu_memory_growth()
        model = load_resnet(spec.pretrained_model_path, spec.img_size, spec.precision)
    return FeatureExtractor(model, spec.batch_size, spec.img_size)


def _gpu_memory_growth() -> None:
    """Let several worker processes share a GPU instead of the first one taking all memory."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process
            pass
