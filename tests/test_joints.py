"""Joint conventions: names, flip permutations, dataset maps (docs/original_release.md §4.3, §4.5,
§6.4)."""

import numpy as np
import pytest

from src import joints as J

SPEC_HMMR_FLIP = [
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    16,
    15,
    18,
    17,
    20,
    19,
    22,
    21,
    24,
    23,
]
SPEC_SMPL_PAIRS = [
    (1, 2),
    (4, 5),
    (7, 8),
    (10, 11),
    (13, 14),
    (16, 17),
    (18, 19),
    (20, 21),
    (22, 23),
]
# Raw Human3.6M 32-joint indices of the usual 17 (Martinez et al. naming).
H36M32_NAMED = {
    0: "Hip",
    1: "RHip",
    2: "RKnee",
    3: "RFoot",
    6: "LHip",
    7: "LKnee",
    8: "LFoot",
    12: "Spine",
    13: "Thorax",
    14: "Neck/Nose",
    15: "Head",
    17: "LShoulder",
    18: "LElbow",
    19: "LWrist",
    25: "RShoulder",
    26: "RElbow",
    27: "RWrist",
}
# The original's 25 names (§4.3), in the original spelling.
SPEC_NAMES = [
    "R Heel",
    "R Knee",
    "R Hip",
    "L Hip",
    "L Knee",
    "L Heel",
    "R Wrist",
    "R Elbow",
    "R Shoulder",
    "L Shoulder",
    "L Elbow",
    "L Wrist",
    "Neck",
    "Head",
    "Nose",
    "L Eye",
    "R Eye",
    "L Ear",
    "R Ear",
    "L Big Toe",
    "R Big Toe",
    "L Small Toe",
    "R Small Toe",
    "L Ankle",
    "R Ankle",
]


def _swap_lr(name: str) -> str:
    if name.startswith("l_"):
        return "r_" + name[2:]
    if name.startswith("r_"):
        return "l_" + name[2:]
    return name


def _perm_by_swapping_names(names):
    return [list(names).index(_swap_lr(n)) for n in names]


def test_hmmr_names_follow_spec_order():
    ours = [n.replace("_", " ") for n in J.HMMR_JOINT_NAMES]
    spec = [s.lower().replace("head", "head top") if s == "Head" else s.lower() for s in SPEC_NAMES]
    assert ours == spec
    assert len(set(J.HMMR_JOINT_NAMES)) == 25


def test_hmmr_flip_perm_equals_spec_and_swapping_left_right_names():
    assert list(J.HMMR_FLIP_PERM) == SPEC_HMMR_FLIP
    assert list(J.HMMR_FLIP_PERM) == _perm_by_swapping_names(J.HMMR_JOINT_NAMES)


def test_lsp_flip_perm_swaps_left_right_lsp_names():
    assert list(J.LSP_FLIP_PERM) == [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]
    assert list(J.LSP_FLIP_PERM) == _perm_by_swapping_names(J.LSP_JOINT_NAMES)


def test_pelvis_is_midpoint_of_hips():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 25, 3))
    assert J.PELVIS_JOINTS == (2, 3)
    np.testing.assert_allclose(J.pelvis(pts), (pts[:, 2] + pts[:, 3]) / 2, atol=1e-15)


def test_smpl_flip_perm_swaps_spec_pairs_and_names():
    expected = list(range(24))
    for a, b in SPEC_SMPL_PAIRS:
        expected[a], expected[b] = b, a
    assert list(J.SMPL_FLIP_PERM) == expected
    assert list(J.SMPL_FLIP_PERM) == _perm_by_swapping_names(J.SMPL_JOINT_NAMES)


def test_smpl_parents_form_the_smpl_kinematic_tree():
    named = {
        "l_hip": "pelvis",
        "spine1": "pelvis",
        "l_knee": "l_hip",
        "r_ankle": "r_knee",
        "l_foot": "l_ankle",
        "neck": "spine3",
        "l_collar": "spine3",
        "r_collar": "spine3",
        "head": "neck",
        "l_shoulder": "l_collar",
        "r_elbow": "r_shoulder",
        "l_wrist": "l_elbow",
        "r_hand": "r_wrist",
        "spine3": "spine2",
    }
    names = J.SMPL_JOINT_NAMES
    assert J.SMPL_PARENTS[0] == -1
    for child, parent in named.items():
        assert names[J.SMPL_PARENTS[names.index(child)]] == parent
    assert all(p < i for i, p in enumerate(J.SMPL_PARENTS))
    # mirrored joints have mirrored parents
    for i, p in enumerate(J.SMPL_PARENTS[1:], start=1):
        assert J.SMPL_PARENTS[J.SMPL_FLIP_PERM[i]] == J.SMPL_FLIP_PERM[p]


