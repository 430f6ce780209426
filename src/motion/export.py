"""Motion out: one track's predictions as a BVH on the body model's 24-joint tree.

The track's motion (:func:`result_motion`: checked theta, mean betas, rest joints, root
trajectory, fps) and its Y-up form (:func:`y_up_motion`) are shared with the glTF export,
:mod:`src.motion.gltf`, which writes the same skeleton and motion on the skinned body mesh.

The file (docs/demo_outputs.md, "BVH export"):

- **Skeleton**: the 24 joints ``src.joints.SMPL_JOINT_NAMES`` (``pelvis``, ``l_hip``, ...) on
  the kinematic tree ``SMPL_PARENTS`` (the body model's ``kintree_table``); the names of the
  ``smpl24`` table, so ``python -m src.motion retarget`` reads the file back. OFFSETs are in
  metres: child minus parent of the rest joints J = J_regressor · (v_template + shapedirs ·
  betas) for the track's mean betas (a BVH has one skeleton; the per-frame betas of a track
  differ by little). The root's OFFSET is zero: its position channels are the pelvis's
  position itself, whether a reader adds the root's offset to them or not (readers differ).
- **Axes (Y up)**: predictions are in the camera frame (x right, y down, z forward, as
  SMPL/HMR). The file is in that frame turned by 180 degrees about x, ``Y_UP_FROM_CAMERA =
  diag(1, -1, -1)``: x right, y up, z towards the camera (right-handed; a person facing the
  camera faces +z, standing along +y: Blender's importer defaults, forward -Z, up Y). Only the
  root changes (rotation C · R_0, position C · p); local rotations do not depend on the frame.
  "Up" is the camera's: a tilted camera gives a tilted ground.
- **Rotations**: ``CHANNELS 3 Zrotation Xrotation Yrotation`` on every joint (the root
  ``Xposition Yposition Zposition`` first), degrees, intrinsic in the listed order:
  R = R_z(z) · R_x(x) · R_y(y) on column vectors (the same as extrinsic y, then x, then z), the
  BVH convention of :mod:`src.motion.bvh`. Angles are continuous over frames: each frame takes
  whichever of its rotation's two Euler triplets, shifted by whole turns, lies nearest the
  previous frame's (no 180 -> -180 jumps for curve editors to interpolate across).
- **Root trajectory** (metres): the pelvis in camera space is J_0 + trans, with ``trans``
  - the demo's ``trans`` when the result has it: the pinhole translation of the original-frame
    camera (focal length ``focal_px``, default max(H, W) frame pixels;
    :func:`src.geometry.camera.approx_translation`), coherent over the video as the crop
    moves;
  - else from the crop camera [s, tx, ty] of theta: t = [tx, ty, 2 f / (224 s)] with
    f = 5000 px (SPIN's and VIBE's convention for the 224 crop). The crop follows the person,
    so this trajectory stays near the crop's centre line and mostly carries depth.
- **Frame time**: 1 / fps, the video's frame rate (a single frame without one: 1 / 30 s).

Numpy only (no TensorFlow): the body model is read with :func:`src.smpl.load_smpl_params`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from src.constants import (
    CAM_SLICE,
    IMG_SIZE,
    NUM_SMPL_JOINTS,
    POSE_SLICE,
    SHAPE_SLICE,
    THETA_DIM,
)
from src.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from src.motion.bvh import Bvh, make_bvh, write_bvh
from src.motion.retarget import rest_joints

EULER_ORDER = "ZXY"  # CHANNELS ... Zrotation Xrotation Yrotation, R = Rz Rx Ry
Y_UP_FROM_CAMERA = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x: y down -> y up
CROP_FOCAL_PX = 5000.0  # focal length for the 224 crop camera (SPIN, VIBE)
STILL_FPS = 30.0  # frame rate written for a single frame without one
BVH_SUFFIXES = (".bvh", ".bvh.gz")
GLTF_SUFFIXES = (".glb",)
FROM_RESULT_TRANS = "the result's 'trans'"
FROM_CROP_CAMERA = f"the crop camera (f = {CROP_FOCAL_PX:g} px)"


def crop_translation(cams: np.ndarray, focal_px: float = CROP_FOCAL_PX) -> np.ndarray:
    """(N, 3) camera-space translation in metres from (N, 3) crop cameras [s, tx, ty].

    t = [tx, ty, 2 f / (224 s)]: a pinhole of focal length ``focal_px`` (crop pixels), centred
    on the crop, that magnifies the body's mid plane as the weak-perspective camera does
    (``approx_translation`` of a 224 x 224 frame).
    """
    cams = np.asarray(cams, np.float64)
    depth = 2.0 * focal_px / (IMG_SIZE * cams[:, :1])
    return np.concatenate([cams[:, 1:], depth], axis=1)


def skeleton_offsets(rest: np.ndarray) -> np.ndarray:
    """(24, 3) BVH OFFSETs: rest joint minus its parent's; zero for the root.

    Args:
        rest: (24, 3) rest joints of the body model, metres.
    """
    rest = np.asarray(rest, np.float64)
    parents = np.asarray(SMPL_PARENTS)
    offsets = rest - rest[np.maximum(parents, 0)]
    offsets[parents < 0] = 0.0
    return offsets


def continuous_euler(angles_deg: np.ndarray) -> np.ndarray:
    """(N, ..., 3) Tait-Bryan angles (degrees) -> the same rotations, continuous over frames.

    A rotation has two triplets, (a, b, c) and (a + 180, 180 - b, c + 180), each defined up to
    whole turns per angle; frame t keeps the one nearest frame t - 1 (sum of absolute
    differences).
    """
    out = np.array(angles_deg, np.float64)
    sign = np.array([1.0, -1.0, 1.0])
    for t in range(1, len(out)):
        prev = out[t - 1]
        candidates = [out[t], 180.0 + sign * out[t]]  # (a, b, c), (a + 180, 180 - b, c + 180)
        candidates = [c - 360.0 * np.round((c - prev) / 360.0) for c in candidates]
        farther = np.abs(candidates[0] - prev).sum(-1) > np.abs(candidates[1] - prev).sum(-1)
        out[t] = np.where(farther[..., None], candidates[1], candidates[0])
    return out


def y_up_motion(
    poses: np.ndarray, rest: np.ndarray, trans: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local joint rotations and the root's position in the Y-up axes (module docstring).

    Args:
        poses: (N, 72) axis-angle, 24 joints, joint 0 the global orientation (camera frame).
        rest: (24, 3) rest joints of the body, metres (model space).
        trans: (N, 3) camera-space translation, metres: the posed body's joints are at their
            model-space positions plus ``trans``.
    Returns:
        local: (N, 24, 3, 3) rotation matrices, each joint's relative to its parent; the
            root's is C · R_0 (C = :data:`Y_UP_FROM_CAMERA`).
        root_pos: (N, 3) the pelvis, C · (J_0 + trans), metres.
    """
    poses = np.asarray(poses, np.float64)
    num_frames = poses.shape[0]
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix()
    local = local.reshape(num_frames, NUM_SMPL_JOINTS, 3, 3)
    local[:, 0] = Y_UP_FROM_CAMERA @ local[:, 0]
    pelvis = np.asarray(trans, np.float64) + np.asarray(rest, np.float64)[0]  # (N, 3)
    return local, pelvis @ Y_UP_FROM_CAMERA.T


