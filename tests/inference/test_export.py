"""SavedModel export: loaded the way TF Serving loads it, outputs equal the Keras model's.

The export path builds the real ResNet-50 v2 (at 32 px to keep it fast) and an HMMR with
reduced widths (one temporal block of kernel 1, 32-wide regressors); phi stays 2048 because the
ResNet gives 2048. Small last-layer initialisations are scaled up so that outputs vary with the
input (otherwise an export that ignored its input could pass).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from src import constants
from src.checkpoints.weights_dir import save_models
from src.export import run as export_cli
from src.inference import export as ex
from src.inference.models import InferenceModels, build_inference_models
from src.networks.config import ModelConfig
from src.networks.outputs import theta_to_body
from src.smpl.standin import write_standin_model
from tests.timeouts import scaled

# every test here shares one exported SavedModel (about 15 s to build)
pytestmark = pytest.mark.slow

IMG = 32
NUM_VERTS = 300
B, T, N = 2, 3, 2
TOL = 1e-5
CONFIG = ModelConfig(
    num_conv_layers=1, conv_kernel=1, ief_hidden=32, hallucinator_hidden=32, img_size=IMG
)
PRESENT_KEYS = ("theta", "cams", "poses", "shapes", "joints", "kps", "verts")
OUTPUT_KEYS = frozenset(PRESENT_KEYS + tuple(f"{k}_delta" for k in PRESENT_KEYS))
SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")


def _scale_up_small_kernels(model) -> None:
    for weight in model.weights:
        if "kernel" in weight.path and float(tf.math.reduce_std(weight)) < 1e-2:
            weight.assign(weight * 30.0)


@pytest.fixture(scope="module")
def body_path(tmp_path_factory) -> Path:
    return write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", NUM_VERTS)


@pytest.fixture(scope="module")
def models(body_path) -> InferenceModels:
    built = build_inference_models(None, body_path, CONFIG, seed=7)
    _scale_up_small_kernels(built.model)
    return built


@pytest.fixture(scope="module")
def export_dir(models, body_path, tmp_path_factory) -> Path:
    """Weights folder -> `python -m src.export` -> SavedModel (checks weight loading too)."""
    root = tmp_path_factory.mktemp("export")
    save_models(root / "weights", model=models.model, resnet=models.resnet)
    out = root / "saved" / "1"
    args = ["--load_path", str(root / "weights"), "--out", str(out)]
    assert export_cli([*args, "--smpl_model_path", str(body_path), "--with_verts"]) == 0
    return out


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        ex.SIGNATURE_IMAGES: rng.uniform(-1, 1, (B, T, IMG, IMG, 3)).astype(np.float32),
        ex.SIGNATURE_PHI: rng.normal(size=(B, T, constants.PHI_DIM)).astype(np.float32),
        ex.SIGNATURE_HALLUCINATE: rng.uniform(-1, 1, (N, IMG, IMG, 3)).astype(np.float32),
        ex.SIGNATURE_ENCODE: rng.uniform(-1, 1, (N, IMG, IMG, 3)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def session_run(export_dir, inputs):
    """Every signature run as TF Serving does: TF1 loader, session, tensor names from the
    SignatureDef."""
    results, signature_defs = {}, {}
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, [ex.SERVE_TAG], str(export_dir))
        for name in ex.SIGNATURES:
            sig = meta.signature_def[name]
            signature_defs[name] = sig
            ((key, tensor_info),) = sig.inputs.items()
            fetches = {k: v.name for k, v in sig.outputs.items()}
            results[name] = sess.run(fetches, {tensor_info.name: inputs[name]})
    return results, signature_defs


def _reference_body(models, theta: np.ndarray, theta_delta: np.ndarray) -> dict[str, np.ndarray]:
    """The Keras model's outputs, computed eagerly from theta."""
    present = theta_to_body(models.smpl, theta)
    cam = np.broadcast_to(present["cam"].numpy()[..., None, :], theta_delta.shape[:-1] + (3,))
    delta = theta_to_body(models.smpl, theta_delta, cam=cam)
    names = {"cam": "cams", "rotmats": "poses", "shape": "shapes", "joints": "joints",
             "kp2d": "kps", "vertices": "verts"}  # fmt: skip
    out = {"theta": np.asarray(theta), "theta_delta": np.asarray(theta_delta)}
    for src, dst in names.items():
        out[dst] = present[src].numpy()
        out[f"{dst}_delta"] = delta[src].numpy()
    return out


