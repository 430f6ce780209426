"""Every dimension of the HMMR networks in one dataclass (docs/original_release.md §2.2, §3).

Defaults are the original release's; tests build reduced widths (e.g. ``phi_dim=64, gn_groups=8``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from src import constants


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of the temporal encoder, hallucinator, regressors and discriminator.

    Args:
        phi_dim: per-frame feature width (2048 for ResNet-50 v2).
        num_conv_layers: residual blocks of the temporal encoder (receptive field 4 n + 1).
        gn_groups: GroupNorm groups; must divide ``phi_dim``.
        gn_epsilon: GroupNorm epsilon.
        conv_kernel: temporal convolution width (frames).
        ief_hidden: width of the two hidden FC layers of every IEF regressor.
        num_ief_stages: IEF iterations.
        dropout_rate: drop probability after each hidden IEF layer (training only).
        delta_t_values: frame offsets of the past/future predictors, e.g. (-5, 5).
        hallucinator_hidden: width of the hallucinator's two hidden FC layers.
        disc_joint_hidden: width of the discriminator's shared per-joint embedding.
        disc_all_hidden: width of the discriminator's all-joint FC layers.
        img_size: side of the square image crop fed to the ResNet.

    Example:
        >>> cfg = ModelConfig(phi_dim=64, gn_groups=8)
        >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    phi_dim: int = constants.PHI_DIM
    num_conv_layers: int = constants.NUM_CONV_LAYERS
    gn_groups: int = constants.GN_GROUPS
    gn_epsilon: float = constants.GN_EPSILON
    conv_kernel: int = 3
    ief_hidden: int = 1024
    num_ief_stages: int = constants.NUM_IEF_STAGES
    dropout_rate: float = 0.5
    delta_t_values: tuple[int, ...] = constants.DELTA_T_VALUES
    hallucinator_hidden: int = constants.PHI_DIM
    disc_joint_hidden: int = 32
    disc_all_hidden: int = 1024
    img_size: int = constants.IMG_SIZE

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "delta_t_values", tuple(sorted(int(dt) for dt in self.delta_t_values))
        )
        if self.phi_dim % self.gn_groups:
            raise ValueError(
                f"ModelConfig: gn_groups={self.gn_groups} must divide phi_dim={self.phi_dim}"
            )
        if 0 in self.delta_t_values or len(set(self.delta_t_values)) != len(self.delta_t_values):
            raise ValueError(
                f"ModelConfig: delta_t_values must be distinct and non-zero, got "
                f"{self.delta_t_values}"
            )
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(
                f"ModelConfig: dropout_rate must be in [0, 1), got {self.dropout_rate}"
            )

    @property
    def receptive_field(self) -> int:
        """Frames seen by one temporal-encoder output: (kernel - 1) * 2 * n + 1 (13 by default)."""
        return (self.conv_kernel - 1) * 2 * self.num_conv_layers + 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["delta_t_values"] = list(self.delta_t_values)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"ModelConfig: unknown keys {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**values)
