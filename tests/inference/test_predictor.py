"""The sliding-window predictor against direct window forwards of the model
(docs/original_release.md §7.2).

Reduced widths (phi 32, hidden 32) and a random 40-vertex body model keep it fast.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src import constants
from src.inference.predictor import Predictor
from src.networks.config import ModelConfig
from src.networks.hmmr import HMMR
from src.smpl.io import save_smpl_params
from src.smpl.layer import SMPL

PHI_DIM = 32
IMG = 16
NUM_VERTS = 40
T = constants.SEQUENCE_LENGTH
MARGIN = 6  # fov 13 of three conv layers
GOOD = T - 2 * MARGIN  # 8
ATOL = 2e-5


def random_body_model(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A small random but valid body model: 40 vertices, 24 joints, 25 regressed joints."""
    v = NUM_VERTS
    weights = rng.uniform(size=(v, 24)) ** 4
    j_reg = rng.uniform(size=(24, v))
    reg = rng.uniform(size=(constants.NUM_KPS, v))
    parents = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18,
                        19, 20, 21])  # fmt: skip
    return {
        "v_template": rng.normal(scale=0.3, size=(v, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(v, 3, constants.NUM_SHAPE)),
        "posedirs": rng.normal(scale=0.01, size=(v, 3, constants.POSE_FEATURE_DIM)),
        "J_regressor": j_reg / j_reg.sum(axis=1, keepdims=True),
        "weights": weights / weights.sum(axis=1, keepdims=True),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "f": np.array([[0, 1, 2], [2, 3, 4]]),
        "joint_regressor": reg / reg.sum(axis=1, keepdims=True),
    }


@pytest.fixture(scope="module")
def smpl(tmp_path_factory) -> SMPL:
    path = tmp_path_factory.mktemp("body") / "tiny_body.npz"
    save_smpl_params(random_body_model(np.random.default_rng(0)), path)
    return SMPL(path)


@pytest.fixture(scope="module")
def model() -> HMMR:
    keras.utils.set_random_seed(3)
    config = ModelConfig(
        phi_dim=PHI_DIM, gn_groups=8, ief_hidden=32, hallucinator_hidden=32, img_size=IMG
    )
    net = HMMR(config)
    net.build((None, None, PHI_DIM))
    # the released last-layer inits are tiny; scale every weight up so outputs vary per frame
    for weight in net.weights:
        if "kernel" in weight.path:
            weight.assign(weight * 30.0 if float(tf.math.reduce_std(weight)) < 1e-2 else weight)
    return net


@pytest.fixture(scope="module")
def pad_phi() -> np.ndarray:
    return np.random.default_rng(5).normal(size=PHI_DIM).astype(np.float32)


@pytest.fixture(scope="module")
def predictor(model, smpl, pad_phi) -> Predictor:
    return Predictor(model, smpl, batch_size=2, pad_phi=pad_phi)


def random_phi(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, PHI_DIM)).astype(np.float32)


def reference_theta(model: HMMR, phi: np.ndarray, pad: np.ndarray) -> tuple[np.ndarray, ...]:
    """Frame i from window i // g of [pad x 6, phi, pad ...], at position 6 + i % g."""
    n = len(phi)
    padded = np.concatenate([np.tile(pad, (MARGIN, 1)), phi, np.tile(pad, (T + GOOD, 1))])
    theta, theta_delta, cache = [], [], {}
    for i in range(n):
        k = i // GOOD
        if k not in cache:
            out = model(tf.constant(padded[None, k * GOOD : k * GOOD + T]), training=False)
            cache[k] = (out["theta"].numpy()[0], out["theta_delta"].numpy()[0])
        theta.append(cache[k][0][MARGIN + i % GOOD])
        theta_delta.append(cache[k][1][MARGIN + i % GOOD])
    return np.array(theta), np.array(theta_delta)


@pytest.mark.parametrize("num_frames", [1, 5, 8, 13, 20, 37])
def test_sliding_window_matches_direct_window_forward(predictor, model, pad_phi, num_frames):
    phi = random_phi(num_frames)
    out = predictor.predict_phi(phi)
    theta_ref, delta_ref = reference_theta(model, phi, pad_phi)
    assert out["theta"].shape == (num_frames, constants.THETA_DIM)
    np.testing.assert_allclose(out["theta"], theta_ref, atol=ATOL)
    np.testing.assert_allclose(out["theta_delta"], delta_ref, atol=ATOL)


def test_frames_with_full_real_context_equal_forward_on_the_raw_window(predictor, model):
    # window 1 covers real frames [g - m, g - m + T) = [2, 22) and outputs frames 8 .. 15
    phi = random_phi(30, seed=4)
    out = predictor.predict_phi(phi)
    direct = model(tf.constant(phi[None, GOOD - MARGIN : GOOD - MARGIN + T]), training=False)
    np.testing.assert_allclose(
        out["theta"][GOOD : 2 * GOOD], direct["theta"].numpy()[0, MARGIN : MARGIN + GOOD], atol=ATOL
    )


