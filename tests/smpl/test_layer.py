"""src.smpl.SMPL: full forward against an independent float64 NumPy body model; serialisation."""

import pickle

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from src.smpl import SMPL, load_smpl_params

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------ independent NumPy body model
def np_rodrigues(theta: np.ndarray) -> np.ndarray:
    """(M, 3) -> (M, 3, 3), docs/original_release.md §4.2 step 3 with the 1e-8 shift."""
    angle = np.linalg.norm(theta + 1e-8, axis=1)
    r = theta / angle[:, None]
    k = np.zeros((len(theta), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -r[:, 2], r[:, 1], -r[:, 0]
    k -= np.swapaxes(k, 1, 2)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return c * np.eye(3) + (1 - c) * np.einsum("mi,mj->mij", r, r) + s * k


def np_body_model(params: dict, betas: np.ndarray, thetas: np.ndarray) -> dict:
    """The §4.2 recipe in float64 NumPy, written independently of src.smpl.lbs."""
    n = len(betas)
    parents = params["kintree_table"][0]
    v_shaped = params["v_template"] + np.einsum("vcs,ns->nvc", params["shapedirs"], betas)
    rest = np.einsum("jv,nvc->njc", params["J_regressor"], v_shaped)
    rot = np_rodrigues(thetas.reshape(-1, 3)).reshape(n, 24, 3, 3)
    feature = (rot[:, 1:] - np.eye(3)).reshape(n, -1)
    v_posed = v_shaped + np.einsum("vcp,np->nvc", params["posedirs"], feature)
    world = np.zeros((n, 24, 4, 4))
    for i in range(24):
        local = np.zeros((n, 4, 4))
        local[:, :3, :3], local[:, 3, 3] = rot[:, i], 1.0
        local[:, :3, 3] = rest[:, i] - (rest[:, parents[i]] if i else 0.0)
        world[:, i] = local if i == 0 else np.matmul(world[:, parents[i]], local)
    skin = world.copy()
    skin[:, :, :3, 3] -= np.einsum("njab,njb->nja", world[:, :, :3, :3], rest)
    per_vertex = np.einsum("vj,njab->nvab", params["weights"], skin)
    verts = np.einsum("nvab,nvb->nva", per_vertex[..., :3, :3], v_posed) + per_vertex[..., :3, 3]
    out = {"vertices": verts, "smpl_joints": world[:, :, :3, 3], "rotmats": rot}
    reg = params.get("joint_regressor")
    out["joints"] = np.einsum("kv,nvc->nkc", reg, verts) if reg is not None else out["smpl_joints"]
    return out


def random_inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Betas ~ N(0, 1.5^2); every joint rotated by a random axis and an angle up to pi."""
    axis = RNG.normal(size=(n, 24, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = RNG.uniform(0.0, np.pi, size=(n, 24, 1))
    angle[0, :3] = [[np.pi], [0.0], [np.pi - 1e-6]]  # the ends of the range, exactly
    return RNG.normal(scale=1.5, size=(n, 10)), (axis * angle).reshape(n, 72)


# ------------------------------------------------------------------ acceptance: V = 6890
FULL_SIZE_ATOL_M = 1e-5  # the README quotes this bound (tests/test_readme.py)


def test_float32_layer_matches_float64_numpy_at_full_size(standin_path):
    params = load_smpl_params(standin_path)
    assert params["v_template"].shape == (6890, 3)
    betas, thetas = random_inputs(6)
    expected = np_body_model(params, betas, thetas)
    smpl = SMPL(standin_path)
    out = smpl(tf.constant(betas, tf.float32), tf.constant(thetas, tf.float32))
    for key in ("vertices", "joints", "smpl_joints", "rotmats"):
        assert out[key].dtype == tf.float32
        err = np.max(np.abs(out[key].numpy().astype(np.float64) - expected[key]))
        assert err <= FULL_SIZE_ATOL_M, f"{key}: max abs error {err:.2e} > {FULL_SIZE_ATOL_M}"


def test_float64_layer_matches_numpy_to_round_off(small_standin_path):
    params = load_smpl_params(small_standin_path)
    betas, thetas = random_inputs(3)
    expected = np_body_model(params, betas, thetas)
    out = SMPL(small_standin_path, dtype="float64")(betas, thetas)
    for key, value in expected.items():
        assert out[key].dtype == tf.float64
        np.testing.assert_allclose(out[key].numpy(), value, atol=1e-11, err_msg=key)


# ------------------------------------------------------------------ outputs and options
def test_outputs_have_documented_shapes(small_standin_path):
    smpl = SMPL(small_standin_path)
    out = smpl(tf.zeros((2, 10)), tf.zeros((2, 72)))
    v = smpl.num_verts
    assert {k: tuple(t.shape) for k, t in out.items()} == {
        "vertices": (2, v, 3),
        "joints": (2, 25, 3),
        "smpl_joints": (2, 24, 3),
        "rotmats": (2, 24, 3, 3),
    }
    assert smpl.faces.shape[1] == 3 and smpl.faces.dtype == np.int32
    assert smpl.faces.max() == v - 1
    assert smpl.trainable_weights == [] and len(smpl.non_trainable_weights) == 6


def _variant(tmp_path, small_standin_path, rows: int | None):
    with open(small_standin_path, "rb") as fh:
        model = pickle.load(fh)  # our own trusted file
    if rows is None:
        del model["cocoplus_regressor"]
    else:
        model["cocoplus_regressor"] = sp.csc_matrix(model["cocoplus_regressor"].toarray()[:rows])
    path = tmp_path / f"variant_{rows}.pkl"
    path.write_bytes(pickle.dumps(model, protocol=2))
    return path


def test_hmr_19_joint_file_gives_19_joints(tmp_path, small_standin_path):
    path = _variant(tmp_path, small_standin_path, 19)
    betas, thetas = random_inputs(2)
    out = SMPL(path, dtype="float64")(betas, thetas)
    full = SMPL(small_standin_path, dtype="float64")(betas, thetas)
    assert out["joints"].shape == (2, 19, 3)
    np.testing.assert_allclose(out["joints"].numpy(), full["joints"].numpy()[:, :19], atol=1e-12)


def test_file_without_extra_regressor_returns_skeleton_joints(tmp_path, small_standin_path):
    path = _variant(tmp_path, small_standin_path, None)
    betas, thetas = random_inputs(2)
    out = SMPL(path)(betas, thetas)
    np.testing.assert_array_equal(out["joints"].numpy(), out["smpl_joints"].numpy())


def test_gradients_are_finite_at_the_zero_pose(small_standin_path):
    smpl = SMPL(small_standin_path)
    betas, thetas = tf.zeros((2, 10)), tf.zeros((2, 72))
    with tf.GradientTape() as tape:
        tape.watch([betas, thetas])
        out = smpl(betas, thetas)
        loss = tf.reduce_sum(out["joints"] ** 2) + tf.reduce_sum(out["vertices"])
    grads = tape.gradient(loss, [betas, thetas])
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.any(grads[1].numpy() != 0)


def test_works_inside_tf_function(small_standin_path):
    smpl = SMPL(small_standin_path)
    betas, thetas = random_inputs(2)
    eager = smpl(betas, thetas)["vertices"].numpy()
    graph = tf.function(lambda b, t: smpl(b, t)["vertices"])(
        tf.constant(betas, tf.float32), tf.constant(thetas, tf.float32)
    )
    np.testing.assert_allclose(graph.numpy(), eager, atol=1e-6)


# ------------------------------------------------------------------ serialisation
def test_get_config_from_config_round_trip(small_standin_path):
    smpl = SMPL(small_standin_path, dtype="float64", name="body")
    clone = SMPL.from_config(smpl.get_config())
    assert clone.model_path == str(small_standin_path) and clone.name == "body"
    assert clone.compute_dtype == "float64"
    betas, thetas = random_inputs(2)
    np.testing.assert_array_equal(
        clone(betas, thetas)["vertices"].numpy(), smpl(betas, thetas)["vertices"].numpy()
    )


def test_keras_save_and_load_give_the_same_outputs(tmp_path, small_standin_path):
    betas_in = keras.Input((10,), name="betas")
    thetas_in = keras.Input((72,), name="thetas")
    outputs = SMPL(small_standin_path, name="smpl")(betas_in, thetas_in)
    model = keras.Model([betas_in, thetas_in], outputs)
    betas, thetas = random_inputs(2)
    before = model([betas, thetas])
    model.save(tmp_path / "smpl.keras")
    restored = keras.models.load_model(tmp_path / "smpl.keras")
    after = restored([betas, thetas])
    for key in before:
        np.testing.assert_array_equal(after[key].numpy(), before[key].numpy(), err_msg=key)
