"""``--precision``: a bf16 ResNet (Keras ``mixed_bfloat16``) beside a float32 HMMR and body model.

The ResNet gets slim-initialised random weights (the distribution of the converted-checkpoint
fixtures of tests/checkpoints: LeCun kernels, BN statistics away from 0 / 1), written to a weights
folder and loaded back the way every tool loads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from src import constants
from src.checkpoints import weights_dir
from src.checkpoints.tf1_names import assign_from_tf1, resnet_weight_map
from src.demo import cli as demo_cli
from src.demo.options import DemoError, DemoOptions
from src.evaluation import evaluate as ev
from src.evaluation.options import EvalOptions, parse_options
from src.evaluation.predictions import ModelPredictions
from src.export import _parser as export_parser
from src.inference import models as inference_models
from src.networks.config import ModelConfig
from src.networks.resnet_v2 import build_resnet_v2_50
from src.smpl.standin import write_standin_model
from tests.checkpoints import _tf1_fixtures as fx
from tfrecords_tools import cli, h36m, in_the_wild, penn_action

IMG = 64
NUM_IMAGES = 4
MAX_REL_L2 = 1e-2  # bf16 keeps 8 mantissa bits; measured 0.3-0.4 % at 224 px
MIN_COSINE = 0.999
CONFIG = ModelConfig(
    num_conv_layers=1, conv_kernel=1, ief_hidden=16, hallucinator_hidden=16, img_size=IMG
)


def relative_l2(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def min_cosine(got: np.ndarray, want: np.ndarray) -> float:
    dots = np.sum(got * want, axis=-1)
    return float(np.min(dots / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))))


@pytest.fixture(scope="module")
def resnet_folder(tmp_path_factory) -> Path:
    """A weights folder holding a slim-initialised ``resnet_v2_50`` part (seed 9, as
    tests/checkpoints/test_convert.py's HMR checkpoint)."""
    resnet = build_resnet_v2_50(IMG)
    rows = resnet_weight_map(resnet)
    values = fx.random_values({row.tf1_name: tuple(row.variable.shape) for row in rows}, seed=9)
    assert assign_from_tf1(rows, values) == []
    folder = tmp_path_factory.mktemp("resnet_weights")
    weights_dir.save_models(folder, resnet=resnet, config=CONFIG)
    return folder


@pytest.fixture(scope="module")
def full_folder(resnet_folder, tmp_path_factory) -> Path:
    """A weights folder with a small HMMR and :func:`resnet_folder`'s ResNet."""
    keras.utils.set_random_seed(4)
    nets = inference_models.build_networks(CONFIG)
    folder = tmp_path_factory.mktemp("weights")
    weights_dir.save_models(folder, model=nets.model)
    assert weights_dir.copy_part(resnet_folder, folder, weights_dir.RESNET_PART)
    return folder


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(-1.0, 1.0, (NUM_IMAGES, IMG, IMG, 3)).astype(np.float32)


def _compute_dtypes(model: keras.Model) -> set[str]:
    return {layer.dtype_policy.compute_dtype for layer in model.layers[1:]}  # [0]: the input


# ------------------------------------------------------------------------------------------------
# Numbers


def as_graph(model: keras.Model):
    """``model`` in inference mode as one traced function (as the demo and the export run it)."""
    return tf.function(lambda x: model(x, training=False), autograph=False)


@pytest.mark.slow  # make test-fast stays under 3 minutes; CI runs it
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "graph"])
def test_bf16_features_are_within_one_percent_of_float32(resnet_folder, images, traced):
    fp32 = inference_models.load_resnet(resnet_folder, IMG)
    bf16 = inference_models.load_resnet(resnet_folder, IMG, precision="bfloat16")
    want = fp32(images, training=False).numpy()
    got = (as_graph(bf16) if traced else bf16)(tf.constant(images))
    assert got.dtype == tf.float32  # features stay float32
    got = got.numpy()
    assert np.abs(want).max() > 0.1  # the weights give non-trivial features
    assert 0.0 < relative_l2(got, want) < MAX_REL_L2  # > 0: bf16 really ran
    assert min_cosine(got, want) > MIN_COSINE