def motion_bvh(poses: np.ndarray, rest: np.ndarray, trans: np.ndarray, fps: float) -> Bvh:
    """The BVH of a posed body in Y-up axes (module docstring).

    Args:
        poses, rest, trans: as :func:`y_up_motion`.
        fps: frames per second (> 0).
    """
    local, root_pos = y_up_motion(poses, rest, trans)
    num_frames = local.shape[0]
    bvh = make_bvh(
        SMPL_JOINT_NAMES, SMPL_PARENTS, skeleton_offsets(rest), local, root_pos, 1.0 / fps,
        order=EULER_ORDER,
    )  # fmt: skip
    angles = continuous_euler(bvh.motion[:, 3:].reshape(num_frames, NUM_SMPL_JOINTS, 3))
    motion = np.concatenate([bvh.motion[:, :3], angles.reshape(num_frames, -1)], axis=1)
    return dataclasses.replace(bvh, motion=motion)


def _frames(result: Mapping[str, Any], key: str, width: int, source: str) -> np.ndarray:
    if key not in result:
        raise ValueError(f"{source}: no '{key}' array (expected a demo result, hmmr_output.npz)")
    value = np.asarray(result[key], np.float64)
    if value.ndim != 2 or value.shape[1] != width or len(value) == 0:
        raise ValueError(f"{source}: '{key}' has shape {value.shape}, expected (N >= 1, {width})")
    if not np.isfinite(value).all():
        raise ValueError(f"{source}: '{key}' holds NaN or infinite values")
    return value


