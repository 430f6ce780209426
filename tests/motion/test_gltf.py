"""glTF export of predicted motion: the file read back by pygltflib, its accessors decoded with
numpy, its skin evaluated independently, the Khronos validator, the CLI.

The body model is a 300-vertex generated stand-in (not SMPL). References: the BVH export (same
skeleton and root), scipy for the rotations, the Keras body-model layer (TensorFlow, float64)
for the posed joints and vertices, and a skinning written here from the glTF spec.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pygltflib
import pytest
from scipy.spatial.transform import Rotation

from src import paths
from src.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from src.motion import cli
from src.motion.export import motion_bvh, result_motion
from src.motion.gltf import motion_gltf, top_weights, write_glb
from src.smpl.io import save_smpl_params
from tests.motion.test_export import MM, Y_UP, _result_npz, _theta, _walk
from tests.timeouts import scaled

CM = 1e-2
COMPONENTS = {5126: np.float32, 5121: np.uint8, 5125: np.uint32, 5123: np.uint16}
WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}
FIRST_JOINT = 1  # node 0 is the mesh


def _accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    """(count, width) the data of accessor ``index``, read from the binary chunk with numpy."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    width = WIDTHS[acc.type]
    data = np.frombuffer(
        gltf.binary_blob(), COMPONENTS[acc.componentType], acc.count * width, start
    )
    return data.reshape(acc.count, width)


