"""Dimensions and fixed numbers of HMMR, in one place (docs/original_release.md §2-§4).

Everything that the original hard-codes (2048, 85, 25, 13, +-5 ...) is named here; flags that may
change them take these as defaults.
"""

# Image encoder
IMG_SIZE = 224  # network input crop, px
PHI_DIM = 2048  # per-frame ResNet-50 v2 feature
# Arithmetic of the ResNet's convolutions (--precision): float32 (the original's numbers) or
# bfloat16 (Keras mixed_bfloat16: float32 weights and output, bf16 compute; docs/benchmarks.md)
PRECISIONS = ("float32", "bfloat16")
DEFAULT_PRECISION = "float32"

# python -m src.export --format / --quantize / --parts (src.inference.edge_export)
EXPORT_FORMATS = ("savedmodel", "litert", "onnx")
DEFAULT_EXPORT_FORMAT = "savedmodel"
EDGE_QUANTIZATIONS = ("none", "float16", "dynamic")  # float32, float16 weights, int8 weights
EDGE_PARTS = ("predictor", "encoder")

# theta = [camera 3 | pose 72 | shape 10]
NUM_CAM = 3
NUM_SMPL_JOINTS = 24
NUM_POSE = 3 * NUM_SMPL_JOINTS  # 72, axis-angle
NUM_SHAPE = 10
THETA_DIM = NUM_CAM + NUM_POSE + NUM_SHAPE  # 85
CAM_SLICE = slice(0, NUM_CAM)
POSE_SLICE = slice(NUM_CAM, NUM_CAM + NUM_POSE)
SHAPE_SLICE = slice(NUM_CAM + NUM_POSE, THETA_DIM)
POSE_FEATURE_DIM = 9 * (NUM_SMPL_JOINTS - 1)  # 207, (R - I) of joints 1..23

# Keypoints
NUM_KPS = 25  # HMMR joint set (src.joints.HMMR_JOINT_NAMES)
NUM_LSP_JOINTS = 14  # the first 14 of the 25: 3D losses and metrics

# Temporal model
NUM_CONV_LAYERS = 3
GN_GROUPS = 32
GN_EPSILON = 1e-6
DELTA_T_VALUES = (-5, 5)
NUM_IEF_STAGES = 3
SEQUENCE_LENGTH = 20  # T


def receptive_field(num_conv_layers: int = NUM_CONV_LAYERS) -> int:
    """Frames seen by one output of the temporal encoder: 4 * n + 1 (13 for n = 3)."""
    return 4 * num_conv_layers + 1
