"""Retarget BVH motion onto the body model's 24-joint tree: theta[0:72], root trajectory, error.

Method, per output frame and body-model joint j (in tree order), with m(j) the mocap joint of the
skeleton's table (``src.motion.skeletons``):

1. Targets: the mocap bone directions t_c = p[m(c)] - p[m(j)] towards the mocap joints of j's
   children c, skipping bones of zero length in the mocap's rest pose (several body-model joints
   may share a mocap joint); a left/right pair of children (hips, collars) counts as the line
   between them (``bone_vectors``). Rest: the same vectors r_c on the body model's rest joints.
2. A constant C_j aligns the rest poses: the rotation taking r_c onto the mocap's rest bones
   (smallest rotation for one bone, least squares (Kabsch) for several; C of the parent when j
   has no bone to follow: leaves, and joints whose mocap bone has zero length).
3. The global rotation G_j:
   - one bone: the twist-carrying guess H = R_mocap(m(j)) · C_j, then the smallest rotation
     taking H r_c onto t_c (so the bone points exactly where the mocap's does, with the mocap's
     twist about it);
   - several bones (pelvis; the chest where the collars attach): the Kabsch rotation of r_c onto
     t_c (these directions fix all three axes);
   - none: H.
4. theta: the root's axis-angle is G_0; joint j's is G_parent(j)^T · G_j.
5. ``trans`` (metres) puts the midpoint of the body model's posed hips on the midpoint of the
   mocap's hips; the body model keeps its own proportions (betas zeros).

Error: per frame and segment of ``ERROR_SEGMENTS``, the angle (degrees) between the body model's
posed segment and the mocap's.

Conventions: y up, the body's left +x, its front +z (both the body model and the CMU BVH files);
axis-angle and rotation matrices act on column vectors; all math in float64, outputs float32.
Leading reference-pose / blend frames are dropped as ``MANIFEST.tsv`` beside the file says (or
the ``trim`` argument), then frames are resampled (``src.motion.rotations.resample``: every k-th
frame for whole-number ratios such as 120 -> 30 fps, else slerp).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from src.constants import NUM_POSE, NUM_SHAPE, NUM_SMPL_JOINTS
from src.joints import SMPL_JOINT_INDEX, SMPL_LR_PAIRS, SMPL_PARENTS
from src.motion import manifest
from src.motion.bvh import Bvh, forward_kinematics, read_bvh
from src.motion.rotations import kabsch, normalize, resample, swing
from src.motion.skeletons import (
    END_SUFFIX,
    ERROR_SEGMENTS,
    SKELETON_TABLES,
    SkeletonTable,
    detect_skeleton,
)

DEFAULT_FPS = 30.0
MIN_BONE_M = 0.01  # mocap bones shorter than this (in the rest pose) are not followed
CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(c for c, p in enumerate(SMPL_PARENTS) if p == j) for j in range(NUM_SMPL_JOINTS)
)


# ---------------------------------------------------------------------------------------------
# Body model


def rest_joints(params: dict[str, np.ndarray], betas: np.ndarray | None = None) -> np.ndarray:
    """(24, 3) rest joints J_regressor · (v_template + shapedirs · betas), float64."""
    verts = params["v_template"]
    if betas is not None:
        verts = verts + np.einsum("vck,k->vc", params["shapedirs"], np.asarray(betas))
    return params["J_regressor"] @ verts


def load_rest_joints(smpl_model_path: str | os.PathLike | None = None) -> np.ndarray:
    """(24, 3) rest joints of the body model ``--smpl_model_path`` resolves to (betas zeros)."""
    from src.smpl import load_smpl_params
    from src.smpl.resolve import resolve_body_model

    return rest_joints(load_smpl_params(resolve_body_model(smpl_model_path).path))


def pose_to_globals(poses: np.ndarray) -> np.ndarray:
    """(N, 72) axis-angle theta -> (N, 24, 3, 3) global rotations along the kinematic tree."""
    poses = np.asarray(poses, np.float64)
    n = poses.shape[0]
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(n, NUM_SMPL_JOINTS, 3, 3)
    glob = np.empty_like(local)
    for j, p in enumerate(SMPL_PARENTS):
        glob[:, j] = local[:, j] if p < 0 else glob[:, p] @ local[:, j]
    return glob


def posed_joints(poses: np.ndarray, rest: np.ndarray, trans: np.ndarray | None = None):
    """(N, 24, 3) body-model joints posed by theta (N, 72), plus ``trans`` (N, 3) when given."""
    glob = pose_to_globals(poses)
    out = np.empty(glob.shape[:2] + (3,))
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            out[:, j] = rest[j]
        else:
            out[:, j] = out[:, p] + glob[:, p] @ (rest[j] - rest[p])
    return out if trans is None else out + np.asarray(trans, np.float64)[:, None]


# ---------------------------------------------------------------------------------------------
# Mocap side


def mapped_mocap(bvh: Bvh, table: SkeletonTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mocap joints of the table in metres: positions (N, 24, 3), global rotations (N, 24, 3, 3)
    and rest positions (24, 3) (all channels zero)."""
    pos, rot = forward_kinematics(bvh)
    rest_bvh = Bvh(
        bvh.names,
        bvh.parents,
        bvh.offsets,
        bvh.channels,
        bvh.frame_time,
        np.zeros((1, bvh.motion.shape[1])),
        bvh.end_sites,
    )
    rest_pos = forward_kinematics(rest_bvh)[0][0]
    out_pos, out_rot, out_rest = [], [], []
    for name in table.mocap_names:
        base = name.removesuffix(END_SUFFIX)
        j = bvh.index(base)
        if name.endswith(END_SUFFIX):
            end = bvh.end_sites.get(j, np.zeros(3))
            out_pos.append(pos[:, j] + rot[:, j] @ end)
            out_rest.append(rest_pos[j] + end)
        else:
            out_pos.append(pos[:, j])
            out_rest.append(rest_pos[j])
        out_rot.append(rot[:, j])
    scale = table.metres_per_unit
    return (np.stack(out_pos, 1) * scale, np.stack(out_rot, 1), np.stack(out_rest) * scale)


