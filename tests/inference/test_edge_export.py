"""Edge export (LiteRT and ONNX): each file, run in its runtime, gives the Keras model's outputs.

The predictor tests use a tiny HMMR (phi 64 wide, one temporal block, 32-wide regressors) and
run in seconds; the encoder tests build the real ResNet-50 v2 at 32 px, as the SavedModel export
tests do, and are marked slow. Small last-layer initialisations are scaled up (as in
``test_export``) so that outputs vary with the input. References are the Keras models called
directly, not :func:`src.inference.edge_export.check_export`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from src import constants
from src.checkpoints.weights_dir import save_models
from src.export import run as export_cli
from src.inference import edge_export as ee
from src.inference.models import build_networks, build_resnet
from tests.inference.test_export import CONFIG, IMG, _scale_up_small_kernels

pytestmark = pytest.mark.slow  # LiteRT/ONNX conversions: about 15 s (CI runs them)

TINY = dataclasses.replace(CONFIG, phi_dim=64, gn_groups=8, conv_kernel=3)
WINDOW = 8
BATCH = 2
FLOAT32_TOL = 1e-4  # max abs difference / max abs Keras output
# loose bounds: a quantised export that computes the wrong thing lands far above them
QUANTIZED_TOL = {ee.QUANTIZE_FLOAT16: 1e-2, ee.QUANTIZE_DYNAMIC: 0.1}
ENCODER_QUANTIZED_TOL = {ee.QUANTIZE_FLOAT16: 1e-2, ee.QUANTIZE_DYNAMIC: 0.25}
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="tf2onnx and onnxruntime not installed")


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.fixture(scope="module")
def model():
    nets = build_networks(TINY)
    _scale_up_small_kernels(nets.model)
    return nets.model


@pytest.fixture(scope="module")
def phi() -> np.ndarray:
    return np.abs(np.random.default_rng(5).normal(size=(1, WINDOW, TINY.phi_dim)), dtype=np.float32)


@pytest.fixture(scope="module")
def predictor_reference(model, phi) -> dict[str, np.ndarray]:
    out = model(phi, training=False)
    return {"theta": out["theta"].numpy(), "theta_delta": out["theta_delta"].numpy()}


@pytest.fixture(scope="module")
def predictor_files(model, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(format, quantize) -> the predictor's file, written without the built-in check."""
    out = tmp_path_factory.mktemp("edge_predictor")
    cases = [(ee.FORMAT_LITERT, q) for q in ee.QUANTIZATIONS]
    if HAS_ONNX:
        cases.append((ee.FORMAT_ONNX, ee.QUANTIZE_NONE))
    files = {}
    for fmt, quantize in cases:
        (result,) = ee.export_edge(
            out, model, None, fmt, quantize, [ee.PART_PREDICTOR], window=WINDOW, check=False
        )
        assert result.check is None
        files[fmt, quantize] = result.path
    return files


def _assert_predictor_shapes(got: dict[str, np.ndarray]) -> None:
    num_dt = len(TINY.delta_t_values)
    assert set(got) == {"theta", "theta_delta"}
    assert got["theta"].shape == (1, WINDOW, constants.THETA_DIM)
    assert got["theta_delta"].shape == (1, WINDOW, num_dt, constants.THETA_DIM)


def test_litert_float32_predictor_matches_keras(predictor_files, phi, predictor_reference):
    got = ee.litert_runner(predictor_files[ee.FORMAT_LITERT, ee.QUANTIZE_NONE])(phi)
    _assert_predictor_shapes(got)
    for key, want in predictor_reference.items():
        assert _relative_error(got[key], want) <= FLOAT32_TOL, key


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_litert_predictor_input_is_fixed_and_named(predictor_files):
    path = predictor_files[ee.FORMAT_LITERT, ee.QUANTIZE_NONE]
    interpreter = tf.lite.Interpreter(model_path=str(path))
    signature = interpreter.get_signature_list()[ee.SIGNATURE_KEY]
    assert signature["inputs"] == ["phi"]
    assert sorted(signature["outputs"]) == ["theta", "theta_delta"]
    (detail,) = interpreter.get_input_details()
    assert list(detail["shape"]) == [1, WINDOW, TINY.phi_dim]
    assert detail["dtype"] == np.float32


@pytest.mark.parametrize("quantize", [ee.QUANTIZE_FLOAT16, ee.QUANTIZE_DYNAMIC])
def test_litert_quantized_predictor_is_smaller_and_close(
    predictor_files, phi, predictor_reference, quantize
):
    path = predictor_files[ee.FORMAT_LITERT, quantize]
    got = ee.litert_runner(path)(phi)
    _assert_predictor_shapes(got)
    for key, want in predictor_reference.items():
        assert _relative_error(got[key], want) <= QUANTIZED_TOL[quantize], key
    float32_size = predictor_files[ee.FORMAT_LITERT, ee.QUANTIZE_NONE].stat().st_size
    assert path.stat().st_size < 0.7 * float32_size


def test_predictor_outputs_vary_with_the_input(predictor_files, phi, model):
    # guards the equality tests: a file that ignored its input would not pass
    run = ee.litert_runner(predictor_files[ee.FORMAT_LITERT, ee.QUANTIZE_NONE])
    theta = run(phi)["theta"]
    other = run(np.ascontiguousarray(phi[:, ::-1]))["theta"]
    assert np.abs(theta - other).max() > 1e-2
    assert np.abs(theta[0, 0] - theta[0, -1]).max() > 1e-2


