"""Joint conventions: the 25 HMMR joints, flips, the LSP subset and maps from other datasets.

Every joint set is a named table; index maps are derived from names, never typed as bare lists
(except where the original release fixes one, which a test then checks against the names).

Maps into the 25 HMMR joints (``FROM_*``) are tuples of length 25: entry ``i`` is the index of the
source joint that becomes HMMR joint ``i``, or ``None`` when the source has no such joint.
``to_hmmr25`` applies a map and fills missing joints with zeros (so visibility 0).

Judgement calls (the original leaves these implicit):
- HMMR joints 0/5 are the LSP "ankles", named heels here as in the original (``R Heel``).
  Human3.6M ankles go to them (as the original's 14-joint list does). Penn Action, COCO and
  OpenPose ankles go to the OpenPose-style ankles 23/24; OpenPose BODY_25 and BlazePose heels go to
  0/5 by name.
- ``head_top`` (13) has no counterpart in COCO, OpenPose or BlazePose (their "head" points are face
  points): always missing there, as in the original (InstaVariety and 3DPW "Head always missing").
  Human3.6M ``head`` (the top of the head) and Penn Action ``head`` map to it.
- ``neck`` (12): OpenPose's neck maps to it by name; COCO-17 and BlazePose have no neck (its
  midpoint of the shoulders is not the LSP neck), so it stays missing.
- Human3.6M ``neck_nose`` is not used for the nose (the original leaves face points empty for
  Human3.6M); its ``thorax`` is the LSP neck, as in the original's index list.
- Penn Action joint order: the original's reader (``read_upenn.py``) takes index 1 as the RIGHT
  shoulder (head, R shoulder, L shoulder, R elbow, ...), although the dataset README lists left
  first; the original trained and evaluated with that order, so it is kept here.
- BlazePose ``foot_index`` (tip of the foot) maps to the big toe; small toes stay missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from src.constants import NUM_KPS, NUM_LSP_JOINTS, NUM_SMPL_JOINTS

Mapping25 = tuple[int | None, ...]

# --------------------------------------------------------------------------------------------
# HMMR 25 joints (docs/original_release.md §4.3)
HMMR_JOINT_NAMES: tuple[str, ...] = (
    "r_heel",  # 0, the LSP "right ankle"
    "r_knee",
    "r_hip",
    "l_hip",
    "l_knee",
    "l_heel",  # 5, the LSP "left ankle"
    "r_wrist",
    "r_elbow",
    "r_shoulder",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "neck",  # 12
    "head_top",  # 13
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_big_toe",
    "r_big_toe",
    "l_small_toe",
    "r_small_toe",
    "l_ankle",  # 23, OpenPose-style ankle
    "r_ankle",  # 24
)
HMMR_JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(HMMR_JOINT_NAMES)}

# The original's horizontal-flip permutation (§4.3); a test derives it from the names.
HMMR_FLIP_PERM: tuple[int, ...] = (
    5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23,
)  # fmt: skip

LSP_JOINTS: int = NUM_LSP_JOINTS  # the first 14 HMMR joints: 3D losses and metrics
LSP_JOINT_NAMES: tuple[str, ...] = HMMR_JOINT_NAMES[:LSP_JOINTS]
LSP_FLIP_PERM: tuple[int, ...] = HMMR_FLIP_PERM[:LSP_JOINTS]

# Pelvis used for alignment = midpoint of the two hips.
PELVIS_JOINTS: tuple[int, int] = (HMMR_JOINT_INDEX["r_hip"], HMMR_JOINT_INDEX["l_hip"])

# --------------------------------------------------------------------------------------------
# SMPL 24-joint skeleton (kinematic tree of the SMPL model files)
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "l_hip",
    "r_hip",
    "spine1",
    "l_knee",
    "r_knee",
    "spine2",
    "l_ankle",
    "r_ankle",
    "spine3",
    "l_foot",
    "r_foot",
    "neck",
    "l_collar",
    "r_collar",
    "head",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hand",
    "r_hand",
)
SMPL_JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip

# Left/right pairs swapped by the pose reflection (§4.5).
SMPL_LR_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23),
)  # fmt: skip


def _perm_from_pairs(num: int, pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """Permutation of ``num`` items that swaps each pair and fixes the rest."""
    perm = list(range(num))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


SMPL_FLIP_PERM: tuple[int, ...] = _perm_from_pairs(NUM_SMPL_JOINTS, SMPL_LR_PAIRS)


# --------------------------------------------------------------------------------------------
# Source joint sets
H36M17_NAMES: tuple[str, ...] = (
    "pelvis",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
)
# Where each of the 17 sits in the raw 32-joint Human3.6M order (D3_Positions).
H36M32_TO_H36M17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M32_NUM_JOINTS = 32

# The original converter's list (§6.4): the 14 LSP joints taken from the 17.
H36M17_TO_LSP14: tuple[int, ...] = (3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10)

# Penn Action, in the order of the original's reader (see the module docstring).
PENN13_NAMES: tuple[str, ...] = (
    "head",
    "r_shoulder",
    "l_shoulder",
    "r_elbow",
    "l_elbow",
    "r_wrist",
    "l_wrist",
    "r_hip",
    "l_hip",
    "r_knee",
    "l_knee",
    "r_ankle",
    "l_ankle",
)

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)

OPENPOSE18_NAMES: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)

OPENPOSE25_NAMES: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "mid_hip",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
    "l_big_toe",
    "l_small_toe",
    "l_heel",
    "r_big_toe",
    "r_small_toe",
    "r_heel",
)

BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose",
    "l_eye_inner",
    "l_eye",
    "l_eye_outer",
    "r_eye_inner",
    "r_eye",
    "r_eye_outer",
    "l_ear",
    "r_ear",
    "mouth_left",
    "mouth_right",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_pinky",
    "r_pinky",
    "l_index",
    "r_index",
    "l_thumb",
    "r_thumb",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
    "l_heel",
    "r_heel",
    "l_foot_index",
    "r_foot_index",
)


def map_by_name(source_names: Sequence[str], renames: dict[str, str] | None = None) -> Mapping25:
    """Map into the 25 HMMR joints by joint name.

    Args:
        source_names: the source joint names, in the source order.
        renames: HMMR name -> source name, for joints whose names differ (e.g. ``r_heel`` ->
            ``r_ankle`` for Human3.6M). A value of ``""`` forces the joint to be missing.
    Returns:
        a tuple of 25 source indices or ``None``.
    """
    renames = renames or {}
    index = {name: i for i, name in enumerate(source_names)}
    mapping: list[int | None] = []
    for name in HMMR_JOINT_NAMES:
        src = renames.get(name, name)
        mapping.append(index.get(src) if src else None)
    return tuple(mapping)


# Human3.6M ankles are the LSP ankles (HMMR heels); its head is the top of the head; its thorax is
# the LSP neck; the original leaves every other point (face, toes, OpenPose ankles) empty.
FROM_H36M17: Mapping25 = map_by_name(
    H36M17_NAMES,
    {"r_heel": "r_ankle", "l_heel": "l_ankle", "r_ankle": "", "l_ankle": "",
     "neck": "thorax", "head_top": "head", "nose": ""},
)  # fmt: skip
FROM_H36M32: Mapping25 = tuple(None if j is None else H36M32_TO_H36M17[j] for j in FROM_H36M17)
FROM_PENN13: Mapping25 = map_by_name(PENN13_NAMES, {"head_top": "head"})
FROM_COCO17: Mapping25 = map_by_name(COCO17_NAMES)
FROM_OPENPOSE18: Mapping25 = map_by_name(OPENPOSE18_NAMES)
FROM_OPENPOSE25: Mapping25 = map_by_name(OPENPOSE25_NAMES)
FROM_3DPW: Mapping25 = FROM_OPENPOSE18  # 3DPW poses2d are OpenPose COCO-18, mapped by name
FROM_BLAZEPOSE33: Mapping25 = map_by_name(
    BLAZEPOSE33_NAMES, {"l_big_toe": "l_foot_index", "r_big_toe": "r_foot_index"}
)

SOURCE_NUM_JOINTS: dict[str, int] = {
    "h36m17": len(H36M17_NAMES),
    "h36m32": H36M32_NUM_JOINTS,
    "penn13": len(PENN13_NAMES),
    "coco17": len(COCO17_NAMES),
    "openpose18": len(OPENPOSE18_NAMES),
    "openpose25": len(OPENPOSE25_NAMES),
    "3dpw": len(OPENPOSE18_NAMES),
    "blazepose33": len(BLAZEPOSE33_NAMES),
}


def to_hmmr25(points: np.ndarray, mapping: Sequence[int | None]) -> np.ndarray:
    """Reorder source joints into the 25 HMMR joints; missing joints are all zeros.

    Args:
        points: ``(..., J, C)`` source joints (e.g. C = 3 for x, y, visibility).
        mapping: a ``FROM_*`` table, 25 source indices or ``None``.
    Returns:
        ``(..., 25, C)`` with the dtype of ``points``; rows of missing joints are zero, so a
        visibility channel reads 0 there.
    Raises:
        ValueError: when the mapping is not of length 25 or points to a joint ``points`` lacks.
    """
    points = np.asarray(points)
    if len(mapping) != NUM_KPS:
        raise ValueError(f"to_hmmr25: mapping must have {NUM_KPS} entries, got {len(mapping)}")
    if points.ndim < 2:
        raise ValueError(f"to_hmmr25: expected points of shape (..., J, C), got {points.shape}")
    num_src = points.shape[-2]
    used = [j for j in mapping if j is not None]
    if used and max(used) >= num_src:
        raise ValueError(
            f"to_hmmr25: mapping needs at least {max(used) + 1} source joints, "
            f"points have {num_src} (shape {points.shape})"
        )
    out = np.zeros(points.shape[:-2] + (NUM_KPS, points.shape[-1]), dtype=points.dtype)
    dst = [i for i, j in enumerate(mapping) if j is not None]
    out[..., dst, :] = points[..., used, :]
    return out


def pelvis(joints: np.ndarray) -> np.ndarray:
    """Midpoint of the two hips: ``(..., J >= 4, 3)`` -> ``(..., 3)``."""
    joints = np.asarray(joints)
    return 0.5 * (joints[..., PELVIS_JOINTS[0], :] + joints[..., PELVIS_JOINTS[1], :])
