"""The one model loader: networks from a weights folder (:mod:`src.checkpoints.weights_dir`).

Every tool that runs trained networks builds them here: the demo and the SavedModel export
(:func:`build_inference_models`, which adds the body model and an untrained fallback), the
evaluator (:func:`load_networks`) and the TFRecord converters' feature extractor
(:func:`load_resnet`).

- :func:`build_networks`: HMMR (built), and optionally the ResNet-50 v2 image encoder and the
  pose discriminator, randomly initialised, in that order (so a seed gives the same weights).
- :func:`load_networks`: the same, sized by the folder's ``model_config.json``, with its weights.
- :func:`load_resnet`: the image encoder alone (a folder converted from the HMR checkpoint).
- :func:`build_resnet`: the image encoder computing in a ``precision``
  (:data:`src.constants.PRECISIONS`): ``float32`` (default, the original's numbers) or
  ``bfloat16`` (float32 weights and features, bf16 convolutions: AMX / AVX-512 BF16 on recent
  x86 CPUs, tensor cores on GPUs; docs/benchmarks.md). Only the ResNet takes it: HMMR, the
  discriminator and the body model stay float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import keras

from src import constants, paths
from src.checkpoints import weights_dir
from src.networks.config import ModelConfig
from src.networks.discriminator import PoseDiscriminator
from src.networks.hmmr import HMMR
from src.networks.resnet_v2 import build_resnet_v2_50
from src.smpl.layer import SMPL
from src.smpl.resolve import resolve_body_model

DEFAULT_WEIGHTS_DIR = paths.HMMR_WEIGHTS_DIR  # `python -m src.convert ... --out models/hmmr_tf2`
DEFAULT_SEED = 0
# --precision -> the ResNet layers' Keras dtype policy (variables float32 in both)
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@dataclass
class Networks:
    """Built networks; the optional ones are None when not asked for.

    Attributes:
        model: :class:`HMMR`, built for ``(B, T, phi_dim)`` inputs.
        resnet: ResNet-50 v2 image encoder ``(N, S, S, 3)`` -> ``(N, 2048)``, or None.
        discriminator: :class:`PoseDiscriminator`, or None.
    """

    model: HMMR
    resnet: keras.Model | None = None
    discriminator: PoseDiscriminator | None = None

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def build_hmmr(config: ModelConfig) -> HMMR:
    """:class:`HMMR` for ``config``, built (its weights exist) for ``(B, T, phi_dim)`` inputs."""
    model = HMMR(config)
    model.build((None, None, config.phi_dim))
    return model


def resnet_dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy of the ResNet layers for ``precision`` (``--precision``).

    Raises:
        ValueError: ``precision`` is not one of :data:`src.constants.PRECISIONS`.
    """
    if precision not in PRECISION_POLICIES:
        raise ValueError(
            f"precision must be one of {constants.PRECISIONS}, got {precision!r} (--precision)"
        )
    return keras.DTypePolicy(PRECISION_POLICIES[precision])


def build_resnet(
    img_size: int = constants.IMG_SIZE, precision: str = constants.DEFAULT_PRECISION
) -> keras.Model:
    """The ResNet-50 v2 image encoder computing in ``precision``, randomly initialised.

    Each layer gets the policy explicitly (the global Keras policy is neither read nor changed,
    so HMMR and the body model built beside it stay float32). The variables are float32 in both
    precisions, so the same weights folder loads into either; the features are float32.

    Returns:
        Model ``(N, S, S, 3)`` float32 in [-1, 1] -> ``(N, 2048)`` float32.
    """
    return build_resnet_v2_50(img_size, dtype=resnet_dtype_policy(precision))


def build_networks(
    config: ModelConfig,
    with_resnet: bool = False,
    with_discriminator: bool = False,
    precision: str = constants.DEFAULT_PRECISION,
) -> Networks:
    """HMMR, then (``with_resnet``) the ResNet computing in ``precision``, then
    (``with_discriminator``) the discriminator, randomly initialised.

    Raises:
        ValueError: ``config.phi_dim`` differs from the ResNet's feature width; an unknown
            ``precision``.
    """
    policy = resnet_dtype_policy(precision)  # checked before anything is built
    model = build_hmmr(config)
    resnet = None
    if with_resnet:
        resnet = build_resnet_v2_50(config.img_size, dtype=policy)
        if int(resnet.output_shape[-1]) != config.phi_dim:
            raise ValueError(
                f"model config phi_dim={config.phi_dim} does not match the ResNet-50 v2 feature "
                f"width {resnet.output_shape[-1]}"
            )
    discriminator = None
    if with_discriminator:
        discriminator = PoseDiscriminator.from_model_config(config)
        discriminator.build()
    return Networks(model, resnet, discriminator)


