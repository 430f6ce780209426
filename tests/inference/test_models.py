"""The one model loader: networks built from a config, loaded from a weights folder, the image
encoder alone, and the untrained fallback of the demo and the export."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from src.checkpoints.weights_dir import WeightsDirError, save_models
from src.inference import models as inference_models
from src.networks.config import ModelConfig

IMG = 32
CONFIG = ModelConfig(
    num_conv_layers=1, conv_kernel=1, ief_hidden=16, hallucinator_hidden=16, disc_all_hidden=16,
    img_size=IMG,
)  # fmt: skip


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.weights]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A weights folder with every part, written from seeded networks."""
    keras.utils.set_random_seed(1)
    nets = inference_models.build_networks(CONFIG, with_resnet=True, with_discriminator=True)
    folder = tmp_path_factory.mktemp("weights")
    save_models(
        folder, model=nets.model, discriminator=nets.discriminator, resnet=nets.resnet,
        config=CONFIG,
    )  # fmt: skip
    return folder, nets


def test_load_networks_gives_back_the_saved_weights(saved):
    folder, original = saved
    keras.utils.set_random_seed(2)  # fresh initial values differ from the saved ones
    loaded = inference_models.load_networks(folder, with_resnet=True, with_discriminator=True)
    assert loaded.config == CONFIG  # read from model_config.json
    for name in ("model", "resnet", "discriminator"):
        want, got = _weights(getattr(original, name)), _weights(getattr(loaded, name))
        assert len(want) == len(got) > 0
        for a, b in zip(want, got, strict=True):
            np.testing.assert_array_equal(a, b)
    phi = np.random.default_rng(0).normal(size=(1, 4, CONFIG.phi_dim)).astype(np.float32)
    np.testing.assert_array_equal(
        original.model(phi, training=False)["theta"], loaded.model(phi, training=False)["theta"]
    )


def test_load_networks_builds_only_what_is_asked(saved):
    folder, _ = saved
    loaded = inference_models.load_networks(folder)
    assert loaded.resnet is None and loaded.discriminator is None


def test_load_networks_names_the_missing_parts(saved, tmp_path):
    _, nets = saved
    save_models(tmp_path, model=nets.model, config=CONFIG)  # no discriminator, no ResNet
    with pytest.raises(WeightsDirError, match=r"missing parts \['discriminator'\]"):
        inference_models.load_networks(tmp_path, with_discriminator=True)


def test_load_resnet_loads_the_image_encoder_alone(saved):
    folder, original = saved
    resnet = inference_models.load_resnet(folder, IMG)
    for a, b in zip(_weights(original.resnet), _weights(resnet), strict=True):
        np.testing.assert_array_equal(a, b)


def test_build_networks_rejects_a_phi_dim_the_resnet_does_not_give():
    config = ModelConfig(num_conv_layers=1, conv_kernel=1, phi_dim=64, img_size=IMG)
    with pytest.raises(ValueError, match="phi_dim=64 does not match"):
        inference_models.build_networks(config, with_resnet=True)


def test_build_without_weights_when_required_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(inference_models, "DEFAULT_WEIGHTS_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="--load_path"):
        inference_models.build_inference_models(None, allow_untrained=False)