@needs_onnx
def test_onnx_predictor_matches_keras(predictor_files, phi, predictor_reference):
    got = ee.onnx_runner(predictor_files[ee.FORMAT_ONNX, ee.QUANTIZE_NONE])(phi)
    _assert_predictor_shapes(got)
    for key, want in predictor_reference.items():
        assert _relative_error(got[key], want) <= FLOAT32_TOL, key


def test_check_export_reports_error_scale_and_latency(model):
    edge = ee.predictor_model(model, WINDOW)
    check = ee.check_export(edge, ee.litert_runner(ee.to_litert(edge)), latency_runs=2)
    assert set(check.max_abs_error) == set(check.scale) == {"theta", "theta_delta"}
    assert check.relative_error() <= FLOAT32_TOL
    assert check.latency_ms is not None and check.latency_ms > 0


def test_check_export_rejects_wrong_outputs(model):
    edge = ee.predictor_model(model, WINDOW)
    with pytest.raises(ValueError, match="exported outputs"):
        ee.check_export(edge, lambda x: {"theta": np.zeros((1, WINDOW, 85))}, latency_runs=0)


def test_file_names_say_part_and_quantization():
    assert ee.edge_file_name("predictor", "litert") == "predictor_float32.tflite"
    assert ee.edge_file_name("encoder", "litert", "dynamic") == "encoder_int8.tflite"
    assert ee.edge_file_name("predictor", "litert", "float16") == "predictor_float16.tflite"
    assert ee.edge_file_name("encoder", "onnx") == "encoder.onnx"


def test_onnx_refuses_quantization(model, tmp_path):
    with pytest.raises(ValueError, match="litert only"):
        ee.export_edge(tmp_path, model, None, ee.FORMAT_ONNX, ee.QUANTIZE_DYNAMIC)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def predictor_weights(model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("edge_weights") / "weights"
    save_models(folder, model=model)
    return folder


def test_cli_litert_writes_the_predictor_and_prints_its_check(
    predictor_weights, phi, predictor_reference, tmp_path, capsys
):
    out = tmp_path / "edge"
    args = ["--load_path", str(predictor_weights), "--out", str(out), "--format", "litert"]
    status = export_cli([*args, "--parts", "predictor", "--window", str(WINDOW)])
    printed = capsys.readouterr().out
    assert status == 0
    assert [p.name for p in out.iterdir()] == ["predictor_float32.tflite"]
    assert "vs Keras max abs diff" in printed and "CPU latency" in printed
    got = ee.litert_runner(out / "predictor_float32.tflite")(phi)
    for key, want in predictor_reference.items():  # the weights went through the folder
        assert _relative_error(got[key], want) <= FLOAT32_TOL, key


@pytest.mark.parametrize(
    "extra",
    [
        ["--format", "onnx", "--quantize", "float16"],
        ["--quantize", "dynamic"],  # savedmodel
        ["--format", "litert", "--with_verts"],
        ["--format", "litert", "--precision", "bfloat16"],
    ],
)
def test_cli_rejects_options_of_other_formats_with_one_line(
    predictor_weights, tmp_path, capsys, extra
):
    args = ["--load_path", str(predictor_weights), "--out", str(tmp_path / "o"), *extra]
    status = export_cli(args)
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("hmmr-export: error:") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_cli_encoder_needs_the_resnet_in_the_folder(predictor_weights, tmp_path, capsys):
    args = ["--load_path", str(predictor_weights), "--out", str(tmp_path / "o")]
    status = export_cli([*args, "--format", "litert", "--parts", "encoder"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("hmmr-export: error:") and "resnet" in err.lower()


# ------------------------------------------------------------------------------------------------
# Encoder (the real ResNet-50 v2, at 32 px)


@pytest.fixture(scope="module")
def resnet():
    import keras

    keras.utils.set_random_seed(3)
    return build_resnet(IMG)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(9).uniform(-1, 1, (BATCH, IMG, IMG, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def encoder_files(model, resnet, tmp_path_factory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("edge_encoder")
    cases = [(ee.FORMAT_LITERT, q) for q in ee.QUANTIZATIONS]
    if HAS_ONNX:
        cases.append((ee.FORMAT_ONNX, ee.QUANTIZE_NONE))
    files = {}
    for fmt, quantize in cases:
        (result,) = ee.export_edge(
            out, model, resnet, fmt, quantize, [ee.PART_ENCODER], batch=BATCH, check=False
        )
        files[fmt, quantize] = result.path
    return files


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ee.QUANTIZATIONS)
def test_litert_encoder_matches_keras(encoder_files, resnet, images, quantize):
    want = resnet(images, training=False).numpy()
    got = ee.litert_runner(encoder_files[ee.FORMAT_LITERT, quantize])(images)
    assert set(got) == {"phi"} and got["phi"].shape == (BATCH, constants.PHI_DIM)
    tol = FLOAT32_TOL if quantize == ee.QUANTIZE_NONE else ENCODER_QUANTIZED_TOL[quantize]
    assert _relative_error(got["phi"], want) <= tol
    assert np.abs(want[0] - want[1]).max() > 1e-3 * np.abs(want).max()  # inputs matter


@pytest.mark.slow
@needs_onnx
def test_onnx_encoder_matches_keras(encoder_files, resnet, images):
    want = resnet(images, training=False).numpy()
    got = ee.onnx_runner(encoder_files[ee.FORMAT_ONNX, ee.QUANTIZE_NONE])(images)
    assert set(got) == {"phi"} and got["phi"].shape == (BATCH, constants.PHI_DIM)
    assert _relative_error(got["phi"], want) <= FLOAT32_TOL
