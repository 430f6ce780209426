"""Motion out as a mesh: one track's predictions as a binary glTF 2.0 (.glb) skinned body.

The file (docs/demo_outputs.md, "glTF export") holds, in one scene:

- **Mesh**: the body model's rest mesh for the track's mean betas, v_template + shapedirs ·
  betas (metres), and its faces. It is in the body model's own space, which is already glTF's
  (Y up, the body facing +z): the camera -> Y-up turn of :mod:`src.motion.export`
  (``Y_UP_FROM_CAMERA``) lives in the root's animated rotation and translation, as in the BVH.
- **Skeleton**: the 24 joints ``SMPL_JOINT_NAMES`` as nodes on ``SMPL_PARENTS``. A joint's
  node translation is its BVH OFFSET (rest joint minus its parent's,
  :func:`src.motion.export.skeleton_offsets`); the root's is its rest position J_0, so that
  the skeleton sits inside the rest mesh. Rest rotations are the identity.
- **Skin**: the 24 joint nodes; inverseBindMatrices = the inverse of each joint's rest world
  transform (a translation by -J_j). Per vertex JOINTS_0 / WEIGHTS_0: the body model's LBS
  weights, **the 4 largest kept and renormalised to sum 1** (glTF's one set of four).
- **Animation** ("motion"): per joint a rotation channel (unit quaternions x, y, z, w from
  theta's axis-angle; the root's is C · R_0, C = ``Y_UP_FROM_CAMERA``; signs chosen so that
  consecutive keys lie in one hemisphere, the short way for LINEAR slerp) and the root's
  translation channel (the pelvis C · (J_0 + trans), the BVH's root position); key times
  k / fps seconds, LINEAR interpolation.

What glTF skinning cannot carry: SMPL's pose blend shapes (posedirs; a per-pose corrective
shape) and the weights beyond the 4 largest. The skinned mesh therefore differs a little from
the body model's posed vertices (measured in tests/motion/test_gltf.py and the docs); its
joints are the body model's posed joints exactly.

Numpy (and ``pygltflib``, the ``gltf`` extra) only: no TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from src.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from src.motion.export import TrackMotion, skeleton_offsets, y_up_motion

SKIN_INFLUENCES = 4  # glTF's JOINTS_0 / WEIGHTS_0 hold four joints per vertex
ANIMATION_NAME = "motion"
MESH_NAME = "body"
GENERATOR = "hmmr-tf2 src.motion.gltf"

# glTF enums (glTF 2.0 spec, 5.1 accessor.componentType, 5.11 bufferView.target)
FLOAT = 5126
UNSIGNED_BYTE = 5121
UNSIGNED_INT = 5125
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
TRIANGLES = 4
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


def top_weights(weights: np.ndarray, k: int = SKIN_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest LBS weights of each vertex, renormalised to sum 1.

    Args:
        weights: (V, J) LBS weights, rows summing to 1.
    Returns:
        joints: (V, k) uint8 joint indices, largest weight first; a slot with weight 0 holds
            joint 0.
        values: (V, k) float32 weights summing to 1 (to float32 rounding).
    """
    weights = np.asarray(weights, np.float64)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(weights, order, axis=1)
    values = np.where(values > 0.0, values, 0.0)
    values = values / values.sum(axis=1, keepdims=True)
    joints = np.where(values > 0.0, order, 0).astype(np.uint8)
    values = values.astype(np.float32)
    values[:, 0] += 1.0 - values.sum(axis=1, dtype=np.float32)  # exact float32 sum on the largest
    return joints, values


def rest_world_transforms(rest: np.ndarray) -> np.ndarray:
    """(24, 4, 4) rest world transforms of the joint nodes: translations to the rest joints."""
    world = np.tile(np.eye(4), (len(rest), 1, 1))
    world[:, :3, 3] = rest
    return world


def continuous_quaternions(quats: np.ndarray) -> np.ndarray:
    """(N, ..., 4) unit quaternions with each key's sign chosen nearest the previous key's."""
    out = np.array(quats, np.float64)
    for t in range(1, len(out)):
        flip = np.sum(out[t] * out[t - 1], axis=-1) < 0.0
        out[t] = np.where(flip[..., None], -out[t], out[t])
    return out


def _column_major(mats: np.ndarray) -> np.ndarray:
    """(..., 4, 4) matrices -> (..., 16) in glTF's column-major order."""
    return np.swapaxes(mats, -1, -2).reshape(*mats.shape[:-2], 16)


