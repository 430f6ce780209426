"""SMPL(..., joints_only=True): the joints without the mesh, against the full layer and an
independent float64 NumPy body model (tests/smpl/test_layer.py's np_body_model)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.smpl import SMPL, load_smpl_params, save_smpl_params

from .test_layer import np_body_model

JOINT_KEYS = ("joints", "smpl_joints", "rotmats")


def random_inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Betas ~ N(0, 1.5^2); every joint rotated by a random axis and an angle up to pi (the
    first body at 0, pi and just under pi)."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(n, 24, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0.0, np.pi, size=(n, 24, 1))
    angle[0, :3] = [[np.pi], [0.0], [np.pi - 1e-6]]
    return rng.normal(scale=1.5, size=(n, 10)), (axis * angle).reshape(n, 72)


def _variant(tmp_path, base_path, name: str, **changes) -> str:
    """``base_path``'s model with some arrays replaced (None drops the key), as an .npz."""
    params = load_smpl_params(base_path)
    for key, value in changes.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    path = tmp_path / f"{name}.npz"
    save_smpl_params(params, path)
    return str(path)


def _dense_regressor(num_joints: int, num_verts: int, seed: int) -> np.ndarray:
    """Every entry nonzero, some negative, rows summing to 1 (absolute sums about 1.1)."""
    reg = np.random.default_rng(seed).uniform(-0.2, 0.8, size=(num_joints, num_verts))
    reg /= reg.sum(axis=1, keepdims=True)
    assert np.all(reg != 0) and np.any(reg < 0)
    return reg


def _max_err(out, expected, keys=JOINT_KEYS) -> dict[str, float]:
    return {k: float(np.max(np.abs(out[k].numpy().astype(np.float64) - expected[k]))) for k in keys}


# ------------------------------------------------------------------ acceptance: V = 6890
def test_float32_joints_only_matches_float64_numpy_and_the_full_layer(standin_path):
    params = load_smpl_params(standin_path)
    assert params["v_template"].shape == (6890, 3)
    smpl = SMPL(standin_path)
    # the stand-in's 25-joint regressor reads a quarter of the mesh: few (joint, bone) pairs
    assert 0 < len(smpl.joint_terms["pair_bone"]) < 25 * 24 // 4
    betas, thetas = random_inputs(8, seed=1)
    b32, t32 = tf.constant(betas, tf.float32), tf.constant(thetas, tf.float32)
    out = smpl(b32, t32, joints_only=True)
    assert set(out) == set(JOINT_KEYS)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "joints": (8, 25, 3),
        "smpl_joints": (8, 24, 3),
        "rotmats": (8, 24, 3, 3),
    }
    assert all(v.dtype == tf.float32 for v in out.values())
    errors = _max_err(out, np_body_model(params, betas, thetas))
    assert max(errors.values()) <= 1e-5, errors
    full = smpl(b32, t32)
    errors = _max_err(out, {k: full[k].numpy() for k in JOINT_KEYS})
    assert max(errors.values()) <= 5e-6, errors  # float32 round-off of metre-sized joints


def test_float64_joints_only_is_exact_algebra(small_standin_path):
    """In float64 the contraction onto the joints must agree with the mesh to round-off."""
    params = load_smpl_params(small_standin_path)
    betas, thetas = random_inputs(4, seed=2)
    out = SMPL(small_standin_path, dtype="float64")(betas, thetas, joints_only=True)
    errors = _max_err(out, np_body_model(params, betas, thetas))
    assert max(errors.values()) <= 1e-11, errors


# ------------------------------------------------------------------ other regressors
def test_dense_signed_regressor_uses_every_vertex(tmp_path, small_standin_path):
    params = load_smpl_params(small_standin_path)
    num_verts = params["v_template"].shape[0]
    reg = _dense_regressor(25, num_verts, seed=3)
    path = _variant(tmp_path, small_standin_path, "dense", joint_regressor=reg)
    smpl = SMPL(path, dtype="float64")
    assert len(smpl.joint_terms["pair_bone"]) == 25 * 24  # every vertex, so every pair
    betas, thetas = random_inputs(3, seed=4)
    expected = np_body_model({**params, "joint_regressor": reg}, betas, thetas)
    errors = _max_err(smpl(betas, thetas, joints_only=True), expected)
    assert max(errors.values()) <= 1e-11, errors
    errors = _max_err(SMPL(path)(betas, thetas, joints_only=True), expected)
    assert max(errors.values()) <= 1e-5, errors


