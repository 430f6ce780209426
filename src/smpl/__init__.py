"""Body model: loading SMPL-format files safely, the tf forward pass and a Keras layer.

Public API::

    from src.smpl import SMPL, load_smpl_params

``SMPL`` (and TensorFlow) is imported on first use, so the file tools (``load_smpl_params``,
``python -m src.smpl convert ...``) do not pay for importing TensorFlow.
"""

from __future__ import annotations

from typing import Any

from src.smpl.io import (
    UnsafePickleError,
    load_smpl_params,
    save_smpl_params,
    validate_smpl_params,
)

__all__ = [
    "SMPL",
    "UnsafePickleError",
    "load_smpl_params",
    "save_smpl_params",
    "validate_smpl_params",
]


def __getattr__(name: str) -> Any:
    if name == "SMPL":
        from src.smpl.layer import SMPL

        return SMPL
    raise AttributeError(f"module 'src.smpl' has no attribute '{name}'")
