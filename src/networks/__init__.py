"""Networks of HMMR (docs/original_release.md §3): image encoder, temporal encoder, hallucinator,
IEF regressors, delta predictors, pose discriminator, and their assembly."""

from src.networks.config import ModelConfig
from src.networks.delta_predictor import DeltaPredictor
from src.networks.discriminator import PoseDiscriminator
from src.networks.hallucinator import Hallucinator
from src.networks.hmmr import HMMR
from src.networks.ief_regressor import IEFRegressor, initial_mean_theta, read_mean_params
from src.networks.resnet_v2 import build_resnet_v2_50, preprocess_images
from src.networks.temporal_encoder import TemporalEncoder

__all__ = [
    "HMMR",
    "DeltaPredictor",
    "Hallucinator",
    "IEFRegressor",
    "ModelConfig",
    "PoseDiscriminator",
    "TemporalEncoder",
    "build_resnet_v2_50",
    "initial_mean_theta",
    "preprocess_images",
    "read_mean_params",
]
