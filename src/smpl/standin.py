"""A generated, licence-free stand-in body model in SMPL's file format.

SMPL itself may not be redistributed, so tests and out-of-the-box runs use this stand-in: a
deterministic human-like mesh (tapered capsules around a T-pose skeleton, y up, +x the body's
left, +z its front, about 1.7 m tall) with the same keys and shapes as an SMPL ``.pkl``:

- ``v_template`` (V, 3), ``f`` (F, 3) consistently oriented (every part a closed surface),
- ``J_regressor`` sparse (24, V): each skeleton joint a convex combination of nearby vertices,
- ``kintree_table`` (2, 24): SMPL's kinematic tree (``src.joints.SMPL_PARENTS``),
- ``weights`` (V, 24): smooth skinning weights from the distance to the bones of the part,
- ``shapedirs`` (V, 3, 10): height, girth, leg/arm/torso length, shoulder/hip width, belly,
  head size, limb girth (metres per unit beta),
- ``posedirs`` (V, 3, 207): small corrective offsets near the joints,
- ``cocoplus_regressor`` sparse (25, V): the 25 HMMR joints (docs/original_release.md §4.3) at their
  anatomical spots (heels below/behind the ankles, eyes/ears/nose/head top on the head surface,
  toes on the feet, ...).

It is not SMPL and has none of SMPL's learned statistics; numbers measured with it say nothing
about accuracy with the real model. ``default_standin_path()`` generates it once into
``models/standin/`` inside the repository.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.sparse

from src.constants import NUM_SHAPE, NUM_SMPL_JOINTS, POSE_FEATURE_DIM
from src.joints import HMMR_JOINT_NAMES, SMPL_JOINT_INDEX, SMPL_JOINT_NAMES, SMPL_PARENTS
from src.smpl.io import atomic_write, safe_load_pickle, validate_smpl_params

STANDIN_VERSION = 1  # bump when the generator changes; cached files are then regenerated
DEFAULT_NUM_VERTS = 6890  # SMPL's count, so that everything downstream sees the real size
MIN_NUM_VERTS = 300
STANDIN_FILENAME = "standin_body_model.pkl"

Vec = tuple[float, float, float]

# --------------------------------------------------------------------------------------------
# Skeleton (rest pose, metres), roughly at SMPL's rest joint locations. Left side and midline;
# the right side is the mirror image (x -> -x).
_REST_JOINTS: dict[str, Vec] = {
    "pelvis": (0.0, -0.23, 0.01),
    "l_hip": (0.07, -0.32, 0.01),
    "spine1": (0.0, -0.12, 0.0),
    "l_knee": (0.10, -0.70, 0.01),
    "spine2": (0.0, 0.01, 0.015),
    "l_ankle": (0.09, -1.10, -0.03),
    "spine3": (0.0, 0.06, 0.02),
    "l_foot": (0.11, -1.15, 0.09),
    "neck": (0.0, 0.28, -0.005),
    "l_collar": (0.075, 0.19, -0.005),
    "head": (0.0, 0.36, 0.02),
    "l_shoulder": (0.17, 0.225, -0.015),
    "l_elbow": (0.43, 0.215, -0.03),
    "l_wrist": (0.68, 0.22, -0.03),
    "l_hand": (0.77, 0.215, -0.035),
}
_HEAD_TOP: Vec = (0.0, 0.525, 0.025)
_LEAF_ENDS: dict[str, Vec] = {  # end of the bone of joints without children
    "head": _HEAD_TOP,
    "l_foot": (0.115, -1.15, 0.18),
    "l_hand": (0.86, 0.215, -0.035),
}
_BONE_END: dict[str, str] = {  # joint -> joint its bone points to (multi-child joints chosen)
    "pelvis": "spine1",
    "l_hip": "l_knee",
    "spine1": "spine2",
    "l_knee": "l_ankle",
    "spine2": "spine3",
    "l_ankle": "l_foot",
    "spine3": "neck",
    "neck": "head",
    "l_collar": "l_shoulder",
    "l_shoulder": "l_elbow",
    "l_elbow": "l_wrist",
    "l_wrist": "l_hand",
}
_BONE_SCALE: dict[str, float] = {  # typical flesh thickness around each bone (m)
    "pelvis": 0.12,
    "l_hip": 0.075,
    "spine1": 0.12,
    "l_knee": 0.048,
    "spine2": 0.12,
    "l_ankle": 0.04,
    "spine3": 0.12,
    "l_foot": 0.035,
    "neck": 0.05,
    "l_collar": 0.06,
    "head": 0.08,
    "l_shoulder": 0.045,
    "l_elbow": 0.035,
    "l_wrist": 0.025,
    "l_hand": 0.02,
}
_SKIN_TEMPERATURE = 0.5  # softmax width on (distance / bone scale)
_MIN_SKIN_WEIGHT = 1e-3


def _mirror_name(name: str) -> str:
    if name.startswith("l_"):
        return "r_" + name[2:]
    if name.startswith("r_"):
        return "l_" + name[2:]
    return name


def _mirror(p: Vec) -> Vec:
    return (-p[0], p[1], p[2])


def _with_right_side(table: dict[str, Vec]) -> dict[str, Vec]:
    out = dict(table)
    for name, value in table.items():
        out[_mirror_name(name)] = _mirror(value) if name.startswith("l_") else value
    return out


# --------------------------------------------------------------------------------------------
# Mesh parts: tapered capsules with elliptic cross-sections


@dataclass(frozen=True)
class _Part:
    """A closed tube around the segment start -> end, with elliptic caps beyond both ends.

    ``profile`` lists (t, r1, r2): radii along e1 (from ``ref``) and e2 = axis x e1 at the
    fraction t of the segment, linearly interpolated. ``seg`` x ``rings`` is the resolution at
    the design vertex count. ``joints`` are the skeleton joints allowed to skin it.
    """

    name: str
    start: Vec
    end: Vec
    profile: tuple[tuple[float, float, float], ...]
    ref: Vec
    caps: tuple[float, float]
    joints: tuple[str, ...]
    seg: int
    rings: int

    def mirrored(self) -> _Part:
        return _Part(
            _mirror_name(self.name),
            _mirror(self.start),
            _mirror(self.end),
            self.profile,
            _mirror(self.ref),
            self.caps,
            tuple(_mirror_name(j) for j in self.joints),
            self.seg,
            self.rings,
        )


_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
_LEFT_AND_MID_PARTS = (
    _Part(
        "torso", (0.0, -0.36, 0.01), (0.0, 0.25, -0.005),
        ((0.0, 0.15, 0.10), (0.2, 0.165, 0.11), (0.4, 0.14, 0.10), (0.65, 0.155, 0.11),
         (0.85, 0.17, 0.10), (1.0, 0.15, 0.08)),
        _X, (0.05, 0.04),
        ("pelvis", "l_hip", "r_hip", "spine1", "spine2", "spine3", "neck", "l_collar",
         "r_collar", "l_shoulder", "r_shoulder"),
        48, 36,
    ),
    _Part("neck", (0.0, 0.22, -0.005), (0.0, 0.36, 0.01), ((0.0, 0.055, 0.052), (1.0, 0.05, 0.05)),
          _X, (0.02, 0.02), ("spine3", "neck", "head"), 28, 6),
    _Part("head", (0.0, 0.36, 0.025), (0.0, 0.47, 0.025),
          ((0.0, 0.062, 0.08), (0.5, 0.075, 0.095), (1.0, 0.072, 0.09)),
          _X, (0.055, 0.055), ("neck", "head"), 40, 26),
    _Part("nose", (0.0, 0.41, 0.105), (0.0, 0.40, 0.13), ((0.0, 0.011, 0.013), (1.0, 0.009, 0.01)),
          _X, (0.005, 0.012), ("head",), 8, 1),
    _Part("l_upper_arm", _REST_JOINTS["l_shoulder"], _REST_JOINTS["l_elbow"],
          ((0.0, 0.05, 0.05), (1.0, 0.038, 0.04)), _Y, (0.045, 0.04),
          ("l_collar", "l_shoulder", "l_elbow"), 24, 16),
    _Part("l_forearm", _REST_JOINTS["l_elbow"], _REST_JOINTS["l_wrist"],
          ((0.0, 0.038, 0.04), (0.3, 0.04, 0.042), (1.0, 0.026, 0.03)), _Y, (0.035, 0.03),
          ("l_shoulder", "l_elbow", "l_wrist"), 20, 16),
    _Part("l_hand", _REST_JOINTS["l_wrist"], (0.80, 0.215, -0.035),
          ((0.0, 0.03, 0.014), (1.0, 0.045, 0.013)), _Z, (0.02, 0.06),
          ("l_elbow", "l_wrist", "l_hand"), 16, 10),
    _Part("l_thigh", _REST_JOINTS["l_hip"], _REST_JOINTS["l_knee"],
          ((0.0, 0.085, 0.09), (1.0, 0.055, 0.058)), _X, (0.07, 0.05),
          ("pelvis", "l_hip", "l_knee"), 32, 16),
    _Part("l_shin", _REST_JOINTS["l_knee"], _REST_JOINTS["l_ankle"],
          ((0.0, 0.052, 0.055), (0.3, 0.055, 0.06), (1.0, 0.035, 0.038)), _X, (0.05, 0.04),
          ("l_hip", "l_knee", "l_ankle"), 24, 16),
    _Part("l_foot", (0.09, -1.125, -0.05), (0.11, -1.14, 0.13),
          ((0.0, 0.035, 0.04), (1.0, 0.045, 0.025)), _X, (0.035, 0.05),
          ("l_knee", "l_ankle", "l_foot"), 20, 10),
)  # fmt: skip
_REMAINDER_PART = "nose"  # its ring takes the vertices left over to hit the exact count


def _all_parts() -> tuple[_Part, ...]:
    parts: list[_Part] = []
    for part in _LEFT_AND_MID_PARTS:
        parts.append(part)
        if part.name.startswith("l_"):
            parts.append(part.mirrored())
    return tuple(parts)


def _resolution(parts: tuple[_Part, ...], num_verts: int) -> dict[str, tuple[int, int]]:
    """(segments, rings) per part so that sum(seg * rings + 2) == num_verts exactly."""
    if num_verts < MIN_NUM_VERTS:
        raise ValueError(f"stand-in body model needs at least {MIN_NUM_VERTS} vertices")
    scale = np.sqrt(num_verts / DEFAULT_NUM_VERTS)
    res = {
        p.name: (max(4, 2 * round(p.seg * scale / 2)), max(2, round(p.rings * scale)))
        for p in parts
        if p.name != _REMAINDER_PART
    }
    torso_seg, torso_rings = res["torso"]

    def leftover() -> int:  # vertices for the remainder part's single ring
        return num_verts - sum(s * r + 2 for s, r in res.values()) - 2

    while leftover() < 3:
        torso_rings -= 1
        res["torso"] = (torso_seg, torso_rings)
    while leftover() >= 3 + torso_seg:
        torso_rings += 1
        res["torso"] = (torso_seg, torso_rings)
    res[_REMAINDER_PART] = (leftover(), 1)
    return res


def _frame(part: _Part) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Unit axis, e1, e2 (right-handed: e1 x e2 = axis) and the segment length."""
    axis = np.subtract(part.end, part.start)
    length = float(np.linalg.norm(axis))
    axis = axis / length
    e1 = np.asarray(part.ref, dtype=np.float64)
    e1 = e1 - axis * (e1 @ axis)
    e1 /= np.linalg.norm(e1)
    return axis, e1, np.cross(axis, e1), length


