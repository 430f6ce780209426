"""Named joint tables: which mocap joint stands for each of the body model's 24 joints.

Each :class:`SkeletonTable` lists, per body-model joint (``src.joints.SMPL_JOINT_NAMES`` order),
the mocap joint at the same spot. That joint's position gives the bone directions the body model
follows and its global rotation the twist about them (``src.motion.retarget``). A name ending in
``/end`` means that joint's ``End Site``. Two body-model joints may share a mocap joint where the
mocap skeleton has fewer joints (the bone between them is then of zero length and not followed).

Units: ``metres_per_unit`` converts the file's lengths to metres.
- CMU's 31-joint skeletons (``cmu31-mb``, the MotionBuilder-style names; ``cmu31-max``, the
  3dsMax-style names; ``cmu31-asf``, the ASF bone names) keep the ASF length unit:
  ``:units length 0.45`` means 1 unit = 1/0.45 inch = 0.05644 m. Check: subject 2's rest
  hip-to-ankle length is 14.65 units = 0.83 m, hips 1.0 m above the floor.
- ``daz43`` (cgspeed's DAZ-friendly release) is in centimetres: the same subject's hip-to-ankle
  length is 82 cm, hips 85 cm above the floor.
- ``smpl24`` (a BVH on the body model's own tree, written by this package) is in metres.

All of them are y-up, the body's left along +x and its front along +z in the rest pose, as the
body model; no axis change is needed.
"""

from __future__ import annotations

import dataclasses

from src.joints import SMPL_JOINT_NAMES

END_SUFFIX = "/end"
CMU_ASF_METRES_PER_UNIT = 0.0254 / 0.45  # ASF ":units length 0.45", inches


@dataclasses.dataclass(frozen=True)
class SkeletonTable:
    """A mocap skeleton kind and its joint per body-model joint.

    Attributes:
        name: the kind (``MANIFEST.tsv``'s ``skeleton`` column for CMU clips).
        metres_per_unit: file length unit in metres.
        joints: body-model joint name -> mocap joint name (all 24).
    """

    name: str
    metres_per_unit: float
    joints: dict[str, str]

    def __post_init__(self) -> None:
        if tuple(self.joints) != SMPL_JOINT_NAMES:
            raise ValueError(f"table '{self.name}' must list the 24 body-model joints in order")

    @property
    def mocap_names(self) -> tuple[str, ...]:
        """(24,) mocap joint per body-model joint, ``src.joints.SMPL_JOINT_NAMES`` order."""
        return tuple(self.joints.values())

    def required_joints(self) -> set[str]:
        """Mocap joints a file must have (``/end`` names need their joint)."""
        return {n.removesuffix(END_SUFFIX) for n in self.joints.values()}


def _sided(table: dict[str, str]) -> dict[str, str]:
    """Fill right-side entries from left-side ones written with a ``{s}`` side placeholder."""
    out = {}
    for name in SMPL_JOINT_NAMES:
        key = "l_" + name[2:] if name.startswith("r_") else name
        side = "r" if name.startswith("r_") else "l"
        entry = table[key]
        out[name] = entry.format(s=side, S="Right" if side == "r" else "Left", U=side.upper())
    return out


CMU31_MB = SkeletonTable(
    "cmu31-mb",
    CMU_ASF_METRES_PER_UNIT,
    _sided(
        {
            "pelvis": "Hips",
            "l_hip": "{S}UpLeg",
            "spine1": "Spine",
            "l_knee": "{S}Leg",
            "spine2": "Spine1",
            "l_ankle": "{S}Foot",
            "spine3": "Spine1",  # the thorax: collar bones and neck start here
            "l_foot": "{S}ToeBase",
            "neck": "Neck1",
            "l_collar": "{S}Shoulder",
            "head": "Head",
            "l_shoulder": "{S}Arm",
            "l_elbow": "{S}ForeArm",
            "l_wrist": "{S}Hand",
            "l_hand": "{S}FingerBase",  # at the wrist; its rotation bends the fingers
        }
    ),
)