def test_bf16_resnet_computes_in_bf16_on_the_same_float32_weights(resnet_folder):
    fp32 = inference_models.load_resnet(resnet_folder, IMG)
    bf16 = inference_models.load_resnet(resnet_folder, IMG, precision="bfloat16")
    assert _compute_dtypes(bf16) == {"bfloat16", "float32"}  # float32: the last pool only
    assert bf16.get_layer("pool5").dtype_policy.compute_dtype == "float32"
    assert bf16.get_layer("block3_unit_2_conv2").dtype_policy.compute_dtype == "bfloat16"
    assert len(fp32.weights) == len(bf16.weights) > 0
    for a, b in zip(fp32.weights, bf16.weights, strict=True):
        assert a.path == b.path and b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_float32_default_is_bit_identical_to_the_plain_resnet(resnet_folder, images):
    default = inference_models.load_resnet(resnet_folder, IMG)
    plain = build_resnet_v2_50(IMG)  # the path before --precision existed
    weights_dir.load_into(resnet_folder, resnet=plain, only=[weights_dir.RESNET_PART])
    assert _compute_dtypes(default) == {"float32"}
    np.testing.assert_array_equal(
        default(images, training=False).numpy(), plain(images, training=False).numpy()
    )


# ------------------------------------------------------------------------------------------------
# Only the ResNet changes


@pytest.fixture(scope="module")
def body_path(tmp_path_factory) -> Path:
    return write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", 300)


def test_hmmr_and_body_model_stay_float32_beside_a_bf16_resnet(body_path):
    models = inference_models.build_inference_models(
        None, body_path, CONFIG, seed=5, precision="bfloat16"
    )
    assert models.precision == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # no global policy leaked
    assert models.resnet.get_layer("conv1").dtype_policy.compute_dtype == "bfloat16"
    hmmr_layers = models.model._flatten_layers(include_self=True)
    assert {layer.dtype_policy.name for layer in hmmr_layers} == {"float32"}
    assert {w.dtype for w in models.model.weights} == {"float32"}
    phi = np.random.default_rng(0).normal(size=(1, 3, CONFIG.phi_dim)).astype(np.float32)
    out = models.model(phi, training=False)
    assert {str(t.dtype.name) for t in tf.nest.flatten(out)} == {"float32"}
    theta = out["theta"][0]  # (3, 85)
    body = models.smpl(theta[:, constants.SHAPE_SLICE], theta[:, constants.POSE_SLICE])
    assert models.smpl.dtype_policy.name == "float32"
    assert {str(t.dtype.name) for t in tf.nest.flatten(body)} == {"float32"}