def _radii(part: _Part, z: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """(r1, r2) at axial positions z (0 at start, length at end), elliptic caps beyond."""
    t_knots, r1_knots, r2_knots = (np.array(c) for c in zip(*part.profile, strict=True))
    t = np.clip(z / length, 0.0, 1.0)
    cap0, cap1 = part.caps
    over = np.maximum(np.maximum(-z / cap0, (z - length) / cap1), 0.0)
    factor = np.sqrt(np.clip(1.0 - over**2, 0.0, 1.0))
    return np.interp(t, t_knots, r1_knots) * factor, np.interp(t, t_knots, r2_knots) * factor


def _ring_positions(part: _Part, rings: int, length: float) -> np.ndarray:
    """Axial positions of the rings, equally spaced along the meridian's arc length."""
    cap0, cap1 = part.caps
    z = np.linspace(-cap0, length + cap1, 4001)
    r1, r2 = _radii(part, z, length)
    meridian = 0.5 * (r1 + r2)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(z), np.diff(meridian)))])
    targets = arc[-1] * np.arange(1, rings + 1) / (rings + 1)
    return np.interp(targets, arc, z)


@dataclass
class _PartMesh:
    vertices: np.ndarray  # (n, 3)
    faces: np.ndarray  # (m, 3) local indices
    radial: np.ndarray  # (n, 3) offset of each vertex from the part's axis


