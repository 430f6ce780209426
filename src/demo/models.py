"""The networks and body model the demo runs (:mod:`src.inference.models`), loud when the
weights are untrained: a console message here, a banner on every rendered frame."""

from __future__ import annotations

import sys

from src import constants
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


def load_demo_models(options: DemoOptions) -> inference_models.InferenceModels:
    """Build the networks and body model; says LOUDLY when the weights are untrained."""
    models = inference_models.build_inference_models(
        options.load_path, options.smpl_model_path, options.model_config, seed=options.seed
    )
    if models.config.img_size != constants.IMG_SIZE:
        raise DemoError(
            f"the demo cuts {constants.IMG_SIZE}x{constants.IMG_SIZE} crops; the model config "
            f"expects {models.config.img_size}"
        )
    if models.untrained:
        print(
            UNTRAINED_MESSAGE.format(
                default=inference_models.DEFAULT_WEIGHTS_DIR, weights=models.weights
            ),
            file=sys.stderr,
        )
    if models.standin_body:
        print(
            f"warning: using the generated stand-in body model {models.body_model}, not SMPL; "
            "pass --smpl_model_path for real bodies",
            file=sys.stderr,
        )
    return models


def banner_text(models: inference_models.InferenceModels) -> str | None:
    """The warning drawn across every output frame, or None for trained weights."""
    if not models.untrained:
        return None
    return f"{DEFAULT_BANNER} - NOT A PREDICTION"
