"""hmmr-tf2: a TensorFlow 2 / Keras 3 port of HMMR (Kanazawa et al., CVPR 2019)."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