def _tube_mesh(part: _Part, seg: int, rings: int) -> _PartMesh:
    """Closed, outward-oriented tube: start pole, rings x seg vertices, end pole."""
    axis, e1, e2, length = _frame(part)
    z = _ring_positions(part, rings, length)  # (rings,)
    r1, r2 = _radii(part, z, length)
    angle = 2.0 * np.pi * np.arange(seg) / seg
    radial = (r1[:, None, None] * np.cos(angle)[None, :, None] * e1
              + r2[:, None, None] * np.sin(angle)[None, :, None] * e2)  # fmt: skip
    centres = np.asarray(part.start) + z[:, None] * axis  # (rings, 3)
    ring_pts = centres[:, None, :] + radial
    start_pole = np.asarray(part.start) - part.caps[0] * axis
    end_pole = np.asarray(part.end) + part.caps[1] * axis
    vertices = np.concatenate([start_pole[None], ring_pts.reshape(-1, 3), end_pole[None]])
    radial_all = np.concatenate([np.zeros((1, 3)), radial.reshape(-1, 3), np.zeros((1, 3))])
    faces = _tube_faces(seg, rings)
    return _PartMesh(vertices, faces, radial_all)


def _tube_faces(seg: int, rings: int) -> np.ndarray:
    """Triangles of a tube with vertex 0 = start pole, 1 + i*seg + j = ring i, last = end pole."""
    j = np.arange(seg)
    jn = (j + 1) % seg
    ring = lambda i, k: 1 + i * seg + k  # noqa: E731
    faces = [np.stack([np.zeros(seg, int), ring(0, jn), ring(0, j)], 1)]
    for i in range(rings - 1):
        a, b, c, d = ring(i, j), ring(i, jn), ring(i + 1, j), ring(i + 1, jn)
        faces += [np.stack([a, b, c], 1), np.stack([b, d, c], 1)]
    end = 1 + rings * seg
    faces.append(np.stack([np.full(seg, end), ring(rings - 1, j), ring(rings - 1, jn)], 1))
    return np.concatenate(faces).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Assembly