def test_untrained_bf16_models_draw_the_float32_weights(body_path):
    fp32 = inference_models.build_inference_models(None, body_path, CONFIG, seed=5)
    bf16 = inference_models.build_inference_models(
        None, body_path, CONFIG, seed=5, precision="bfloat16"
    )
    for name in ("model", "resnet"):
        for a, b in zip(getattr(fp32, name).weights, getattr(bf16, name).weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unknown_precision_is_refused_before_building(body_path):
    with pytest.raises(ValueError, match=r"precision must be one of .*'float16'"):
        inference_models.build_inference_models(None, body_path, CONFIG, precision="float16")
    with pytest.raises(ValueError, match="--precision"):
        inference_models.build_resnet(IMG, "fp8")


def test_the_precision_table_covers_every_choice():
    assert tuple(inference_models.PRECISION_POLICIES) == constants.PRECISIONS
    assert constants.PRECISIONS[0] == constants.DEFAULT_PRECISION == "float32"


# ------------------------------------------------------------------------------------------------
# The command lines


def _bad_choice(parse, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--precision" in err and "invalid choice: 'half'" in err, err
    return err


def test_demo_precision_flag(capsys):
    parser = demo_cli.build_parser()
    args = parser.parse_args(["--vid_path", "v.mp4"])
    assert demo_cli.options_from_args(args).precision == "float32"
    args = parser.parse_args(["--vid_path", "v.mp4", "--precision", "bfloat16"])
    assert demo_cli.options_from_args(args).precision == "bfloat16"
    _bad_choice(parser.parse_args, ["--vid_path", "v.mp4", "--precision", "half"], capsys)
    with pytest.raises(DemoError, match="--precision must be one of"):
        DemoOptions(precision="half")


def test_evaluation_precision_flag(capsys):
    base = ["--load_path", "w", "--tf_dir", "t"]
    assert parse_options(base).precision == "float32"
    assert parse_options([*base, "--precision", "bfloat16"]).precision == "bfloat16"
    err = _bad_choice(parse_options, [*base, "--precision", "half"], capsys)
    assert err.startswith("hmmr-evaluate: error:")
    with pytest.raises(ValueError, match="precision must be one of"):
        EvalOptions(load_path="w", tf_dir="t", precision="half")


def test_bf16_evaluation_is_cached_apart_and_float32_keeps_its_fingerprint():
    fp32 = EvalOptions(load_path="w", tf_dir="t")
    bf16 = EvalOptions(load_path="w", tf_dir="t", precision="bfloat16")
    assert ev.cache_settings(fp32) == {"T": constants.SEQUENCE_LENGTH, "input": "images"}
    assert ev.cache_settings(bf16) == {**ev.cache_settings(fp32), "precision": "bfloat16"}


def test_evaluation_encodes_the_crops_with_a_bf16_resnet(full_folder):
    predictions = ModelPredictions(
        full_folder, CONFIG, None, T=20, batch_size=1, use_phi=False, precision="bfloat16"
    )
    model, resnet = predictions._networks
    assert resnet.get_layer("conv1").dtype_policy.compute_dtype == "bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}


def test_export_precision_flag(capsys):
    base = ["--load_path", "w", "--out", "o"]
    assert export_parser().parse_args(base).precision == "float32"
    assert export_parser().parse_args([*base, "--precision", "bfloat16"]).precision == "bfloat16"
    _bad_choice(export_parser().parse_args, [*base, "--precision", "half"], capsys)


@pytest.mark.parametrize("converter", [h36m, in_the_wild, penn_action])
def test_converter_precision_flag_reaches_the_encoder_spec(converter, capsys):
    base = ["--data_directory", "d", "--output_directory", "o", "--encoder_factory", "m:f"]
    parser = converter.build_parser()
    assert parser.parse_args(base).precision == "float32"
    args = parser.parse_args([*base, "--precision", "bfloat16"])
    assert args.precision == "bfloat16"
    _bad_choice(parser.parse_args, [*base, "--precision", "half"], capsys)


def test_converter_extractor_loads_a_bf16_resnet(resnet_folder, images):
    args = argparse.Namespace(
        num_copy=1, trans_max=0, scale_max=0.0, delta_trans_max=0, delta_scale_max=0.0,
        pretrained_model_path=str(resnet_folder), encoder_factory=None, phi_batch_size=2,
        img_size=IMG, precision="bfloat16", precomputed_phi=True, save_img=False,
    )  # fmt: skip
    settings = cli.train_settings(args)
    assert settings.encoder.precision == "bfloat16"
    extractor = settings.extractor()
    assert extractor.resnet_model.get_layer("conv1").dtype_policy.compute_dtype == "bfloat16"
    fp32 = inference_models.load_resnet(resnet_folder, IMG)
    want = fp32(images, training=False).numpy()
    got = extractor(images)
    assert got.dtype == np.float32
    assert relative_l2(got, want) < MAX_REL_L2


# ------------------------------------------------------------------------------------------------
# The bf16 SavedModel


@pytest.mark.slow
def test_bf16_saved_model_matches_the_keras_bf16_models(full_folder, body_path, tmp_path):
    from src.export import run as export_cli

    folder = full_folder
    out = tmp_path / "saved" / "1"
    argv = ["--load_path", str(folder), "--out", str(out), "--smpl_model_path", str(body_path)]
    assert export_cli([*argv, "--precision", "bfloat16"]) == 0

    keras_models = inference_models.build_inference_models(folder, body_path, precision="bfloat16")
    # as a graph, as the SavedModel runs it: eager bf16 rounds at other points (no fused ops)
    keras_resnet = as_graph(keras_models.resnet)
    loaded = tf.saved_model.load(str(out))
    rng = np.random.default_rng(8)
    crops = rng.uniform(-1.0, 1.0, (2, 3, IMG, IMG, 3)).astype(np.float32)
    phi = loaded.signatures["encode"](images=tf.constant(crops[0]))["phi"]
    assert phi.dtype == tf.float32
    want_phi = keras_resnet(tf.constant(crops[0])).numpy()
    np.testing.assert_allclose(phi.numpy(), want_phi, atol=1e-5, rtol=0)

    got = loaded.signatures["serving_default"](images=tf.constant(crops))
    flat_phi = keras_resnet(tf.constant(crops.reshape(-1, IMG, IMG, 3)))
    want = keras_models.model(tf.reshape(flat_phi, (2, 3, -1)), training=False)
    assert got["theta"].dtype == tf.float32
    np.testing.assert_allclose(got["theta"].numpy(), want["theta"].numpy(), atol=1e-5, rtol=0)
