"""Loss weights with the original flag names and defaults (docs/original_release.md §2.3).

Each loss key of §5.2 takes the weight of its family: every ``e_kp*`` term takes ``e_lw_kp``,
every ``e_joints*`` term ``e_lw_joints``, every ``e_smpl*`` term ``e_lw_smpl`` (present, past,
future, hallucinated and static variants alike), as the original's ``loss_weights`` table does.
"""

from __future__ import annotations

import dataclasses

# loss-key family (the key up to its first variant suffix) -> weight field
_FAMILY_FIELDS: dict[str, str] = {
    "e_kp": "e_lw_kp",
    "e_joints": "e_lw_joints",
    "e_smpl": "e_lw_smpl",
    "e_const": "e_lw_const",
    "e_pose": "e_lw_pose",
    "e_shape": "e_lw_shape",
    "e_hallucinate": "e_lw_hallucinate",
    "d_pose": "d_lw_pose",
}
# suffixes the original appends to e_kp / e_joints / e_smpl
_VARIANT_SUFFIXES: tuple[str, ...] = (
    "",
    "_dt_past",
    "_dt_future",
    "_hal",
    "_hal_past",
    "_hal_future",
    "_static",
)


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the encoder (``e_lw_*``) and discriminator (``d_lw_pose``) loss terms.

    Args:
        e_lw_kp: 2D keypoint L1 (present, past/future, hallucinated).
        e_lw_joints: 3D joint MSE (all variants).
        e_lw_smpl: SMPL rotation + shape MSE (all variants).
        e_lw_const: shape constancy between consecutive frames.
        e_lw_pose: encoder adversarial (LSGAN) term.
        e_lw_shape: L2 prior on predicted betas.
        d_lw_pose: discriminator loss; a value > 0 also switches the discriminator update on.
        e_lw_hallucinate: MSE between the hallucinated and the real movie strip.

    Example:
        >>> LossWeights().weight_for("e_kp_dt_future")
        60.0
    """

    e_lw_kp: float = 60.0
    e_lw_joints: float = 60.0
    e_lw_smpl: float = 60.0
    e_lw_const: float = 1.0
    e_lw_pose: float = 1.0
    e_lw_shape: float = 1.0
    d_lw_pose: float = 1.0
    e_lw_hallucinate: float = 1.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = float(getattr(self, field.name))
            if value < 0:
                raise ValueError(f"LossWeights: {field.name} must be >= 0, got {value}")
            object.__setattr__(self, field.name, value)

    @property
    def use_discriminator(self) -> bool:
        """True when the discriminator is trained (the original's ``d_lw_pose > 0``)."""
        return self.d_lw_pose > 0

    def weight_for(self, key: str) -> float:
        """Weight of a loss key of §5.2, e.g. ``"e_joints_hal_past"`` -> ``e_lw_joints``.

        Raises:
            ValueError: for a key the original does not have.
        """
        field = _field_for_key(key)
        if field is None:
            raise ValueError(f"LossWeights: unknown loss key {key!r}")
        return getattr(self, field)


def _field_for_key(key: str) -> str | None:
    """Weight field for a loss key, or None."""
    for family, field in _FAMILY_FIELDS.items():
        if family in ("e_kp", "e_joints", "e_smpl"):
            if any(key == family + suffix for suffix in _VARIANT_SUFFIXES):
                return field
        elif key == family:
            return field
    return None