@dataclass
class _Mesh:
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    radial: np.ndarray  # (V, 3)
    part_of: np.ndarray  # (V,) index into parts
    parts: tuple[_Part, ...]

    def part_mask(self, *names: str) -> np.ndarray:
        ids = [i for i, p in enumerate(self.parts) if p.name in names]
        return np.isin(self.part_of, ids)


def _build_mesh(num_verts: int) -> _Mesh:
    parts = _all_parts()
    res = _resolution(parts, num_verts)
    verts, faces, radial, part_of = [], [], [], []
    offset = 0
    for idx, part in enumerate(parts):
        mesh = _tube_mesh(part, *res[part.name])
        verts.append(mesh.vertices)
        faces.append(mesh.faces + offset)
        radial.append(mesh.radial)
        part_of.append(np.full(len(mesh.vertices), idx))
        offset += len(mesh.vertices)
    return _Mesh(
        np.concatenate(verts),
        np.concatenate(faces),
        np.concatenate(radial),
        np.concatenate(part_of),
        parts,
    )


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points (V, 3) to the segment a-b."""
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _bones() -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Skeleton joint name -> (bone start, bone end, flesh scale)."""
    joints = _with_right_side(_REST_JOINTS)
    ends = _with_right_side(_LEAF_ENDS)
    bones = {}
    for name in SMPL_JOINT_NAMES:
        left = _mirror_name(name) if name.startswith("r_") else name
        if left in _BONE_END:
            end = joints[_mirror_name(_BONE_END[left]) if name != left else _BONE_END[left]]
        else:
            end = ends[name]
        bones[name] = (np.asarray(joints[name]), np.asarray(end), _BONE_SCALE[left])
    return bones


