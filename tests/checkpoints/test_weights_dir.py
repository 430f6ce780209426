import json

import numpy as np
import pytest
import tensorflow as tf

from src.checkpoints import weights_dir
from src.networks.config import ModelConfig
from src.networks.discriminator import PoseDiscriminator
from src.networks.hmmr import HMMR

SMALL = ModelConfig(
    phi_dim=32,
    gn_groups=8,
    ief_hidden=16,
    hallucinator_hidden=16,
    disc_joint_hidden=4,
    disc_all_hidden=8,
)


def _models(seed):
    tf.keras.utils.set_random_seed(seed)
    model = HMMR(SMALL)
    model.build()
    disc = PoseDiscriminator(joint_hidden=4, all_hidden=8)
    disc.build()
    # make every weight distinct from a fresh init (biases start at zero)
    for w in model.weights + disc.weights:
        w.assign(np.random.default_rng(seed).normal(size=w.shape).astype("float32"))
    return model, disc


def test_round_trip_gives_identical_outputs(tmp_path):
    model, disc = _models(0)
    weights_dir.save_models(tmp_path, model=model, discriminator=disc, source="test")
    other, other_disc = _models(1)
    loaded = weights_dir.load_into(tmp_path, model=other, discriminator=other_disc)
    assert set(loaded) == set(weights_dir.available_parts(tmp_path))
    phi = tf.random.normal((2, 7, SMALL.phi_dim))
    a, b = model(phi, hallucinate=True), other(phi, hallucinate=True)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    rot = tf.random.normal((3, 23, 9))
    np.testing.assert_array_equal(disc(rot).numpy(), other_disc(rot).numpy())
    assert weights_dir.read_model_config(tmp_path) == SMALL


def test_partial_folder_loads_only_what_it_has(tmp_path):
    model, _ = _models(0)
    arrays = weights_dir.part_arrays(model.ief_regressor, "ief_regressor")
    weights_dir.save_weights_dir(tmp_path, SMALL, {"ief_regressor": arrays}, source="hmr")
    other, _ = _models(1)
    before = other.temporal_encoder.weights[0].numpy().copy()
    with pytest.raises(weights_dir.WeightsDirError, match="missing parts"):
        weights_dir.load_into(tmp_path, model=other)
    loaded = weights_dir.load_into(tmp_path, model=other, require_all=False)
    assert loaded == ["ief_regressor"]
    np.testing.assert_array_equal(other.temporal_encoder.weights[0].numpy(), before)
    np.testing.assert_array_equal(
        other.ief_regressor.mean_theta.numpy(), model.ief_regressor.mean_theta.numpy()
    )


def test_shape_mismatch_names_file_and_weight(tmp_path):
    model, _ = _models(0)
    arrays = weights_dir.part_arrays(model.hallucinator, "hallucinator")
    arrays["fc1/bias"] = np.zeros(3, np.float32)
    weights_dir.save_weights_dir(tmp_path, SMALL, {"hallucinator": arrays})
    other, _ = _models(1)
    with pytest.raises(weights_dir.WeightsDirError, match=r"hallucinator\.npz.*fc1/bias"):
        weights_dir.load_into(tmp_path, model=other, only=["hallucinator"])


def test_resolve_finds_run_export_and_explains_missing(tmp_path):
    model, _ = _models(0)
    weights_dir.save_models(tmp_path / "run" / "export", model=model)
    assert weights_dir.resolve(tmp_path / "run") == tmp_path / "run" / "export"
    with pytest.raises(weights_dir.WeightsDirError, match="src.convert"):
        weights_dir.resolve(tmp_path)
    with pytest.raises(weights_dir.WeightsDirError, match="no such"):
        weights_dir.resolve(tmp_path / "nope")


def test_second_conversion_adds_parts_but_refuses_other_config(tmp_path):
    model, disc = _models(0)
    weights_dir.save_models(tmp_path, model=model)
    weights_dir.save_models(tmp_path, discriminator=disc, config=SMALL)
    manifest = json.loads((tmp_path / weights_dir.CONFIG_FILE).read_text())
    assert "discriminator" in manifest["parts"] and "temporal_encoder" in manifest["parts"]
    with pytest.raises(weights_dir.WeightsDirError, match="different model config"):
        weights_dir.save_models(tmp_path, discriminator=disc, config=ModelConfig())


def test_copy_part_adds_the_image_encoder_and_missing_resnet_error_says_how(tmp_path):
    model, _ = _models(0)
    trained = weights_dir.save_models(tmp_path / "trained", model=model)
    encoder = {"conv1/kernel": np.ones((2, 2), np.float32)}
    hmr = weights_dir.save_weights_dir(tmp_path / "hmr", SMALL, {"resnet_v2_50": encoder})
    with pytest.raises(weights_dir.WeightsDirError, match="resnet_v2_50.*src.convert --hmr_ckpt"):
        weights_dir.load_into(trained, model=model, resnet=model.hallucinator)
    assert not weights_dir.copy_part(tmp_path / "nowhere", trained, "resnet_v2_50")
    assert not weights_dir.copy_part(trained, hmr, "resnet_v2_50")
    assert weights_dir.copy_part(hmr, trained, "resnet_v2_50")
    assert "resnet_v2_50" in weights_dir.available_parts(trained)
    np.testing.assert_array_equal(
        weights_dir.read_part(trained, "resnet_v2_50")["conv1/kernel"], encoder["conv1/kernel"]
    )
    assert "temporal_encoder" in weights_dir.available_parts(trained)