@pytest.mark.slow
def test_padding_value_changes_only_frames_near_the_ends(model, smpl, pad_phi):
    phi = random_phi(40, seed=6)
    a = Predictor(model, smpl, batch_size=2, pad_phi=pad_phi).predict_phi(phi)["theta"]
    b = Predictor(model, smpl, batch_size=2, pad_phi=-pad_phi).predict_phi(phi)["theta"]
    assert np.abs(a[:MARGIN] - b[:MARGIN]).max() > 1e-3  # windows holding padding differ
    np.testing.assert_allclose(a[GOOD : 3 * GOOD], b[GOOD : 3 * GOOD], atol=ATOL)


def test_outputs_have_the_documented_keys_and_shapes(model, smpl):
    n = 3  # fewer frames than one window
    out = Predictor(model, smpl, batch_size=2, with_verts=True).predict_phi(random_phi(n))
    expected = {
        "theta": (n, 85),
        "cams": (n, 3),
        "joints": (n, 25, 3),
        "kps": (n, 25, 2),
        "poses": (n, 24, 3, 3),
        "shapes": (n, 10),
        "verts": (n, NUM_VERTS, 3),
    }
    expected.update({f"{k}_delta": (s[0], 2, *s[1:]) for k, s in expected.items()})
    assert {k: v.shape for k, v in out.items()} == expected
    assert all(v.dtype == np.float32 for v in out.values())


def test_without_verts_the_body_outputs_equal_those_with_verts(model, smpl):
    """with_verts=False runs the joints-only body model: no verts, the same everything else."""
    phi = random_phi(11, seed=12)
    fast = Predictor(model, smpl, batch_size=2).predict_phi(phi)
    full = Predictor(model, smpl, batch_size=2, with_verts=True).predict_phi(phi)
    assert set(full) - set(fast) == {"verts", "verts_delta"}
    for key, value in fast.items():
        np.testing.assert_allclose(value, full[key], atol=1e-5, err_msg=key)
    assert np.abs(fast["joints"] - fast["joints"].mean(axis=0)).max() > 1e-3
    present = Predictor(model, smpl, batch_size=2, with_present_verts=True).predict_phi(phi)
    assert set(present) - set(fast) == {"verts"}  # the renderer's meshes, no delta meshes
    np.testing.assert_allclose(present["verts"], full["verts"], atol=1e-6)


def test_body_outputs_follow_smpl_and_deltas_use_the_present_camera(predictor, smpl):
    out = predictor.predict_phi(random_phi(11, seed=8))
    theta = out["theta"].astype(np.float64)
    body = smpl(tf.constant(theta[:, 75:]), tf.constant(theta[:, 3:75]))
    np.testing.assert_allclose(out["joints"], body["joints"].numpy(), atol=1e-4)
    np.testing.assert_allclose(out["poses"], body["rotmats"].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["cams"], theta[:, :3], atol=1e-6)
    np.testing.assert_allclose(out["shapes"], theta[:, 75:], atol=1e-6)
    s, t = theta[:, 0, None, None], theta[:, None, 1:3]
    np.testing.assert_allclose(out["kps"], s * (out["joints"][..., :2] + t), atol=1e-4)
    for d in range(2):  # past and future projected with the present camera
        delta = out["theta_delta"][:, d].astype(np.float64)
        body_d = smpl(tf.constant(delta[:, 75:]), tf.constant(delta[:, 3:75]))
        np.testing.assert_allclose(out["joints_delta"][:, d], body_d["joints"].numpy(), atol=1e-4)
        kps_d = s * (out["joints_delta"][:, d, :, :2] + t)
        np.testing.assert_allclose(out["kps_delta"][:, d], kps_d, atol=1e-4)
        np.testing.assert_allclose(out["cams_delta"][:, d], out["cams"], atol=1e-6)
    assert np.abs(out["theta_delta"][:, 0] - out["theta"]).max() > 1e-3


def test_streaming_rows_equal_whole_sequence_and_chunks_are_bounded(predictor):
    phi = random_phi(45, seed=9)
    whole = predictor.predict_phi(phi)
    chunks = list(predictor.iter_predict(row for row in phi))
    assert all(len(c["theta"]) <= predictor.frames_per_batch for c in chunks)
    assert sum(len(c["theta"]) for c in chunks) == 45
    streamed = np.concatenate([c["kps"] for c in chunks])
    np.testing.assert_allclose(streamed, whole["kps"], atol=1e-6)
    odd = list(predictor.iter_predict([phi[:7], phi[7:8], phi[8:40], phi[40:]]))
    np.testing.assert_allclose(np.concatenate([c["theta"] for c in odd]), whole["theta"], atol=1e-6)