def test_h36m17_map_is_the_originals_lsp_list_with_other_joints_missing():
    assert J.FROM_H36M17[:14] == (3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10)
    assert all(j is None for j in J.FROM_H36M17[14:])


def test_h36m32_map_points_at_the_same_named_raw_joints():
    raw_of_lsp = [
        "RFoot",
        "RKnee",
        "RHip",
        "LHip",
        "LKnee",
        "LFoot",
        "RWrist",
        "RElbow",
        "RShoulder",
        "LShoulder",
        "LElbow",
        "LWrist",
        "Thorax",
        "Head",
    ]
    assert [H36M32_NAMED[j] for j in J.FROM_H36M32[:14]] == raw_of_lsp
    assert all(j is None for j in J.FROM_H36M32[14:])
    pts32 = np.random.default_rng(1).normal(size=(3, 32, 3))
    via17 = J.to_hmmr25(pts32[:, list(J.H36M32_TO_H36M17)], J.FROM_H36M17)
    np.testing.assert_array_equal(J.to_hmmr25(pts32, J.FROM_H36M32), via17)


@pytest.mark.parametrize(
    "mapping,names,aliases",
    [
        (
            J.FROM_H36M17,
            J.H36M17_NAMES,
            {"r_heel": "r_ankle", "l_heel": "l_ankle", "neck": "thorax", "head_top": "head"},
        ),
        (J.FROM_PENN13, J.PENN13_NAMES, {"head_top": "head"}),
        (J.FROM_COCO17, J.COCO17_NAMES, {}),
        (J.FROM_OPENPOSE18, J.OPENPOSE18_NAMES, {}),
        (J.FROM_OPENPOSE25, J.OPENPOSE25_NAMES, {}),
        (J.FROM_3DPW, J.OPENPOSE18_NAMES, {}),
        (
            J.FROM_BLAZEPOSE33,
            J.BLAZEPOSE33_NAMES,
            {"l_big_toe": "l_foot_index", "r_big_toe": "r_foot_index"},
        ),
    ],
)
def test_maps_join_equal_names_and_commute_with_flip(mapping, names, aliases):
    assert len(mapping) == 25
    for i, j in enumerate(mapping):
        if j is not None:
            assert names[j] == aliases.get(J.HMMR_JOINT_NAMES[i], J.HMMR_JOINT_NAMES[i])
    # mirroring the source then mapping == mapping then mirroring the 25
    src_perm = _perm_by_swapping_names(names)
    for i, j in enumerate(mapping):
        k = mapping[J.HMMR_FLIP_PERM[i]]
        assert (j is None and k is None) or k == src_perm[j]


def test_penn_ankles_go_to_openpose_ankles_and_heels_stay_missing():
    idx = J.HMMR_JOINT_INDEX
    assert J.PENN13_NAMES[J.FROM_PENN13[idx["r_ankle"]]] == "r_ankle"
    assert J.FROM_PENN13[idx["l_ankle"]] == 12 and J.FROM_PENN13[idx["r_ankle"]] == 11
    for name in ("r_heel", "l_heel", "neck", "nose", "l_big_toe"):
        assert J.FROM_PENN13[idx[name]] is None
    assert J.FROM_PENN13[idx["head_top"]] == 0


def test_head_top_missing_for_keypoint_detectors_and_3dpw_lacks_toes_heels():
    idx = J.HMMR_JOINT_INDEX
    for mapping in (J.FROM_COCO17, J.FROM_OPENPOSE18, J.FROM_OPENPOSE25, J.FROM_BLAZEPOSE33):
        assert mapping[idx["head_top"]] is None
    for name in ("r_heel", "l_heel", "l_big_toe", "r_small_toe", "head_top"):
        assert J.FROM_3DPW[idx[name]] is None
    assert J.FROM_COCO17[idx["neck"]] is None
    assert J.FROM_OPENPOSE25[idx["r_heel"]] == 24 and J.FROM_OPENPOSE25[idx["r_ankle"]] == 11


def test_to_hmmr25_matches_loop_reference_and_zero_fills_missing():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(2, 5, 18, 3))
    out = J.to_hmmr25(pts, J.FROM_OPENPOSE18)
    ref = np.zeros((2, 5, 25, 3))
    for i, j in enumerate(J.FROM_OPENPOSE18):
        if j is not None:
            ref[:, :, i] = pts[:, :, j]
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == pts.dtype
    assert np.all(out[..., 13, :] == 0)  # head top: visibility 0


def test_to_hmmr25_rejects_too_few_source_joints_and_bad_mapping():
    with pytest.raises(ValueError, match="source joints"):
        J.to_hmmr25(np.zeros((17, 3)), J.FROM_BLAZEPOSE33)
    with pytest.raises(ValueError, match="25 entries"):
        J.to_hmmr25(np.zeros((17, 3)), J.FROM_COCO17[:14])