def result_fps(result: Mapping[str, Any], num_frames: int, fps: float | None, source: str) -> float:
    """The frame rate to write: ``fps`` if given, else the result's ``fps``, else
    :data:`STILL_FPS` for a single frame (the demo's ``fps`` is 0 for an image)."""
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"--fps must be > 0, got {fps:g}")
        return float(fps)
    try:
        recorded = float(np.asarray(result.get("fps", 0.0)))
    except (TypeError, ValueError):
        raise ValueError(f"{source}: 'fps' is not a number") from None
    if recorded > 0:
        return recorded
    if num_frames == 1:
        return STILL_FPS
    raise ValueError(f"{source}: no frame rate ('fps' missing or {recorded:g}); pass --fps")


@dataclasses.dataclass(frozen=True)
class TrackMotion:
    """One track's motion as the exports write it (BVH, glTF).

    Attributes:
        poses: (N, 72) axis-angle theta[3:75], camera frame.
        betas: (10,) the track's mean shape (an export has one skeleton).
        rest: (24, 3) rest joints J_regressor · (v_template + shapedirs · betas), metres.
        trans: (N, 3) camera-space translation, metres.
        fps: frames per second.
        origin: :data:`FROM_RESULT_TRANS` or :data:`FROM_CROP_CAMERA` (where ``trans`` came
            from).
    """

    poses: np.ndarray
    betas: np.ndarray
    rest: np.ndarray
    trans: np.ndarray
    fps: float
    origin: str


def result_motion(
    result: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    fps: float | None = None,
    source: str = "<result>",
    body_source: str = "body model",
) -> TrackMotion:
    """One track's predictions, checked, with its mean betas, rest joints and trajectory.

    Args:
        result: ``theta`` (N, 85) [cam 3 | pose 72 | shape 10]; optional ``trans`` (N, 3)
            metres (the demo's, preferred) and ``fps``; a demo ``hmmr_output.npz`` as loaded.
        params: body-model arrays (:func:`src.smpl.load_smpl_params`).
        fps: frame rate; None -> the result's.
        source, body_source: the result's and the body model's files, for error messages.
    Raises:
        ValueError: a missing or malformed array (naming ``source``).
    """
    theta = _frames(result, "theta", THETA_DIM, source)
    parents = tuple(int(p) for p in np.asarray(params["kintree_table"])[0])
    if parents != SMPL_PARENTS:
        raise ValueError(f"{body_source}: kinematic tree {parents} is not SMPL's 24-joint tree")
    if "trans" in result:
        trans, origin = _frames(result, "trans", 3, source), FROM_RESULT_TRANS
        if len(trans) != len(theta):
            raise ValueError(f"{source}: {len(trans)} 'trans' rows for {len(theta)} frames")
    else:
        if not (theta[:, CAM_SLICE][:, 0] > 0).all():
            raise ValueError(f"{source}: camera scale s <= 0 in theta; cannot place the body")
        trans, origin = crop_translation(theta[:, CAM_SLICE]), FROM_CROP_CAMERA
    betas = theta[:, SHAPE_SLICE].mean(axis=0)
    rest = rest_joints(params, betas)
    rate = result_fps(result, len(theta), fps, source)
    return TrackMotion(theta[:, POSE_SLICE], betas, rest, trans, rate, origin)


