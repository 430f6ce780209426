"""src.smpl.standin: a closed, human-like, deterministic body model with joints in place."""

import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from src.joints import HMMR_JOINT_INDEX, SMPL_JOINT_INDEX, SMPL_PARENTS
from src.smpl import SMPL, load_smpl_params, standin
from src.smpl.io import safe_load_pickle

H, S = HMMR_JOINT_INDEX, SMPL_JOINT_INDEX


@pytest.fixture(scope="module")
def params(standin_path) -> dict:
    return load_smpl_params(standin_path)


@pytest.fixture(scope="module")
def rest_joints(params) -> np.ndarray:
    return params["joint_regressor"] @ params["v_template"]  # (25, 3)


# ------------------------------------------------------------------ file format and sizes
@pytest.mark.parametrize("num_verts", [standin.MIN_NUM_VERTS, 999, 6890, 12001])
def test_vertex_count_is_exact(num_verts):
    assert standin.build_standin_params(num_verts)["v_template"].shape == (num_verts, 3)


def test_too_few_vertices_is_refused():
    with pytest.raises(ValueError, match="at least"):
        standin.build_standin_params(standin.MIN_NUM_VERTS - 1)


def test_file_has_smpl_keys_and_kinematic_tree(standin_path, params):
    raw = safe_load_pickle(standin_path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                "kintree_table", "f", "cocoplus_regressor", "J"):  # fmt: skip
        assert key in raw
    assert raw["kintree_table"][0, 0] == 4294967295  # as SMPL stores the root
    np.testing.assert_array_equal(params["kintree_table"][0], SMPL_PARENTS)
    assert params["shapedirs"].shape == (6890, 3, 10)
    assert params["posedirs"].shape == (6890, 3, 207)
    assert params["joint_regressor"].shape == (25, 6890)


def test_generation_is_deterministic_and_fast():
    start = time.perf_counter()
    first = standin.build_standin_params()
    elapsed = time.perf_counter() - start
    second = standin.build_standin_params()
    for key in ("v_template", "f", "weights", "shapedirs", "posedirs"):
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    for key in ("J_regressor", "cocoplus_regressor"):
        np.testing.assert_array_equal(first[key].toarray(), second[key].toarray(), err_msg=key)
    assert elapsed < 5.0


def test_regressors_and_skinning_weights_are_convex(params):
    for key in ("J_regressor", "joint_regressor", "weights"):
        arr = params[key] if key != "weights" else params[key].T
        assert arr.min() >= 0.0, key
        np.testing.assert_allclose(arr.sum(axis=1 if key != "weights" else 0), 1.0, atol=1e-12)


# ------------------------------------------------------------------ mesh quality
def test_mesh_is_closed_and_consistently_oriented(params):
    faces = params["f"]
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = directed[:, 0] * len(params["v_template"]) + directed[:, 1]
    reverse = directed[:, 1] * len(params["v_template"]) + directed[:, 0]
    assert len(np.unique(keys)) == len(keys)  # no edge used twice in the same direction
    assert np.all(np.isin(reverse, keys))  # every edge has its twin: closed, consistent


