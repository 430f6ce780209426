"""Where model files live by default: one place for every tool's defaults.

Paths are anchored at the repository root (``models/`` beside ``src/``), so the tools find them
from any working directory.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"

# The original release's neutral SMPL with the 25-joint regressor (licensed; the user supplies it)
SMPL_MODEL_PATH = MODELS_DIR / "neutral_smpl_with_cocoplustoesankles_reg.pkl"
# Mean pose/shape for the IEF initialisation, looked up beside the body-model file (§3.7)
MEAN_PARAMS_FILENAME = "neutral_smpl_meanwjoints.h5"
# ``--smpl_model_path`` value that selects the generated stand-in body model
STANDIN_NAME = "standin"

# Weights folders written by ``python -m src.convert`` (see docs/converting_checkpoints.md)
HMMR_WEIGHTS_DIR = MODELS_DIR / "hmmr_tf2"  # released HMMR + ResNet: demo, evaluation, export
HMR_WEIGHTS_DIR = MODELS_DIR / "hmr_tf2"  # released HMR: training init, feature precomputation