# The same CMU skeleton in cgspeed's 3dsMax-friendly release (subject 131 here; MANIFEST.tsv
# calls it cmu31-mb): other joint names, arms hanging down in the rest pose.
CMU31_MAX = SkeletonTable(
    "cmu31-max",
    CMU_ASF_METRES_PER_UNIT,
    _sided(
        {
            "pelvis": "Hips",
            "l_hip": "{S}Hip",
            "spine1": "Chest",
            "l_knee": "{S}Knee",
            "spine2": "Chest2",
            "l_ankle": "{S}Ankle",
            "spine3": "Chest2",
            "l_foot": "{S}Toe",
            "neck": "Neck",
            "l_collar": "{S}Collar",
            "head": "Head",
            "l_shoulder": "{S}Shoulder",
            "l_elbow": "{S}Elbow",
            "l_wrist": "{S}Wrist",
            "l_hand": "{s}hand",
        }
    ),
)

CMU31_ASF = SkeletonTable(
    "cmu31-asf",
    CMU_ASF_METRES_PER_UNIT,
    _sided(
        {
            "pelvis": "hip",
            "l_hip": "{s}femur",
            "spine1": "upperback",
            "l_knee": "{s}tibia",
            "spine2": "thorax",
            "l_ankle": "{s}foot",
            "spine3": "thorax",
            "l_foot": "{s}toes",
            "neck": "upperneck",
            "l_collar": "{s}clavicle",
            "head": "head",
            "l_shoulder": "{s}humerus",
            "l_elbow": "{s}radius",
            "l_wrist": "{s}wrist",
            "l_hand": "{s}hand",
        }
    ),
)

DAZ43 = SkeletonTable(
    "daz43",
    0.01,
    _sided(
        {
            "pelvis": "hip",
            "l_hip": "{s}Thigh",
            "spine1": "abdomen",
            "l_knee": "{s}Shin",
            "spine2": "chest",
            "l_ankle": "{s}Foot",
            "spine3": "chest",  # no joint between chest and neck
            "l_foot": "{s}Foot" + END_SUFFIX,  # no toe joint: the foot's End Site
            "neck": "neck",
            "l_collar": "{s}Collar",
            "head": "head",
            "l_shoulder": "{s}Shldr",
            "l_elbow": "{s}ForeArm",
            "l_wrist": "{s}Hand",
            "l_hand": "{s}Mid1",  # middle-finger knuckle
        }
    ),
)

SMPL24 = SkeletonTable("smpl24", 1.0, {name: name for name in SMPL_JOINT_NAMES})

SKELETON_TABLES: dict[str, SkeletonTable] = {
    t.name: t for t in (CMU31_MB, CMU31_MAX, CMU31_ASF, DAZ43, SMPL24)
}

# Segments (pairs of body-model joints) whose directions the retargeting error compares. The
# body model's bones, except pelvis -> hips and spine3 -> collars: those attachment points are
# placed differently in every skeleton (e.g. DAZ's hip joint sits between the thighs, SMPL's
# pelvis 9 cm above them), so their directions differ by construction; the hip line and the
# shoulder line stand for them.
ERROR_SEGMENTS: dict[str, tuple[str, str]] = {
    "hip_line": ("r_hip", "l_hip"),
    "l_thigh": ("l_hip", "l_knee"),
    "r_thigh": ("r_hip", "r_knee"),
    "l_shin": ("l_knee", "l_ankle"),
    "r_shin": ("r_knee", "r_ankle"),
    "l_foot": ("l_ankle", "l_foot"),
    "r_foot": ("r_ankle", "r_foot"),
    "lower_spine": ("pelvis", "spine1"),
    "mid_spine": ("spine1", "spine2"),
    "upper_spine": ("spine2", "spine3"),
    "chest_to_neck": ("spine3", "neck"),
    "neck": ("neck", "head"),
    "l_clavicle": ("l_collar", "l_shoulder"),
    "r_clavicle": ("r_collar", "r_shoulder"),
    "shoulder_line": ("r_shoulder", "l_shoulder"),
    "l_upper_arm": ("l_shoulder", "l_elbow"),
    "r_upper_arm": ("r_shoulder", "r_elbow"),
    "l_forearm": ("l_elbow", "l_wrist"),
    "r_forearm": ("r_elbow", "r_wrist"),
    "l_hand": ("l_wrist", "l_hand"),
    "r_hand": ("r_wrist", "r_hand"),
}


def detect_skeleton(joint_names: tuple[str, ...] | list[str]) -> SkeletonTable | None:
    """The table whose mocap joints all exist in ``joint_names`` (most specific first), or None."""
    present = set(joint_names)
    for table in SKELETON_TABLES.values():
        if table.required_joints() <= present:
            return table
    return None