def _skinning_weights(mesh: _Mesh) -> np.ndarray:
    """(V, 24) weights: softmax of -(d / scale)^2 over the bones allowed for each part."""
    bones = _bones()
    weights = np.zeros((len(mesh.vertices), NUM_SMPL_JOINTS))
    for idx, part in enumerate(mesh.parts):
        mask = mesh.part_of == idx
        pts = mesh.vertices[mask]
        cols = [SMPL_JOINT_INDEX[j] for j in part.joints]
        dist = np.stack([_segment_distance(pts, *bones[j][:2]) / bones[j][2] for j in part.joints])
        logits = -(dist**2) / (2.0 * _SKIN_TEMPERATURE**2)
        w = np.exp(logits - logits.max(axis=0))
        w /= w.sum(axis=0)
        weights[np.ix_(mask, cols)] = w.T
    weights[weights < _MIN_SKIN_WEIGHT] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def _convex_weights(candidates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 whose combination of candidates (n, 3) is target.

    Non-negative least squares with heavy rows for the target and the sum, and a ridge that
    spreads the weight over the candidates (at a cost of well under a millimetre).
    """
    n = len(candidates)
    heavy, ridge = 100.0, 0.03
    a = np.vstack([heavy * candidates.T, heavy * np.ones((1, n)), ridge * np.eye(n)])
    b = np.concatenate([heavy * target, [heavy], np.zeros(n)])
    w, _ = scipy.optimize.nnls(a, b, maxiter=50 * n)
    w[w < 1e-3 * w.max()] = 0.0
    return w / w.sum()


def _regress_point(mesh: _Mesh, target: Vec, parts: tuple[str, ...], surface: bool) -> np.ndarray:
    """(V,) convex vertex weights placing a point at ``target`` from the named parts' vertices.

    A ``surface`` target is first snapped to the nearest vertex. Candidates are the part
    vertices within a radius (at least 24 of them) that grows until the combination lands
    within 0.5 mm of the target.
    """
    ids = np.flatnonzero(mesh.part_mask(*parts))
    target_arr = np.asarray(target, dtype=np.float64)
    dist = np.linalg.norm(mesh.vertices[ids] - target_arr, axis=1)
    if surface:
        target_arr = mesh.vertices[ids[np.argmin(dist)]]
        dist = np.linalg.norm(mesh.vertices[ids] - target_arr, axis=1)
    radius = max(0.015, float(np.sort(dist)[min(23, len(dist) - 1)]))
    best = None
    for _ in range(16):
        sel = ids[dist <= radius]
        w = _convex_weights(mesh.vertices[sel], target_arr)
        err = np.linalg.norm(w @ mesh.vertices[sel] - target_arr)
        if best is None or err < best[0]:
            best = (err, sel, w)
        if err < 5e-4 or len(sel) == len(ids):
            break
        radius *= 1.3
    row = np.zeros(len(mesh.vertices))
    row[best[1]] = best[2]
    return row


_SKELETON_REGRESSOR_PARTS: dict[str, tuple[str, ...]] = {
    "pelvis": ("torso",),
    "l_hip": ("torso", "l_thigh"),
    "spine1": ("torso",),
    "l_knee": ("l_thigh", "l_shin"),
    "spine2": ("torso",),
    "l_ankle": ("l_shin", "l_foot"),
    "spine3": ("torso",),
    "l_foot": ("l_foot",),
    "neck": ("torso", "neck"),
    "l_collar": ("torso",),
    "head": ("neck", "head"),
    "l_shoulder": ("torso", "l_upper_arm"),
    "l_elbow": ("l_upper_arm", "l_forearm"),
    "l_wrist": ("l_forearm", "l_hand"),
    "l_hand": ("l_hand",),
}

# HMMR joint (left side and midline) -> (target point, parts whose vertices place it).
# Face points, the head top and the toes lie on the surface; the rest inside the body.
_SURFACE_JOINTS = ("head_top", "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_big_toe",
                   "r_big_toe", "l_small_toe", "r_small_toe")  # fmt: skip
_HMMR_TARGETS: dict[str, tuple[Vec, tuple[str, ...]]] = {
    "l_heel": ((0.09, -1.125, -0.05), ("l_shin", "l_foot")),
    "l_knee": (_REST_JOINTS["l_knee"], ("l_thigh", "l_shin")),
    "l_hip": ((0.08, -0.33, 0.01), ("torso", "l_thigh")),
    "l_wrist": (_REST_JOINTS["l_wrist"], ("l_forearm", "l_hand")),
    "l_elbow": (_REST_JOINTS["l_elbow"], ("l_upper_arm", "l_forearm")),
    "l_shoulder": (_REST_JOINTS["l_shoulder"], ("torso", "l_upper_arm")),
    "neck": ((0.0, 0.27, -0.01), ("torso", "neck")),
    "head_top": (_HEAD_TOP, ("head",)),
    "nose": ((0.0, 0.398, 0.142), ("nose",)),
    "l_eye": ((0.032, 0.445, 0.11), ("head",)),
    "l_ear": ((0.078, 0.415, 0.01), ("head",)),
    "l_big_toe": ((0.085, -1.15, 0.17), ("l_foot",)),
    "l_small_toe": ((0.14, -1.15, 0.13), ("l_foot",)),
    "l_ankle": (_REST_JOINTS["l_ankle"], ("l_shin", "l_foot")),
}


def hmmr_joint_targets() -> dict[str, tuple[Vec, tuple[str, ...]]]:
    """All 25 HMMR joint names -> (rest-pose target, parts), right side mirrored."""
    out = {}
    for name, (point, parts) in _HMMR_TARGETS.items():
        out[name] = (point, parts)
        if name.startswith("l_"):
            out[_mirror_name(name)] = (_mirror(point), tuple(_mirror_name(p) for p in parts))
    return out


def _skeleton_targets() -> dict[str, tuple[Vec, tuple[str, ...]]]:
    joints = _with_right_side(_REST_JOINTS)
    out = {}
    for name in SMPL_JOINT_NAMES:
        left = _mirror_name(name) if name.startswith("r_") else name
        parts = _SKELETON_REGRESSOR_PARTS[left]
        if left != name:
            parts = tuple(_mirror_name(p) for p in parts)
        out[name] = (joints[name], parts)
    return out


def _regressor(
    mesh: _Mesh, names: tuple[str, ...], targets: dict[str, tuple[Vec, tuple[str, ...]]]
) -> np.ndarray:
    """(len(names), V) regressor rows, one convex combination per target."""
    return np.stack(
        [_regress_point(mesh, *targets[name], surface=name in _SURFACE_JOINTS) for name in names]
    )


# --------------------------------------------------------------------------------------------
# Blend shapes


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _shape_dirs(mesh: _Mesh) -> np.ndarray:
    """(V, 3, 10) shape blend shapes, metres per unit beta."""
    v, radial = mesh.vertices, mesh.radial
    x, y = v[:, 0], v[:, 1]
    joints = _with_right_side(_REST_JOINTS)
    y_hip, y_neck, y_pelvis = joints["l_hip"][1], joints["neck"][1], joints["pelvis"][1]
    x_sh, x_tip = joints["l_shoulder"][0], _LEAF_ENDS["l_hand"][0]
    y_sole = -1.17
    head = mesh.part_mask("head", "nose")
    limbs = ~mesh.part_mask("torso", "neck", "head", "nose")
    torso = mesh.part_mask("torso")
    zeros = np.zeros_like(x)
    dirs = np.zeros((len(v), 3, NUM_SHAPE))
    dirs[:, :, 0] = 0.035 * (v - np.array([0.0, y_pelvis, 0.0]))  # overall size
    dirs[:, :, 1] = np.where(head[:, None], 0.03, 0.15) * radial  # girth
    leg = np.clip((y_hip - y) / (y_hip - y_sole), 0.0, 1.0)
    dirs[:, :, 2] = np.stack([zeros, -0.06 * leg, zeros], 1)  # leg length
    arm = np.sign(x) * np.clip((np.abs(x) - x_sh) / (x_tip - x_sh), 0.0, 1.0)
    dirs[:, :, 3] = np.stack([0.05 * arm, zeros, zeros], 1)  # arm length
    trunk = np.clip((y - y_pelvis) / (y_neck - y_pelvis), 0.0, 1.0)
    dirs[:, :, 4] = np.stack([zeros, 0.04 * trunk, zeros], 1)  # torso length
    upper = _smoothstep(y, -0.05, 0.10)
    dirs[:, :, 5] = np.stack([0.03 * np.clip(x / x_sh, -1, 1) * upper, zeros, zeros], 1)
    lower = 1.0 - _smoothstep(y, -0.35, -0.10)
    dirs[:, :, 6] = np.stack([0.025 * np.clip(x / 0.15, -1, 1) * lower, zeros, zeros], 1)
    front = np.clip(radial[:, 2] / 0.1, 0.0, 1.0) * torso * np.exp(-(((y + 0.12) / 0.12) ** 2))
    dirs[:, :, 7] = np.stack([zeros, zeros, 0.04 * front], 1)  # belly
    head_centre = np.array([0.0, 0.415, 0.025])
    dirs[:, :, 8] = 0.08 * head[:, None] * (v - head_centre)  # head size
    dirs[:, :, 9] = 0.12 * limbs[:, None] * radial  # limb girth
    return dirs


def _pose_dirs(mesh: _Mesh, weights: np.ndarray) -> np.ndarray:
    """(V, 3, 207) small corrective offsets along the surface normal near each joint."""
    norm = np.linalg.norm(mesh.radial, axis=1, keepdims=True)
    outward = np.where(norm > 1e-9, mesh.radial / np.maximum(norm, 1e-9), 0.0)
    dirs = np.zeros((len(mesh.vertices), 3, POSE_FEATURE_DIM))
    for k in range(1, NUM_SMPL_JOINTS):
        bump = 4.0 * weights[:, k] * (1.0 - weights[:, k])  # peaks where joints blend
        for m in range(9):
            coef = 0.006 * np.cos(0.7 * (m + 1) + 1.3 * k)
            dirs[:, :, 9 * (k - 1) + m] = coef * bump[:, None] * outward
    return dirs


# --------------------------------------------------------------------------------------------
# Public API


def build_standin_params(num_verts: int = DEFAULT_NUM_VERTS) -> dict[str, object]:
    """The stand-in model as an SMPL-style dict (sparse regressors as scipy csc matrices).

    Deterministic: the same ``num_verts`` always gives the same arrays.
    """
    mesh = _build_mesh(num_verts)
    weights = _skinning_weights(mesh)
    j_regressor = _regressor(mesh, SMPL_JOINT_NAMES, _skeleton_targets())
    cocoplus = _regressor(mesh, HMMR_JOINT_NAMES, hmmr_joint_targets())
    kintree = np.stack([np.asarray(SMPL_PARENTS, np.int64), np.arange(NUM_SMPL_JOINTS)])
    kintree[0, 0] = 4294967295  # as SMPL stores the root's parent (uint32 -1)
    return {
        "v_template": mesh.vertices,
        "f": mesh.faces.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(j_regressor),
        "J": j_regressor @ mesh.vertices,
        "kintree_table": kintree,
        "weights": weights,
        "shapedirs": _shape_dirs(mesh),
        "posedirs": _pose_dirs(mesh, weights),
        "cocoplus_regressor": scipy.sparse.csc_matrix(cocoplus),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "standin_version": STANDIN_VERSION,
        "description": "generated stand-in body model (hmmr-tf2); not SMPL",
    }


def _canonical(params: dict[str, object]) -> dict[str, np.ndarray]:
    """The dict load_smpl_params would return, for validation before writing."""
    out = {k: np.asarray(params[k]) for k in ("v_template", "shapedirs", "posedirs", "weights")}
    out["J_regressor"] = params["J_regressor"].toarray()
    out["joint_regressor"] = params["cocoplus_regressor"].toarray()
    out["kintree_table"] = np.asarray(params["kintree_table"]).copy()
    out["kintree_table"][0, 0] = -1
    out["f"] = np.asarray(params["f"], np.int64)
    return out


def write_standin_model(path: str | os.PathLike, num_verts: int = DEFAULT_NUM_VERTS) -> Path:
    """Generate the stand-in body model and write it as an SMPL-format ``.pkl``.

    Written to a unique temp file in the target folder, then renamed, so concurrent writers and
    readers never see a partial file.
    """
    params = build_standin_params(num_verts)
    validate_smpl_params(_canonical(params), path)
    return atomic_write(path, lambda fh: pickle.dump(params, fh, protocol=2))


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


_checked: set[Path] = set()


def _is_current(path: Path) -> bool:
    """True when ``path`` holds a stand-in of this generator version at the default size."""
    try:
        raw = safe_load_pickle(path)
    except (OSError, ValueError):
        return False
    return (
        isinstance(raw, dict)
        and raw.get("standin_version") == STANDIN_VERSION
        and np.shape(raw.get("v_template")) == (DEFAULT_NUM_VERTS, 3)
    )


def default_standin_path() -> Path:
    """Path of the default stand-in (``models/standin/standin_body_model.pkl`` in the repo).

    Generated on first use (a few seconds) and regenerated when the generator version changed.
    """
    path = _repo_root() / "models" / "standin" / STANDIN_FILENAME
    if path in _checked and path.is_file():
        return path
    if not _is_current(path):
        try:
            write_standin_model(path)
        except OSError as err:
            raise OSError(
                f"{path}: cannot write the stand-in body model ({err}); write one with "
                "`python -m src.smpl standin OUT.pkl` and pass its path instead"
            ) from None
    _checked.add(path)
    return path