def result_bvh(
    result: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    fps: float | None = None,
    source: str = "<result>",
    body_source: str = "body model",
) -> tuple[Bvh, str]:
    """The BVH of one track's predictions, and where its root trajectory came from.

    Arguments as :func:`result_motion`.

    Returns:
        (bvh, :data:`FROM_RESULT_TRANS` or :data:`FROM_CROP_CAMERA`: the root trajectory's
        origin).
    Raises:
        ValueError: a missing or malformed array (naming ``source``).
    """
    m = result_motion(result, params, fps, source, body_source)
    return motion_bvh(m.poses, m.rest, m.trans, m.fps), m.origin


def write_result_bvh(
    result: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    fps: float | None = None,
    source: str = "<result>",
    body_source: str = "body model",
) -> tuple[Path, Bvh, str]:
    """:func:`result_bvh` written to ``path`` (a temp name, then renamed); also returns the
    BVH and the root trajectory's origin."""
    bvh, origin = result_bvh(result, params, fps, source, body_source)
    return write_bvh(path, bvh), bvh, origin


def load_result(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a result ``.npz`` (no pickles).

    Raises:
        FileNotFoundError, ValueError: one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: result file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"{path}: not a readable .npz result ({reason})") from None


def body_model_for(result: Mapping[str, Any], smpl_model_path: str | None):
    """The body model to take the skeleton from: ``smpl_model_path`` if given, else the file
    the result names (``body_model``) if it exists, else the default (SMPL or the stand-in)."""
    from src.smpl.resolve import resolve_body_model

    if smpl_model_path:
        return resolve_body_model(smpl_model_path)
    recorded = str(np.asarray(result.get("body_model", "")))
    if recorded and Path(recorded).is_file():
        return resolve_body_model(recorded)
    if bool(np.asarray(result.get("standin_body", False))):
        return resolve_body_model("standin")
    return resolve_body_model(None)


def export_result(
    npz: str | os.PathLike,
    bvh_path: str | os.PathLike | None = None,
    fps: float | None = None,
    smpl_model_path: str | None = None,
    gltf_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Read a demo result ``.npz``, write its BVH and/or its glTF (:mod:`src.motion.gltf`).

    Returns:
        dict with ``paths`` (the files written), ``frames``, ``fps``, ``translation`` (the
        root trajectory's origin, see :func:`result_motion`) and ``body_model`` (its
        description).
    Raises:
        FileNotFoundError, ValueError: one line naming the file; nothing is written then.
    """
    from src.smpl import load_smpl_params

    if bvh_path is None and gltf_path is None:
        raise ValueError("nothing to write: give a .bvh and/or a .glb output")
    if bvh_path is not None and not str(bvh_path).endswith(BVH_SUFFIXES):
        raise ValueError(f"{bvh_path}: the output must end in .bvh or .bvh.gz")
    if gltf_path is not None and not str(gltf_path).endswith(GLTF_SUFFIXES):
        raise ValueError(f"{gltf_path}: the output must end in .glb")
    if gltf_path is not None and importlib.util.find_spec("pygltflib") is None:
        raise ValueError(f"{gltf_path}: writing glTF needs pygltflib (pip install -e '.[gltf]')")
    result = load_result(npz)
    body = body_model_for(result, smpl_model_path)
    params = load_smpl_params(body.path)
    motion = result_motion(result, params, fps, str(npz), str(body.path))
    outputs = []  # built in memory first: a bad input writes neither file
    if bvh_path is not None:
        bvh = motion_bvh(motion.poses, motion.rest, motion.trans, motion.fps)
        outputs.append(lambda: write_bvh(bvh_path, bvh))
    if gltf_path is not None:
        from src.motion.gltf import motion_gltf, write_glb

        glb = motion_gltf(motion, params)
        outputs.append(lambda: write_glb(gltf_path, glb))
    return {
        "paths": [write() for write in outputs],
        "frames": len(motion.poses),
        "fps": motion.fps,
        "translation": motion.origin,
        "body_model": body.description,
    }