def test_batch_size_does_not_change_predictions(model, smpl, pad_phi):
    phi = random_phi(26, seed=10)
    one = Predictor(model, smpl, batch_size=1, pad_phi=pad_phi).predict_phi(phi)
    three = Predictor(model, smpl, batch_size=3, pad_phi=pad_phi).predict_phi(phi)
    np.testing.assert_allclose(one["theta_delta"], three["theta_delta"], atol=ATOL)


def test_hal_mode_is_the_single_frame_hallucinator_and_const_repeats_its_present(model, smpl):
    phi = random_phi(10, seed=11)
    single = model.predict_single(tf.constant(phi))
    hal = Predictor(model, smpl, batch_size=2, pred_mode="hal").predict_phi(phi)
    np.testing.assert_allclose(hal["theta"], single["theta"].numpy(), atol=ATOL)
    np.testing.assert_allclose(hal["theta_delta"], single["theta_delta"].numpy(), atol=ATOL)
    const = Predictor(model, smpl, batch_size=2, pred_mode="const").predict_phi(phi)
    np.testing.assert_allclose(const["theta"], single["theta"].numpy(), atol=ATOL)
    for d in range(2):
        np.testing.assert_allclose(const["theta_delta"][:, d], const["theta"], atol=1e-6)
        np.testing.assert_allclose(const["joints_delta"][:, d], const["joints"], atol=1e-5)


def tiny_encoder() -> keras.Model:
    """(B, 16, 16, 3) -> (B, 32), with a bias so that a zero image has a non-zero phi."""
    keras.utils.set_random_seed(12)
    images = keras.Input((IMG, IMG, 3))
    x = keras.layers.Conv2D(PHI_DIM, 3, bias_initializer="random_normal")(images)
    phi = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(images, phi)


def test_images_are_encoded_and_padded_with_the_zero_image_feature(model, smpl):
    encoder = tiny_encoder()
    images = np.random.default_rng(13).integers(0, 256, size=(19, IMG, IMG, 3), dtype=np.uint8)
    predictor = Predictor(model, smpl, batch_size=2, resnet=encoder)
    zero_phi = encoder(np.zeros((1, IMG, IMG, 3), np.float32)).numpy()[0]
    np.testing.assert_allclose(predictor.pad_phi, zero_phi, atol=1e-6)
    assert np.abs(zero_phi).max() > 1e-3
    phi = encoder(images.astype(np.float32) / 255.0 * 2.0 - 1.0).numpy()
    out = predictor.predict_images(images)
    theta_ref, _ = reference_theta(model, phi, zero_phi)
    np.testing.assert_allclose(out["theta"], theta_ref, atol=ATOL)
    streamed = list(predictor.iter_predict_images(iter(images)))
    np.testing.assert_allclose(np.concatenate([c["theta"] for c in streamed]), theta_ref, atol=ATOL)


def test_bad_inputs_raise_clear_errors(predictor, model, smpl):
    with pytest.raises(ValueError, match="pred_mode"):
        Predictor(model, smpl, pred_mode="future")
    with pytest.raises(ValueError, match="T > 2"):
        Predictor(model, smpl, T=12)
    with pytest.raises(ValueError, match=f"D = {PHI_DIM}"):
        predictor.predict_phi(np.zeros((4, PHI_DIM + 1)))
    with pytest.raises(ValueError, match="at least one frame"):
        predictor.predict_phi(np.zeros((0, PHI_DIM)))
    with pytest.raises(ValueError, match="resnet"):
        predictor.predict_images(np.zeros((2, IMG, IMG, 3), np.uint8))
    with pytest.raises(ValueError, match="padding feature"):
        Predictor(model, smpl, pad_phi=np.zeros(3))


@pytest.mark.slow
def test_full_size_model_with_the_original_batch_matches_window_forward(tmp_path):
    from src.smpl.standin import write_standin_model

    keras.utils.set_random_seed(21)
    full = HMMR(ModelConfig())
    full.build((None, None, constants.PHI_DIM))
    body = SMPL(write_standin_model(tmp_path / "standin.pkl"))
    pad = np.random.default_rng(22).normal(size=constants.PHI_DIM).astype(np.float32)
    phi = np.random.default_rng(23).normal(size=(70, constants.PHI_DIM)).astype(np.float32)
    out = Predictor(full, body, batch_size=8, pad_phi=pad).predict_phi(phi)
    theta_ref, delta_ref = reference_theta(full, phi, pad)
    np.testing.assert_allclose(out["theta"], theta_ref, atol=1e-4)
    np.testing.assert_allclose(out["theta_delta"], delta_ref, atol=1e-4)
    assert out["joints"].shape == (70, constants.NUM_KPS, 3)