def test_hmr_19_joint_regressor(tmp_path, small_standin_path):
    params = load_smpl_params(small_standin_path)
    path = _variant(
        tmp_path, small_standin_path, "j19", joint_regressor=params["joint_regressor"][:19]
    )
    betas, thetas = random_inputs(2, seed=5)
    out = SMPL(path, dtype="float64")(betas, thetas, joints_only=True)
    assert out["joints"].shape == (2, 19, 3)
    expected = np_body_model(params, betas, thetas)["joints"][:, :19]
    np.testing.assert_allclose(out["joints"].numpy(), expected, atol=1e-11)


def test_without_extra_regressor_joints_are_the_skeleton(tmp_path, small_standin_path):
    params = load_smpl_params(small_standin_path)
    path = _variant(tmp_path, small_standin_path, "noreg", joint_regressor=None)
    smpl = SMPL(path, dtype="float64")
    assert len(smpl.joint_terms["pair_bone"]) == 0
    betas, thetas = random_inputs(2, seed=6)
    out = smpl(betas, thetas, joints_only=True)
    params.pop("joint_regressor")
    errors = _max_err(out, np_body_model(params, betas, thetas))
    assert max(errors.values()) <= 1e-11, errors
    np.testing.assert_array_equal(out["joints"].numpy(), out["smpl_joints"].numpy())


# ------------------------------------------------------------------ training use
def test_gradients_equal_the_full_path(small_standin_path):
    smpl = SMPL(small_standin_path, dtype="float64")
    betas_np, thetas_np = random_inputs(3, seed=7)
    betas_np[1], thetas_np[1] = 0.0, 0.0  # the zero pose too
    probe = tf.constant(np.random.default_rng(8).normal(size=(3, 25, 3)))

    def grads(joints_only: bool):
        betas, thetas = tf.constant(betas_np), tf.constant(thetas_np)
        with tf.GradientTape() as tape:
            tape.watch([betas, thetas])
            out = smpl(betas, thetas, joints_only=joints_only)
            loss = tf.reduce_sum(out["joints"] * probe) + tf.reduce_sum(out["smpl_joints"])
        return [g.numpy() for g in tape.gradient(loss, [betas, thetas])]

    full, fast = grads(False), grads(True)
    for name, a, b in zip(("betas", "thetas"), full, fast, strict=True):
        assert np.all(np.isfinite(b)), name
        np.testing.assert_allclose(b, a, atol=1e-10, err_msg=name)
    assert np.any(fast[1] != 0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_works_inside_tf_function(small_standin_path, jit_compile):
    smpl = SMPL(small_standin_path)
    betas, thetas = (tf.constant(a, tf.float32) for a in random_inputs(2, seed=9))
    eager = smpl(betas, thetas, joints_only=True)["joints"].numpy()
    fn = tf.function(lambda b, t: smpl(b, t, joints_only=True)["joints"], jit_compile=jit_compile)
    np.testing.assert_allclose(fn(betas, thetas).numpy(), eager, atol=2e-6)


# ------------------------------------------------------------------ serialisation
def test_keras_save_and_load_of_a_joints_only_model(tmp_path, small_standin_path):
    betas_in = keras.Input((10,), name="betas")
    thetas_in = keras.Input((72,), name="thetas")
    outputs = SMPL(small_standin_path, name="smpl")(betas_in, thetas_in, joints_only=True)
    model = keras.Model([betas_in, thetas_in], outputs)
    betas, thetas = random_inputs(2, seed=10)
    before = model([betas, thetas])
    assert set(before) == set(JOINT_KEYS)
    model.save(tmp_path / "joints.keras")
    after = keras.models.load_model(tmp_path / "joints.keras")([betas, thetas])
    for key in JOINT_KEYS:
        np.testing.assert_array_equal(after[key].numpy(), before[key].numpy(), err_msg=key)


def test_loaded_weights_rebuild_the_joint_terms(tmp_path, small_standin_path):
    """Weights loaded into a layer built from another file drive the joints-only pass too."""
    params = load_smpl_params(small_standin_path)
    num_verts = params["v_template"].shape[0]
    other = _variant(
        tmp_path,
        small_standin_path,
        "other",
        v_template=params["v_template"] * 1.1 + 0.05,
        joint_regressor=_dense_regressor(25, num_verts, seed=11),
    )
    source = SMPL(other, dtype="float64")
    target = SMPL(small_standin_path, dtype="float64")
    store: dict = {}
    source.save_own_variables(store)
    target.load_own_variables(store)
    betas, thetas = random_inputs(2, seed=12)
    expected = source(betas, thetas)
    out = target(betas, thetas, joints_only=True)
    errors = _max_err(out, {k: expected[k].numpy() for k in JOINT_KEYS})
    assert max(errors.values()) <= 1e-11, errors
