"""ModelConfig: the original's defaults (§2.2, §3), round trip, validation."""

import json

import pytest

from src.networks.config import ModelConfig


def test_defaults_are_the_original_release():
    cfg = ModelConfig()
    assert (cfg.phi_dim, cfg.num_conv_layers, cfg.gn_groups, cfg.gn_epsilon) == (2048, 3, 32, 1e-6)
    assert (cfg.conv_kernel, cfg.ief_hidden, cfg.num_ief_stages, cfg.dropout_rate) == (
        3, 1024, 3, 0.5)  # fmt: skip
    assert cfg.delta_t_values == (-5, 5) and cfg.hallucinator_hidden == 2048
    assert (cfg.disc_joint_hidden, cfg.disc_all_hidden, cfg.img_size) == (32, 1024, 224)
    assert cfg.receptive_field == 13  # 4 n + 1 frames


def test_round_trips_through_json():
    cfg = ModelConfig(phi_dim=64, gn_groups=8, delta_t_values=(5, -5, 10))
    assert cfg.delta_t_values == (-5, 5, 10)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"phi_dim": 30, "gn_groups": 8}, "divide"),
        ({"delta_t_values": (0, 5)}, "non-zero"),
        ({"delta_t_values": (5, 5)}, "distinct"),
        ({"dropout_rate": 1.0}, "dropout"),
    ],
)
def test_rejects_inconsistent_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


def test_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="phi_dims"):
        ModelConfig.from_dict({"phi_dims": 3})