@pytest.fixture(scope="module")
def keras_reference(models, inputs) -> dict[str, dict[str, np.ndarray]]:
    resnet, model = models.resnet, models.model
    images = inputs[ex.SIGNATURE_IMAGES]
    phi_img = resnet(images.reshape(-1, IMG, IMG, 3), training=False).numpy()
    tube = model(phi_img.reshape(B, T, -1), training=False)
    direct = model(inputs[ex.SIGNATURE_PHI], training=False)
    single = model.predict_single(resnet(inputs[ex.SIGNATURE_HALLUCINATE], training=False))
    return {
        ex.SIGNATURE_IMAGES: _reference_body(models, tube["theta"], tube["theta_delta"]),
        ex.SIGNATURE_PHI: _reference_body(models, direct["theta"], direct["theta_delta"]),
        ex.SIGNATURE_HALLUCINATE: _reference_body(models, single["theta"], single["theta_delta"]),
        ex.SIGNATURE_ENCODE: {"phi": resnet(inputs[ex.SIGNATURE_ENCODE], training=False).numpy()},
    }


def test_signature_defs_have_named_inputs_and_outputs(session_run):
    _, sigs = session_run
    s, d = IMG, constants.PHI_DIM
    expected_inputs = {
        ex.SIGNATURE_IMAGES: ("images", [-1, -1, s, s, 3]),
        ex.SIGNATURE_PHI: ("phi", [-1, -1, d]),
        ex.SIGNATURE_HALLUCINATE: ("images", [-1, s, s, 3]),
        ex.SIGNATURE_ENCODE: ("images", [-1, s, s, 3]),
    }
    for name, (key, shape) in expected_inputs.items():
        info = sigs[name].inputs[key]
        assert [dim.size for dim in info.tensor_shape.dim] == shape
        assert info.dtype == tf.float32.as_datatype_enum
    for name in (ex.SIGNATURE_IMAGES, ex.SIGNATURE_PHI, ex.SIGNATURE_HALLUCINATE):
        assert set(sigs[name].outputs) == OUTPUT_KEYS
    assert set(sigs[ex.SIGNATURE_ENCODE].outputs) == {"phi"}


@pytest.mark.parametrize("name", ex.SIGNATURES)
def test_session_mode_outputs_equal_keras_model(session_run, keras_reference, name):
    results, _ = session_run
    reference = keras_reference[name]
    assert set(results[name]) == set(reference)
    for key, value in reference.items():
        assert results[name][key].shape == value.shape, key
        np.testing.assert_allclose(results[name][key], value, rtol=TOL, atol=TOL, err_msg=key)


def test_outputs_vary_with_the_input(session_run):
    # guards the equality test: frames with different crops get different bodies
    theta = session_run[0][ex.SIGNATURE_IMAGES]["theta"]
    assert np.abs(theta[0, 0] - theta[1, 1]).max() > 1e-3


