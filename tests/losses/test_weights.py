"""Loss weights keep the original flag names and defaults (docs/original_release.md §2.3)."""

from __future__ import annotations

import pytest

from src.losses.weights import LossWeights


def test_defaults_are_the_original_flag_defaults():
    w = LossWeights()
    assert (w.e_lw_kp, w.e_lw_joints, w.e_lw_smpl) == (60.0, 60.0, 60.0)
    assert (w.e_lw_const, w.e_lw_pose, w.e_lw_shape) == (1.0, 1.0, 1.0)
    assert (w.d_lw_pose, w.e_lw_hallucinate) == (1.0, 1.0)
    assert w.use_discriminator


@pytest.mark.parametrize(
    "key,field",
    [
        ("e_kp", "e_lw_kp"),
        ("e_kp_dt_past", "e_lw_kp"),
        ("e_kp_hal_future", "e_lw_kp"),
        ("e_joints_hal", "e_lw_joints"),
        ("e_joints_dt_future", "e_lw_joints"),
        ("e_smpl_hal_past", "e_lw_smpl"),
        ("e_smpl_static", "e_lw_smpl"),
        ("e_const", "e_lw_const"),
        ("e_pose", "e_lw_pose"),
        ("e_shape", "e_lw_shape"),
        ("e_hallucinate", "e_lw_hallucinate"),
        ("d_pose", "d_lw_pose"),
    ],
)
def test_every_loss_key_takes_its_family_weight(key, field):
    w = LossWeights(
        e_lw_kp=2, e_lw_joints=3, e_lw_smpl=5, e_lw_const=7, e_lw_pose=11, e_lw_shape=13,
        d_lw_pose=17, e_lw_hallucinate=19,
    )  # fmt: skip
    assert w.weight_for(key) == getattr(w, field)


@pytest.mark.parametrize("key", ["e_kp_future", "e_pose_hal", "e_3d_weight", "kp"])
def test_unknown_loss_key_is_rejected(key):
    with pytest.raises(ValueError, match="unknown loss key"):
        LossWeights().weight_for(key)


def test_negative_weight_is_rejected():
    with pytest.raises(ValueError, match="e_lw_shape"):
        LossWeights(e_lw_shape=-1)