def load_networks(
    folder: str | os.PathLike,
    config: ModelConfig | None = None,
    with_resnet: bool = False,
    with_discriminator: bool = False,
    precision: str = constants.DEFAULT_PRECISION,
) -> Networks:
    """:func:`build_networks` with the weights of ``folder`` (every part they need).

    Args:
        folder: a weights folder (a run directory resolves to its ``export/``).
        config: the folder's model config when already read; default read from the folder.
        precision: arithmetic of the ResNet (:func:`build_resnet`).
    Raises:
        WeightsDirError (a ValueError) naming the folder and the parts it lacks.
    """
    folder = weights_dir.resolve(folder)
    config = config if config is not None else weights_dir.read_model_config(folder)
    nets = build_networks(config, with_resnet, with_discriminator, precision)
    weights_dir.load_into(
        folder, model=nets.model, discriminator=nets.discriminator, resnet=nets.resnet,
        require_all=True,
    )  # fmt: skip
    return nets


def load_resnet(
    folder: str | os.PathLike,
    img_size: int = constants.IMG_SIZE,
    precision: str = constants.DEFAULT_PRECISION,
) -> keras.Model:
    """The ResNet-50 v2 image encoder (:func:`build_resnet`, computing in ``precision``) with the
    ``resnet_v2_50`` part of ``folder``.

    Raises:
        WeightsDirError (a ValueError): ``folder`` is not a weights folder or lacks the part.
    """
    resnet = build_resnet(img_size, precision)
    weights_dir.load_into(folder, resnet=resnet, only=[weights_dir.RESNET_PART])
    return resnet


# ------------------------------------------------------------------------------------------------
# The models an export or a demo runs


@dataclass
class InferenceModels:
    """Everything inference needs, built and loaded.

    Attributes:
        model: :class:`HMMR`.
        resnet: ResNet-50 v2 image encoder ``(N, S, S, 3)`` -> ``(N, 2048)``.
        smpl: body-model layer.
        untrained: True when the weights are random (no ``--load_path``).
        weights: where the weights came from (a folder, or ``"untrained (seed N)"``).
        body_model: path of the body-model file.
        standin_body: True when that file is the generated stand-in, not SMPL.
        precision: arithmetic of the ResNet (``float32`` or ``bfloat16``).
        predictors: traced predictors over these models by their settings, for callers that run
            many inputs (the demo's ``--vid_dir`` traces once, not once per video).
    """

    model: HMMR
    resnet: keras.Model
    smpl: SMPL
    untrained: bool
    weights: str
    body_model: Path
    standin_body: bool
    precision: str = constants.DEFAULT_PRECISION
    predictors: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def resolve_weights(load_path: str | os.PathLike | None) -> Path | None:
    """``load_path`` if given, else :data:`DEFAULT_WEIGHTS_DIR` when it holds a weights folder,
    else None (untrained)."""
    if load_path is not None:
        return weights_dir.resolve(load_path)
    if (DEFAULT_WEIGHTS_DIR / weights_dir.CONFIG_FILE).is_file():
        return DEFAULT_WEIGHTS_DIR
    return None


def build_inference_models(
    load_path: str | os.PathLike | None = None,
    smpl_model_path: str | os.PathLike | None = None,
    model_config: ModelConfig | None = None,
    seed: int = DEFAULT_SEED,
    allow_untrained: bool = True,
    precision: str = constants.DEFAULT_PRECISION,
) -> InferenceModels:
    """Build the ResNet, HMMR and body model; load converted weights when there are some.

    Args:
        load_path: weights folder (``python -m src.convert`` / training export); default
            :data:`DEFAULT_WEIGHTS_DIR` if it exists.
        smpl_model_path: body-model file; see :func:`src.smpl.resolve.resolve_body_model`.
        model_config: sizes for untrained models (default the original's); a weights folder
            brings its own and this must then be None.
        seed: seed of the random initialisation when untrained.
        allow_untrained: if False, a missing weights folder is an error.
        precision: arithmetic of the ResNet (:func:`build_resnet`); the rest is float32.
    Raises:
        ValueError / FileNotFoundError naming the file and what was expected.
    """
    resnet_dtype_policy(precision)  # an unknown precision fails before any work
    folder = resolve_weights(load_path)
    if folder is None and not allow_untrained:
        raise FileNotFoundError(
            f"no weights: give --load_path (a folder written by `python -m src.convert`), "
            f"or put one at {DEFAULT_WEIGHTS_DIR}"
        )
    if folder is not None and model_config is not None:
        raise ValueError("build_inference_models: a weights folder brings its own model config")
    body = resolve_body_model(smpl_model_path)
    if folder is not None:
        nets = load_networks(folder, with_resnet=True, precision=precision)
    else:
        keras.utils.set_random_seed(seed)
        nets = build_networks(model_config or ModelConfig(), with_resnet=True, precision=precision)
    smpl = SMPL(body.path)
    if smpl.num_joints != constants.NUM_KPS:
        raise ValueError(
            f"{body.path}: body model regresses {smpl.num_joints} joints, HMMR needs "
            f"{constants.NUM_KPS} (the cocoplus + toes + ankles regressor)"
        )
    return InferenceModels(
        model=nets.model,
        resnet=nets.resnet,
        smpl=smpl,
        untrained=folder is None,
        weights=str(folder) if folder is not None else f"untrained (seed {seed})",
        body_model=Path(body.path),
        standin_body=body.standin,
        precision=precision,
    )