def _animation(gltf: pygltflib.GLTF2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """times (N,), rotations (N, 24, 4) x y z w, root translation (N, 3) from the animation."""
    anim = gltf.animations[0]
    rotations, root_translation, times = {}, None, None
    for channel in anim.channels:
        sampler = anim.samplers[channel.sampler]
        assert sampler.interpolation == "LINEAR"
        times = _accessor(gltf, sampler.input)[:, 0]
        values = _accessor(gltf, sampler.output)
        if channel.target.path == "rotation":
            rotations[channel.target.node - FIRST_JOINT] = values
        else:
            assert channel.target.path == "translation" and channel.target.node == FIRST_JOINT
            root_translation = values
    assert sorted(rotations) == list(range(24))
    return times, np.stack([rotations[j] for j in range(24)], axis=1), root_translation


def _export(tmp_path, params, theta, trans, fps=25.0):
    """(motion, the glb read back by pygltflib)."""
    motion = result_motion({"theta": theta, "trans": trans, "fps": fps}, params)
    path = write_glb(tmp_path / "t.glb", motion_gltf(motion, params))
    return motion, pygltflib.GLTF2().load(str(path))


def _skin(gltf: pygltflib.GLTF2, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (24, 3) and skinned vertices (V, 3) at key ``frame``, from the glTF
    spec: node world = parent world · T · R (animated values replace the node's own), joint
    matrix = world · inverseBindMatrix, vertex = sum_i w_i joint_matrix[j_i] · [v, 1]."""
    _, rotations, root_translation = _animation(gltf)
    parent = {c: n for n, node in enumerate(gltf.nodes) for c in node.children or []}
    world = {}
    for n, node in enumerate(gltf.nodes):  # parents come first here (checked by the caller)
        local = np.eye(4)
        translation = np.array(node.translation or [0.0, 0.0, 0.0])
        if n >= FIRST_JOINT:
            local[:3, :3] = Rotation.from_quat(rotations[frame, n - FIRST_JOINT]).as_matrix()
        if n == FIRST_JOINT:
            translation = root_translation[frame]
        local[:3, 3] = translation
        world[n] = world[parent[n]] @ local if n in parent else local
    skin = gltf.skins[0]
    ibm = _accessor(gltf, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    mats = np.stack([world[n] for n in skin.joints]) @ ibm  # (24, 4, 4)
    prim = gltf.meshes[0].primitives[0]
    verts = _accessor(gltf, prim.attributes.POSITION).astype(np.float64)
    joints = _accessor(gltf, prim.attributes.JOINTS_0)
    weights = _accessor(gltf, prim.attributes.WEIGHTS_0).astype(np.float64)
    homog = np.concatenate([verts, np.ones((len(verts), 1))], axis=1)
    blended = np.einsum("vk,vkab->vab", weights, mats[joints])
    skinned = np.einsum("vab,vb->va", blended, homog)[:, :3]
    joint_pos = np.stack([world[n][:3, 3] for n in skin.joints])
    return joint_pos, skinned


def test_the_skeleton_and_rest_mesh_are_the_bvh_skeleton_and_the_mean_betas_mesh(tmp_path, params):
    theta = _theta(n=6, betas_jitter=0.5)
    motion, gltf = _export(tmp_path, params, theta, _walk(6))
    bvh = motion_bvh(motion.poses, motion.rest, motion.trans, motion.fps)
    joint_nodes = gltf.nodes[FIRST_JOINT:]
    assert [node.name for node in joint_nodes] == list(SMPL_JOINT_NAMES)
    assert gltf.skins[0].joints == list(range(FIRST_JOINT, FIRST_JOINT + 24))
    for j, p in enumerate(SMPL_PARENTS):  # the hierarchy
        children = [c - FIRST_JOINT for c in joint_nodes[j].children or []]
        assert children == [c for c, q in enumerate(SMPL_PARENTS) if q == j]
        assert p < j
    translations = np.array([node.translation for node in joint_nodes])
    np.testing.assert_allclose(translations[1:], bvh.offsets[1:], atol=1e-12)
    np.testing.assert_allclose(translations[0], motion.rest[0], atol=1e-12)  # J_0 (BVH: 0)
    assert all(node.rotation is None and node.scale is None for node in joint_nodes)
    ibm = _accessor(gltf, gltf.skins[0].inverseBindMatrices).reshape(24, 4, 4).transpose(0, 2, 1)
    want = np.tile(np.eye(4), (24, 1, 1))
    want[:, :3, 3] = -motion.rest  # the inverse of a translation to the rest joint
    np.testing.assert_allclose(ibm, want, atol=1e-6)
    prim = gltf.meshes[0].primitives[0]
    betas = theta[:, 75:].mean(axis=0)
    rest_mesh = params["v_template"] + np.einsum("vck,k->vc", params["shapedirs"], betas)
    np.testing.assert_allclose(_accessor(gltf, prim.attributes.POSITION), rest_mesh, atol=1e-6)
    np.testing.assert_array_equal(_accessor(gltf, prim.indices).reshape(-1, 3), params["f"])
    assert gltf.nodes[0].mesh == 0 and gltf.nodes[0].skin == 0 and not gltf.nodes[0].translation
    assert gltf.scenes[gltf.scene].nodes == [0, FIRST_JOINT]


def test_rotation_keys_are_thetas_rotations_and_times_are_k_over_fps(tmp_path, params):
    theta, trans = _theta(n=10, seed=3), _walk(10)
    motion, gltf = _export(tmp_path, params, theta, trans, fps=29.97)
    times, quats, root_translation = _animation(gltf)
    np.testing.assert_allclose(times, np.arange(10) / 29.97, rtol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-6)
    got = Rotation.from_quat(quats.reshape(-1, 4).astype(np.float64)).as_matrix()
    want = Rotation.from_rotvec(theta[:, 3:75].reshape(-1, 3)).as_matrix().reshape(10, 24, 3, 3)
    want[:, 0] = np.diag(Y_UP) @ want[:, 0]  # the root in Y-up axes
    np.testing.assert_allclose(got.reshape(10, 24, 3, 3), want, atol=1e-5)
    assert (np.sum(quats[1:] * quats[:-1], axis=-1) >= 0).all()  # one hemisphere: short slerp
    pelvis = (trans + motion.rest[0]) * Y_UP  # the BVH's root position channels
    np.testing.assert_allclose(root_translation, pelvis, atol=1e-5)


def test_the_four_largest_weights_are_kept_and_renormalised(params):
    joints, weights = top_weights(params["weights"])
    assert joints.dtype == np.uint8 and weights.dtype == np.float32 and joints.shape[1] == 4
    np.testing.assert_allclose(weights.sum(axis=1, dtype=np.float64), 1.0, atol=1e-6)
    full = params["weights"]
    kept = np.take_along_axis(full, joints.astype(int), axis=1)
    kept = np.where(weights > 0, kept, 0.0)
    np.testing.assert_allclose(weights, kept / kept.sum(axis=1, keepdims=True), atol=1e-6)
    fourth = np.sort(full, axis=1)[:, -4]
    dropped = np.where(weights > 0, 0.0, 1.0)  # no kept weight is smaller than a dropped one
    assert (kept + dropped * 2 >= fourth[:, None] - 1e-12).all()


def test_the_skin_gives_the_posed_joints_within_1mm_and_vertices_near_the_body_model(
    tmp_path, params, smpl
):
    from src.smpl.layer import SMPL

    n = 8
    theta, trans = _theta(n=n, seed=11), _walk(n)
    _, gltf = _export(tmp_path, params, theta, trans)
    out = smpl(theta[:, 75:], theta[:, 3:75])
    want_joints = (out["smpl_joints"].numpy() + trans[:, None]) * Y_UP
    want_verts = (out["vertices"].numpy() + trans[:, None]) * Y_UP
    # the body model without its pose blend shapes (what glTF skinning can hold), full weights
    flat = save_smpl_params({**params, "posedirs": 0 * params["posedirs"]}, tmp_path / "f.npz")
    no_blend = SMPL(flat, dtype="float64")(theta[:, 75:], theta[:, 3:75])["vertices"].numpy()
    no_blend = (no_blend + trans[:, None]) * Y_UP
    joint_err, vert_err, weight_err = [], [], []
    for k in range(n):
        joints, verts = _skin(gltf, k)
        joint_err.append(np.linalg.norm(joints - want_joints[k], axis=-1))
        vert_err.append(np.linalg.norm(verts - want_verts[k], axis=-1))
        weight_err.append(np.linalg.norm(verts - no_blend[k], axis=-1))
    joint_err, vert_err, weight_err = map(np.array, (joint_err, vert_err, weight_err))
    print(
        f"glTF skin vs body model: joints max {joint_err.max() / MM:.4f} mm; vertices max "
        f"{vert_err.max() / MM:.2f} mm, mean {vert_err.mean() / MM:.2f} mm; 4 weights alone "
        f"(vs no pose blend shapes) max {weight_err.max() / MM:.2f} mm, "
        f"mean {weight_err.mean() / MM:.3f} mm"
    )
    assert joint_err.max() <= 1 * MM
    assert vert_err.max() < 2 * CM
    assert weight_err.max() < 1 * MM


def test_a_single_frame_gives_one_key_at_time_zero(tmp_path, params):
    _, gltf = _export(tmp_path, params, _theta(n=1), _walk(1), fps=30.0)
    times, quats, root_translation = _animation(gltf)
    assert times.tolist() == [0.0]
    assert quats.shape == (1, 24, 4) and root_translation.shape == (1, 3)


def _validator_node_path() -> str | None:
    """NODE_PATH under which node finds the Khronos ``gltf-validator`` npm package, or None
    (no node, no npm, or the package not installed: ``make test`` installs it into
    ``.venv/node``, or ``npm install -g gltf-validator``)."""
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    try:
        root = subprocess.run(
            ["npm", "root", "-g"], capture_output=True, text=True, timeout=scaled(30), check=True
        ).stdout.strip()
        local = str(paths.REPO_ROOT / ".venv" / "node" / "node_modules")  # `make test` puts it here
        candidates = (local, root, os.environ.get("NODE_PATH", ""))
        node_path = os.pathsep.join(p for p in candidates if p)
        subprocess.run(
            ["node", "-e", "require.resolve('gltf-validator')"],
            capture_output=True,
            timeout=scaled(30),
            check=True,
            env={**os.environ, "NODE_PATH": node_path},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return node_path


VALIDATE_JS = """
const fs = require('fs');
require('gltf-validator').validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))
  .then((r) => console.log(JSON.stringify(r.issues)))
  .catch((e) => { console.error(String(e)); process.exit(2); });
"""


def test_the_khronos_validator_finds_no_errors_or_warnings(tmp_path, params):
    node_path = _validator_node_path()
    if node_path is None:
        pytest.skip("node or the gltf-validator npm package is not installed")
    _, gltf = _export(tmp_path, params, _theta(n=5), _walk(5))
    result = subprocess.run(
        ["node", "-e", VALIDATE_JS, str(tmp_path / "t.glb")],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env={**os.environ, "NODE_PATH": node_path},
    )
    assert result.returncode == 0, result.stderr
    issues = json.loads(result.stdout)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]


# ------------------------------------------------------------------------------------------
# Command line


def test_export_command_writes_the_glb_and_the_bvh(tmp_path, body_path, capsys):
    npz = _result_npz(tmp_path / "hmmr_output.npz", body_path)
    glb, bvh = tmp_path / "clip.glb", tmp_path / "clip.bvh"
    assert cli.run(["export", str(npz), "--gltf", str(glb), "--bvh", str(bvh)]) == 0
    text = capsys.readouterr().out
    assert "9 frames at 30 fps" in text and str(glb) in text and str(bvh) in text
    times, quats, _ = _animation(pygltflib.GLTF2().load(str(glb)))
    assert len(times) == 9 and times[1] == pytest.approx(1 / 30)
    names = ["clip.bvh", "clip.glb", "hmmr_output.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert cli.run(["export", str(npz), "--gltf", str(tmp_path / "only.glb")]) == 0
    assert (tmp_path / "only.glb").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gltf", "clip.gltf"], "clip.gltf: the output must end in .glb"),
        ([], "nothing to write"),
    ],
)
def test_bad_output_is_one_line_and_writes_nothing(tmp_path, body_path, capsys, args, message):
    npz = _result_npz(tmp_path / "r.npz", body_path)
    args = [a if a.startswith("--") else str(tmp_path / a) for a in args]
    assert cli.run(["export", str(npz), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]


def test_bad_input_writes_neither_file(tmp_path, body_path, capsys):
    npz = tmp_path / "result.npz"
    np.savez(npz, theta=np.zeros((9, 72)), fps=30.0)
    out = tmp_path / "out"
    args = ["--gltf", str(out / "a.glb"), "--bvh", str(out / "a.bvh")]
    assert cli.run(["export", str(npz), *args, "--smpl_model_path", str(body_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "result.npz" in err and "'theta' has shape" in err
    assert not out.exists()