class _Blob:
    """The binary chunk, built one accessor at a time (each view 4-byte aligned)."""

    def __init__(self, gltf) -> None:
        self.gltf = gltf
        self.data = bytearray()

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append ``array`` (N, width) or (N,) as an accessor; returns its index."""
        import pygltflib

        array = np.ascontiguousarray(array)
        width = 1 if array.ndim == 1 else array.shape[1]
        component = {np.float32: FLOAT, np.uint8: UNSIGNED_BYTE, np.uint32: UNSIGNED_INT}[
            array.dtype.type
        ]
        self.data.extend(b"\0" * (-len(self.data) % 4))
        view = pygltflib.BufferView(
            buffer=0, byteOffset=len(self.data), byteLength=array.nbytes, target=target
        )
        self.data.extend(array.tobytes())
        self.gltf.bufferViews.append(view)
        accessor = pygltflib.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1,
            componentType=component,
            count=len(array),
            type=_TYPES[width],
        )
        if bounds:
            flat = array.reshape(len(array), width)
            accessor.min = flat.min(axis=0).tolist()
            accessor.max = flat.max(axis=0).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


def motion_gltf(motion: TrackMotion, params: Mapping[str, np.ndarray]):
    """The glTF of one track (module docstring), a ``pygltflib.GLTF2`` with its binary blob.

    Args:
        motion: the track (:func:`src.motion.export.result_motion`).
        params: body-model arrays (:func:`src.smpl.load_smpl_params`).
    """
    import pygltflib

    betas = np.asarray(motion.betas, np.float64)
    verts = params["v_template"] + np.einsum("vck,k->vc", params["shapedirs"], betas)  # (V, 3)
    rest = np.asarray(motion.rest, np.float64)
    local, root_pos = y_up_motion(motion.poses, rest, motion.trans)  # (N, 24, 3, 3), (N, 3)
    num_frames = len(local)
    quats = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat()  # scipy: x, y, z, w
    quats = continuous_quaternions(quats.reshape(num_frames, len(SMPL_JOINT_NAMES), 4))
    joints, weights = top_weights(params["weights"])
    translations = skeleton_offsets(rest)
    translations[0] = rest[0]

    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0", generator=GENERATOR))
    blob = _Blob(gltf)
    positions = blob.add(verts.astype(np.float32), ARRAY_BUFFER, bounds=True)
    joints_0 = blob.add(joints, ARRAY_BUFFER)
    weights_0 = blob.add(weights, ARRAY_BUFFER)
    indices = blob.add(np.asarray(params["f"]).astype(np.uint32).ravel(), ELEMENT_ARRAY_BUFFER)
    ibm = np.linalg.inv(rest_world_transforms(rest))
    inverse_bind = blob.add(_column_major(ibm).astype(np.float32))
    times = blob.add((np.arange(num_frames) / motion.fps).astype(np.float32), bounds=True)

    first_joint = 1  # node 0: the skinned mesh (a scene root, no transform, as glTF asks)
    nodes = [pygltflib.Node(name=MESH_NAME, mesh=0, skin=0)]
    for j, name in enumerate(SMPL_JOINT_NAMES):
        children = [first_joint + c for c, p in enumerate(SMPL_PARENTS) if p == j]
        nodes.append(
            pygltflib.Node(
                name=name, translation=translations[j].tolist(), children=children or None
            )
        )
    gltf.nodes = nodes
    gltf.scenes = [pygltflib.Scene(nodes=[0, first_joint])]
    gltf.scene = 0
    primitive = pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=positions, JOINTS_0=joints_0, WEIGHTS_0=weights_0),
        indices=indices,
        mode=TRIANGLES,
    )
    gltf.meshes = [pygltflib.Mesh(name=MESH_NAME, primitives=[primitive])]
    joint_nodes = list(range(first_joint, first_joint + len(SMPL_JOINT_NAMES)))
    gltf.skins = [
        pygltflib.Skin(joints=joint_nodes, inverseBindMatrices=inverse_bind, skeleton=first_joint)
    ]

    samplers, channels = [], []
    for j in range(len(SMPL_JOINT_NAMES)):
        output = blob.add(quats[:, j].astype(np.float32))
        samplers.append(
            pygltflib.AnimationSampler(input=times, output=output, interpolation="LINEAR")
        )
        target = pygltflib.AnimationChannelTarget(node=first_joint + j, path="rotation")
        channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1, target=target))
    output = blob.add(root_pos.astype(np.float32))
    samplers.append(pygltflib.AnimationSampler(input=times, output=output, interpolation="LINEAR"))
    target = pygltflib.AnimationChannelTarget(node=first_joint, path="translation")
    channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1, target=target))
    gltf.animations = [
        pygltflib.Animation(name=ANIMATION_NAME, samplers=samplers, channels=channels)
    ]

    blob.data.extend(b"\0" * (-len(blob.data) % 4))
    gltf.buffers = [pygltflib.Buffer(byteLength=len(blob.data))]
    gltf.set_binary_blob(bytes(blob.data))
    return gltf


def write_glb(path: str | os.PathLike, gltf) -> Path:
    """Write ``gltf`` as a binary .glb (a temp name next to ``path``, then renamed)."""
    from src.smpl.io import atomic_write

    data = b"".join(gltf.save_to_bytes())
    return atomic_write(path, lambda fh: fh.write(data))
