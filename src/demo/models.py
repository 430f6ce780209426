"""The networks and body model the demo runs (:mod:`src.inference.models`), loud when the
weights are untrained: a console message here, a banner on every rendered frame."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from src import constants, paths
from src.demo.options import DemoError, DemoOptions
from src.inference import models as inference_models

DEFAULT_BANNER = "UNTRAINED WEIGHTS"

UNTRAINED_MESSAGE = """\
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  UNTRAINED WEIGHTS: no --load_path was given and there is no weights folder at
!!  {default}. The networks are RANDOMLY INITIALISED ({weights}):
!!  the bodies in the outputs are NOT predictions of the people in the video.
!!  Convert the released checkpoints (README, "Using the released model") and pass
!!  --load_path models/hmmr_tf2.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


@contextmanager
def _quiet_standin_log() -> Iterator[None]:
    """Hold back :mod:`src.smpl.resolve`'s stand-in warning: the demo says it once itself (it
    was printed twice, once logged there and once here)."""
    logger = logging.getLogger("src.smpl.resolve")

    def drop_standin(record: logging.LogRecord) -> bool:
        return "STAND-IN" not in record.getMessage()

    logger.addFilter(drop_standin)
    try:
        yield
    finally:
        logger.removeFilter(drop_standin)


def load_demo_models(
    options: DemoOptions, announce: bool = True
) -> inference_models.InferenceModels:
    """Build the networks and body model; says LOUDLY (once) when the weights are untrained or
    the body is the generated stand-in (``announce=False``: the caller calls
    :func:`announce_models` itself, e.g. after a progress bar another thread drew)."""
    with _quiet_standin_log():
        models = inference_models.build_inference_models(
            options.load_path,
            options.smpl_model_path,
            options.model_config,
            seed=options.seed,
            precision=options.precision,
        )
    if models.config.img_size != constants.IMG_SIZE:
        raise DemoError(
            f"the demo cuts {constants.IMG_SIZE}x{constants.IMG_SIZE} crops; the model config "
            f"expects {models.config.img_size}"
        )
    if announce:
        announce_models(models)
    return models


def announce_models(models: inference_models.InferenceModels) -> None:
    """Warn on stderr when the weights are untrained or the body is the generated stand-in."""
    if models.untrained:
        print(
            UNTRAINED_MESSAGE.format(
                default=inference_models.DEFAULT_WEIGHTS_DIR, weights=models.weights
            ),
            file=sys.stderr,
        )
    if models.standin_body:
        print(
            f"warning: using the generated stand-in body model {models.body_model}, not SMPL "
            "(meshes and joints differ); pass --smpl_model_path or put SMPL at "
            f"{paths.SMPL_MODEL_PATH} for real bodies",
            file=sys.stderr,
        )


def banner_text(models: inference_models.InferenceModels) -> str | None:
    """The warning drawn across every output frame, or None for trained weights."""
    if not models.untrained:
        return None
    return f"{DEFAULT_BANNER} - NOT A PREDICTION"