def _rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3), float64 closed form."""
    angle = np.linalg.norm(axis_angle, axis=-1)[..., None, None]
    k = axis_angle / np.maximum(np.linalg.norm(axis_angle, axis=-1, keepdims=True), 1e-12)
    x, y, z = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(x)
    rows = [[zero, -z, y], [z, zero, -x], [-y, x, zero]]
    skew = np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


@pytest.mark.parametrize("name", [ex.SIGNATURE_IMAGES, ex.SIGNATURE_HALLUCINATE])
def test_outputs_follow_theta_in_closed_form(session_run, name):
    out = session_run[0][name]
    theta = out["theta"].astype(np.float64)
    np.testing.assert_allclose(out["cams"], theta[..., constants.CAM_SLICE], atol=1e-6)
    np.testing.assert_allclose(out["shapes"], theta[..., constants.SHAPE_SLICE], atol=1e-6)
    pose = theta[..., constants.POSE_SLICE].reshape(theta.shape[:-1] + (24, 3))
    np.testing.assert_allclose(out["poses"], _rodrigues(pose), atol=1e-4)
    cams = out["cams"][..., None, :].astype(np.float64)
    kps = cams[..., :1] * (out["joints"][..., :2] + cams[..., 1:])
    np.testing.assert_allclose(out["kps"], kps, rtol=1e-5, atol=1e-5)
    # past/future bodies are projected with the present camera
    num_dt = len(CONFIG.delta_t_values)
    np.testing.assert_array_equal(
        out["cams_delta"], np.repeat(out["cams"][..., None, :], num_dt, axis=-2)
    )
    kps_d = cams[..., None, :1, :1] * (out["joints_delta"][..., :2] + cams[..., None, :1, 1:])
    np.testing.assert_allclose(out["kps_delta"], kps_d, rtol=1e-5, atol=1e-5)


def _literal(array: np.ndarray) -> str:
    return repr(np.round(array.astype(np.float64), 6).tolist())


@pytest.mark.skipif(not SAVED_MODEL_CLI.exists(), reason="saved_model_cli not installed")
def test_saved_model_cli_run_matches_keras_model(export_dir, models, tmp_path):
    images = np.random.default_rng(3).uniform(-1, 1, (1, 2, IMG, IMG, 3)).round(6)
    images = images.astype(np.float32)
    out_dir = tmp_path / "cli_out"
    cmd = [
        str(SAVED_MODEL_CLI), "run", "--dir", str(export_dir), "--tag_set", ex.SERVE_TAG,
        "--signature_def", ex.SIGNATURE_IMAGES, "--input_exprs", f"images={_literal(images)}",
        "--outdir", str(out_dir),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(300))
    assert proc.returncode == 0, proc.stderr[-2000:]
    phi = models.resnet(images.reshape(-1, IMG, IMG, 3), training=False).numpy()
    out = models.model(phi.reshape(1, 2, -1), training=False)
    reference = _reference_body(models, out["theta"], out["theta_delta"])
    assert {p.stem for p in out_dir.glob("*.npy")} == set(reference)
    for key, value in reference.items():
        np.testing.assert_allclose(np.load(out_dir / f"{key}.npy"), value, rtol=TOL, atol=TOL)


def test_cli_missing_weights_folder_fails_with_one_line(tmp_path, capsys):
    status = export_cli(["--load_path", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("hmmr-export: error:") and str(tmp_path / "nope") in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_export_refuses_to_replace_a_folder_that_is_not_a_saved_model(models, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        ex.export_saved_model(out, models.model, models.resnet, models.smpl)
    assert (out / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["busy"]  # no temp folder left


def test_reexport_replaces_a_previous_export(models, tmp_path):
    out = tmp_path / "again"
    out.mkdir()
    (out / "saved_model.pb").write_bytes(b"previous export")
    (out / "stale.txt").write_text("old")
    ex.export_saved_model(out, models.model, models.resnet, models.smpl)
    assert (out / "saved_model.pb").stat().st_size > 1000 and not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


def test_the_export_holds_no_xla_kernel(export_dir):
    # the body model's skinning runs as an XLA kernel in this process; TF Serving runs no XLA:CPU
    # JIT by default, so the exported graph must use plain ops (lbs.portable)
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    nodes = [n for f in graph.library.function for n in f.node_def] + list(graph.node)
    compiled = [f.signature.name for f in graph.library.function if "_XlaMustCompile" in f.attr]
    assert not compiled
    assert not [n.name for n in nodes if n.op == "XlaLaunch" or "_XlaMustCompile" in n.attr]
    assert any("Mul" == n.op for n in nodes)  # the walk above saw the graph's functions