def followed_children(mocap_rest: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Per body-model joint, its children whose mocap bone is at least ``MIN_BONE_M`` long."""
    return tuple(
        tuple(c for c in CHILDREN[j] if np.linalg.norm(mocap_rest[c] - mocap_rest[j]) >= MIN_BONE_M)
        for j in range(NUM_SMPL_JOINTS)
    )


# ---------------------------------------------------------------------------------------------
# Solving


def bone_vectors(points: np.ndarray, joint: int, kids: tuple[int, ...]) -> np.ndarray:
    """(..., K, 3) vectors fixing the rotation of ``joint`` from its followed children ``kids``.

    Normally the bones joint -> child. When the children include a left/right pair (the hips
    below the pelvis, the collars at the chest) the pair's two bones are replaced by the line
    between them (left - right): where the parent joint sits relative to the pair differs from
    skeleton to skeleton (DAZ's hip joint is level with the thighs, the body model's pelvis 9 cm
    above them), so those bones disagree by construction and would tilt the answer.

    Args:
        points: (..., 24, 3) positions of the body-model joints (or their mocap counterparts).
    """
    pair = next(((a, b) for a, b in SMPL_LR_PAIRS if a in kids and b in kids), None)
    if pair is None:
        return points[..., list(kids), :] - points[..., joint : joint + 1, :]
    left, right = (points[..., i, :] for i in pair)
    here = points[..., joint, :]
    vecs = [left - right] + [points[..., c, :] - here for c in kids if c not in pair]
    return np.stack(vecs, axis=-2)


def _solve(rest_dirs: np.ndarray, target_dirs: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Global rotation(s) (..., 3, 3) taking rest_dirs (K, 3) onto target_dirs (..., K, 3);
    ``hint`` (..., 3, 3) gives the twist for K = 1 and the answer for K = 0."""
    k = rest_dirs.shape[0]
    if k == 0:
        return hint
    if k == 1:
        guess = np.einsum("...ab,b->...a", hint, rest_dirs[0])
        return swing(guess, target_dirs[..., 0, :]) @ hint
    return kabsch(rest_dirs, target_dirs)


def rest_alignment(
    body_rest: np.ndarray, mocap_rest: np.ndarray, followed: tuple[tuple[int, ...], ...]
) -> np.ndarray:
    """(24, 3, 3) constants C_j taking the body model's rest bones onto the mocap's rest bones."""
    align = np.empty((NUM_SMPL_JOINTS, 3, 3))
    for j, p in enumerate(SMPL_PARENTS):
        kids = followed[j]
        hint = align[p] if (p >= 0 and not kids) else np.eye(3)
        rest_dirs = normalize(bone_vectors(body_rest, j, kids))
        target = normalize(bone_vectors(mocap_rest, j, kids))
        align[j] = _solve(rest_dirs, target, hint)
    return align


def retarget_globals(
    mocap_pos: np.ndarray, mocap_rot: np.ndarray, mocap_rest: np.ndarray, body_rest: np.ndarray
) -> np.ndarray:
    """(N, 24, 3, 3) body-model global rotations following the mapped mocap joints.

    Args:
        mocap_pos: (N, 24, 3) mapped mocap joint positions (any common unit).
        mocap_rot: (N, 24, 3, 3) their global rotations.
        mocap_rest: (24, 3) their rest positions (same unit as ``mocap_pos``).
        body_rest: (24, 3) the body model's rest joints.
    """
    followed = followed_children(mocap_rest)
    align = rest_alignment(body_rest, mocap_rest, followed)
    glob = np.empty(mocap_rot.shape)
    for j in range(NUM_SMPL_JOINTS):
        kids = followed[j]
        rest_dirs = normalize(bone_vectors(body_rest, j, kids))
        target = normalize(bone_vectors(mocap_pos, j, kids))
        glob[:, j] = _solve(rest_dirs, target, mocap_rot[:, j] @ align[j])
    return glob


def globals_to_pose(glob: np.ndarray) -> np.ndarray:
    """(N, 24, 3, 3) global rotations -> (N, 72) axis-angle theta (root global, others local)."""
    local = np.empty_like(glob)
    for j, p in enumerate(SMPL_PARENTS):
        local[:, j] = glob[:, j] if p < 0 else np.swapaxes(glob[:, p], -1, -2) @ glob[:, j]
    n = glob.shape[0]
    return Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(n, NUM_POSE)


def hips_midpoint(joints: np.ndarray) -> np.ndarray:
    """(N, 3) midpoint of the left and right hip of (N, 24, 3) body-model-ordered joints."""
    return 0.5 * (joints[:, SMPL_JOINT_INDEX["l_hip"]] + joints[:, SMPL_JOINT_INDEX["r_hip"]])


def segment_errors_deg(
    body_joints: np.ndarray, mocap_pos: np.ndarray, mocap_rest: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Angle (degrees) between body-model and mocap segments of ``ERROR_SEGMENTS``.

    Returns:
        (errors (N, S), names (S,)) over the segments whose mocap rest length >= ``MIN_BONE_M``.
    """
    names, errors = [], []
    for name, (a, b) in ERROR_SEGMENTS.items():
        ia, ib = SMPL_JOINT_INDEX[a], SMPL_JOINT_INDEX[b]
        if np.linalg.norm(mocap_rest[ib] - mocap_rest[ia]) < MIN_BONE_M:
            continue
        u = body_joints[:, ib] - body_joints[:, ia]
        v = mocap_pos[:, ib] - mocap_pos[:, ia]
        cross = np.linalg.norm(np.cross(u, v), axis=-1)
        errors.append(np.degrees(np.arctan2(cross, np.sum(u * v, axis=-1))))
        names.append(name)
    return np.stack(errors, axis=1), tuple(names)


# ---------------------------------------------------------------------------------------------
# Files


def _table_for(bvh: Bvh, path: Path, skeleton: str | None) -> SkeletonTable:
    if skeleton is not None:
        if skeleton not in SKELETON_TABLES:
            raise ValueError(
                f"unknown skeleton '{skeleton}', expected one of {list(SKELETON_TABLES)}"
            )
        table = SKELETON_TABLES[skeleton]
        missing = sorted(table.required_joints() - set(bvh.names))
        if missing:
            raise ValueError(
                f"{path}: skeleton '{skeleton}' needs joints {missing}, not in the file"
            )
        return table
    table = detect_skeleton(bvh.names)
    if table is None:
        raise ValueError(
            f"{path}: unknown skeleton (joints {', '.join(bvh.names[:6])}, ...); expected one of "
            f"{list(SKELETON_TABLES)} (src/motion/skeletons.py)"
        )
    return table


def retarget_bvh(
    bvh: Bvh,
    body_rest: np.ndarray,
    fps: float = DEFAULT_FPS,
    trim: int = 0,
    table: SkeletonTable | None = None,
    path: str | os.PathLike = "<bvh>",
) -> dict[str, Any]:
    """Retarget a read BVH (see :func:`retarget_file` for the returned keys)."""
    path = Path(path)
    table = table or _table_for(bvh, path, None)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not 0 <= trim < bvh.num_frames:
        raise ValueError(f"{path}: cannot drop {trim} of {bvh.num_frames} frames")
    bvh = Bvh(
        bvh.names,
        bvh.parents,
        bvh.offsets,
        bvh.channels,
        bvh.frame_time,
        bvh.motion[trim:],
        bvh.end_sites,
    )
    mocap_pos, mocap_rot, mocap_rest = mapped_mocap(bvh, table)
    mocap_pos, mocap_rot, method = resample(mocap_pos, mocap_rot, bvh.fps, fps)
    glob = retarget_globals(mocap_pos, mocap_rot, mocap_rest, body_rest)
    poses = globals_to_pose(glob)
    joints = posed_joints(poses, body_rest)
    trans = hips_midpoint(mocap_pos) - hips_midpoint(joints)
    joints = joints + trans[:, None]
    errors, names = segment_errors_deg(joints, mocap_pos, mocap_rest)
    return {
        "poses": poses.astype(np.float32),
        "trans": trans.astype(np.float32),
        "betas": np.zeros(NUM_SHAPE, np.float32),
        "fps": float(fps),
        "joints": joints.astype(np.float32),
        "bone_angle_error_deg": errors.astype(np.float32),
        "bone_names": names,
        "error_mean_deg": float(errors.mean()),
        "error_p95_deg": float(np.percentile(errors, 95)),
        "skeleton": table.name,
        "source_fps": bvh.fps,
        "trimmed_frames": trim,
        "resampling": method,
    }


def retarget_file(
    path: str | os.PathLike,
    fps: float = DEFAULT_FPS,
    smpl_model_path: str | os.PathLike | None = None,
    trim: int | None = None,
    skeleton: str | None = None,
    body_rest: np.ndarray | None = None,
) -> dict[str, Any]:
    """Read a ``.bvh``/``.bvh.gz`` clip and retarget it onto the body model.

    Args:
        path: the clip.
        fps: output frame rate.
        smpl_model_path: body-model file; None -> the default SMPL file or the generated stand-in
            (``src.smpl.resolve.resolve_body_model``).
        trim: leading frames to drop; None -> as ``MANIFEST.tsv`` beside the clip says (0 without
            one).
        skeleton: a ``SKELETON_TABLES`` name; None -> detected from the joint names.
        body_rest: (24, 3) rest joints to use instead of loading ``smpl_model_path``.

    Returns:
        dict with ``poses`` (N, 72) float32, ``trans`` (N, 3) float32 metres, ``betas`` (10,)
        zeros, ``fps``, ``joints`` (N, 24, 3) float32 posed body-model joints (with trans),
        ``bone_angle_error_deg`` (N, S) float32 and ``bone_names`` (S,), ``error_mean_deg``,
        ``error_p95_deg``, ``skeleton``, ``subject`` (CMU subject, -1 if unknown),
        ``source_fps``, ``trimmed_frames``, ``resampling``.

    Raises:
        FileNotFoundError, ValueError (naming the file).
    """
    path = Path(path)
    bvh = read_bvh(path)
    row = manifest.manifest_row(path)
    if trim is None:
        trim = manifest.leading_frames_to_drop(row)
    table = _table_for(bvh, path, skeleton)
    if body_rest is None:
        body_rest = load_rest_joints(smpl_model_path)
    out = retarget_bvh(bvh, body_rest, fps=fps, trim=trim, table=table, path=path)
    out["subject"] = manifest.subject_of(path, row)
    return out