def test_every_part_encloses_positive_volume(params):
    verts, faces = params["v_template"], params["f"]
    n = len(verts)
    adjacency = np.zeros((n, n), dtype=bool)
    adjacency[faces[:, 0], faces[:, 1]] = adjacency[faces[:, 1], faces[:, 2]] = True
    count, label = connected_components(adjacency, directed=False)
    tri = verts[faces]
    signed = np.einsum("fi,fi->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6.0
    volumes = np.bincount(label[faces[:, 0]], weights=signed, minlength=count)
    assert count == 16  # torso, neck, head, nose and 2 x (3 arm + 3 leg segments)
    assert np.all(volumes > 0)  # outward normals everywhere
    assert 0.04 < volumes.sum() < 0.12  # m^3: an adult body (overlaps counted twice)
    areas = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert areas.min() > 1e-9


def test_proportions_are_human(params):
    v = params["v_template"]
    height = v[:, 1].max() - v[:, 1].min()
    arm_span = v[:, 0].max() - v[:, 0].min()
    assert height == pytest.approx(1.7, abs=0.1)  # metres
    assert 0.9 * height < arm_span < 1.1 * height  # T-pose: span about the height
    assert v[:, 2].max() - v[:, 2].min() < 0.4  # thin front to back


def test_mesh_is_left_right_symmetric(params):
    v = params["v_template"]
    dist, _ = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert dist.max() < 1e-9


# ------------------------------------------------------------------ joints
def test_hmmr_joints_are_at_their_anatomical_spots(params, rest_joints):
    j, v = rest_joints, params["v_template"]
    y = j[:, 1]
    assert y[H["head_top"]] == pytest.approx(v[:, 1].max(), abs=5e-3)
    assert y[H["l_heel"]] < y[H["l_knee"]] < y[H["l_hip"]] < y[H["neck"]] < y[H["nose"]]
    assert y[H["nose"]] < y[H["l_eye"]] < y[H["head_top"]]
    face = [H[n] for n in ("head_top", "l_eye", "r_eye", "l_ear", "r_ear", "neck")]
    assert j[H["nose"], 2] > j[face, 2].max()  # the nose is the frontmost head point
    assert j[H["l_ear"], 2] < j[H["l_eye"], 2] - 0.05  # ears behind the eyes
    assert abs(j[H["l_ear"], 0]) > abs(j[H["l_eye"], 0])
    assert 0 < j[H["l_shoulder"], 0] < j[H["l_elbow"], 0] < j[H["l_wrist"], 0]
    for toe in ("l_big_toe", "l_small_toe"):
        assert j[H[toe], 2] > j[H["l_ankle"], 2] + 0.1 and j[H[toe], 1] < j[H["l_ankle"], 1]
    assert j[H["l_heel"], 2] < j[H["l_ankle"], 2] and j[H["l_heel"], 1] < j[H["l_ankle"], 1]
    assert j[H["l_small_toe"], 0] > j[H["l_big_toe"], 0]  # little toe outside


def test_left_and_right_joints_mirror_each_other(rest_joints):
    for name, idx in H.items():
        if name.startswith("l_"):
            mirrored = rest_joints[H["r_" + name[2:]]] * np.array([-1.0, 1.0, 1.0])
            assert rest_joints[idx, 0] > 0
            np.testing.assert_allclose(rest_joints[idx], mirrored, atol=1e-6)


def test_limb_joints_coincide_with_skeleton_joints(params, rest_joints):
    skeleton = params["J_regressor"] @ params["v_template"]
    for name in ("knee", "ankle", "shoulder", "elbow", "wrist"):
        for side in "lr":
            gap = np.linalg.norm(rest_joints[H[f"{side}_{name}"]] - skeleton[S[f"{side}_{name}"]])
            assert gap < 0.01, (side, name, gap)


def _pose(**rotations: tuple[float, float, float]) -> np.ndarray:
    theta = np.zeros((1, 72))
    for name, aa in rotations.items():
        theta[0, 3 * S[name] : 3 * S[name] + 3] = aa
    return theta


@pytest.fixture(scope="module")
def smpl64(standin_path) -> SMPL:
    return SMPL(standin_path, dtype="float64")


def test_joints_follow_their_bones_when_posed(smpl64, params, rest_joints):
    theta = _pose(
        l_elbow=(0.0, 1.6, 0.0), r_knee=(1.5, 0.0, 0.0), l_hip=(-1.0, 0.0, 0.3),
        r_shoulder=(0.0, 0.0, 1.2), neck=(0.3, 0.5, 0.0), pelvis=(0.2, 1.0, 0.0),
    )  # fmt: skip
    out = smpl64(np.zeros((1, 10)), theta)
    j, sk = out["joints"].numpy()[0], out["smpl_joints"].numpy()[0]
    for name in ("knee", "ankle", "elbow", "wrist"):  # skinning thins a joint bent ~90 degrees,
        for side in "lr":  # so its surface-regressed point drifts by 1-2 cm (SMPL's does too)
            assert np.linalg.norm(j[H[f"{side}_{name}"]] - sk[S[f"{side}_{name}"]]) < 0.025
    # rigid parts keep their distances to the joint that carries them
    for name, anchor in (("head_top", "head"), ("nose", "head"), ("l_big_toe", "l_ankle"),
                         ("r_heel", "r_ankle")):  # fmt: skip
        rest_skeleton = params["J_regressor"] @ params["v_template"]
        rest_gap = np.linalg.norm(rest_joints[H[name]] - rest_skeleton[S[anchor]])
        posed_gap = np.linalg.norm(j[H[name]] - sk[S[anchor]])
        assert posed_gap == pytest.approx(rest_gap, abs=0.01), name


def test_random_poses_and_shapes_stay_finite_and_bounded(smpl64):
    rng = np.random.default_rng(3)
    betas = rng.uniform(-3.0, 3.0, size=(8, 10))
    axes = rng.normal(size=(8, 24, 3))
    theta = axes / np.linalg.norm(axes, axis=-1, keepdims=True) * rng.uniform(0, 1.5, (8, 24, 1))
    out = smpl64(betas, theta.reshape(8, 72))
    verts = out["vertices"].numpy()
    assert np.all(np.isfinite(verts)) and np.all(np.isfinite(out["joints"].numpy()))
    assert np.abs(verts).max() < 2.5


def test_shape_blend_shapes_change_height_and_leg_length(params):
    v, dirs = params["v_template"], params["shapedirs"]

    def height(betas):
        shaped = v + dirs @ np.asarray(betas, np.float64)
        return shaped[:, 1].max() - shaped[:, 1].min()

    assert height([2.0] + [0.0] * 9) > height([0.0] * 10) + 0.08  # overall size
    assert height([0, 0, 2.0] + [0.0] * 7) > height([0.0] * 10) + 0.08  # leg length
    assert np.abs(params["posedirs"]).max() < 0.01  # pose correctives stay small


# ------------------------------------------------------------------ the cached default file
@pytest.fixture
def repo_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(standin, "_repo_root", lambda: tmp_path)
    monkeypatch.setattr(standin, "_checked", set())
    return tmp_path


def test_default_path_is_written_once_under_models_standin(repo_in_tmp):
    path = standin.default_standin_path()
    assert path == repo_in_tmp / "models" / "standin" / "standin_body_model.pkl"
    stamp = path.stat().st_mtime_ns
    standin._checked.clear()  # a new process: checks the file, does not rewrite it
    assert standin.default_standin_path() == path and path.stat().st_mtime_ns == stamp
    assert load_smpl_params(path)["v_template"].shape == (6890, 3)


def test_stale_default_file_is_regenerated(repo_in_tmp):
    path = repo_in_tmp / "models" / "standin" / "standin_body_model.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"old or truncated")
    standin.default_standin_path()
    assert safe_load_pickle(path)["standin_version"] == standin.STANDIN_VERSION


def test_concurrent_first_use_is_safe(repo_in_tmp):
    results, errors = [], []

    def worker():
        try:
            results.append(standin.default_standin_path())
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert load_smpl_params(results[0])["v_template"].shape == (6890, 3)
    assert not list(results[0].parent.glob("*.tmp"))


def test_layer_runs_on_the_default_file(repo_in_tmp):
    out = SMPL(standin.default_standin_path())(tf.zeros((1, 10)), tf.zeros((1, 72)))
    assert out["vertices"].shape == (1, 6890, 3) and out["joints"].shape == (1, 25, 3)
