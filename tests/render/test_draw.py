"""Tests for skeleton, text and banner drawing."""

from __future__ import annotations

import numpy as np
import pytest

from src.joints import HMMR_JOINT_INDEX, HMMR_JOINT_NAMES
from src.render.draw import (
    BANNER_COLOR,
    BANNER_TEXT_COLOR,
    HMMR_LIMBS,
    LSP_LIMBS,
    PART_COLORS,
    add_banner_strip,
    banner_strip_height,
    crop_to_uint8,
    draw_banner,
    draw_skeleton,
    draw_text,
    normalized_to_pixels,
)

# A standing person in a 224 crop, pixels (x, y), by name.
POSE = {
    "r_heel": (90, 205), "r_knee": (92, 160), "r_hip": (95, 115), "l_hip": (130, 115),
    "l_knee": (132, 160), "l_heel": (134, 205), "r_wrist": (50, 120), "r_elbow": (65, 90),
    "r_shoulder": (85, 60), "l_shoulder": (140, 60), "l_elbow": (160, 90), "l_wrist": (175, 120),
    "neck": (112, 55), "head_top": (112, 15), "nose": (112, 38), "l_eye": (118, 33),
    "r_eye": (106, 33), "l_ear": (124, 36), "r_ear": (100, 36), "l_big_toe": (145, 214),
    "r_big_toe": (80, 214), "l_small_toe": (150, 210), "r_small_toe": (75, 210),
    "l_ankle": (134, 198), "r_ankle": (90, 198),
}  # fmt: skip


def pose_array(vis: bool = True) -> np.ndarray:
    kp = np.array([POSE[name] + (1.0,) for name in HMMR_JOINT_NAMES], float)
    return kp if vis else kp[:, :2]


def test_limb_tables_join_named_joints_and_cover_every_joint():
    assert all(0 <= a < 25 and 0 <= b < 25 and a != b for a, b, _ in HMMR_LIMBS)
    assert {j for a, b, _ in HMMR_LIMBS for j in (a, b)} == set(range(25))
    assert all(a < 14 and b < 14 for a, b, _ in LSP_LIMBS)
    assert {j for a, b, _ in LSP_LIMBS for j in (a, b)} == set(range(14))
    index = HMMR_JOINT_INDEX
    assert (index["r_knee"], index["r_hip"], PART_COLORS["r_leg"]) in HMMR_LIMBS
    assert (index["r_heel"], index["r_knee"], PART_COLORS["r_leg"]) in LSP_LIMBS


def test_limb_midpoint_has_the_limb_colour_and_input_is_untouched():
    image = np.zeros((224, 224, 3), np.uint8)
    out = draw_skeleton(image, pose_array(), radius=6)
    assert not image.any()
    mid = (np.array(POSE["r_knee"]) + POSE["r_hip"]) // 2
    np.testing.assert_array_equal(out[mid[1], mid[0]], PART_COLORS["r_leg"])
    mid = (np.array(POSE["l_elbow"]) + POSE["l_wrist"]) // 2
    np.testing.assert_array_equal(out[mid[1], mid[0]], PART_COLORS["l_arm"])
    x, y = POSE["l_knee"]
    np.testing.assert_array_equal(out[y, x], PART_COLORS["l_leg"])  # joint centre


def test_invisible_and_non_finite_joints_and_their_limbs_are_skipped():
    kp = pose_array()
    kp[HMMR_JOINT_INDEX["l_wrist"], 2] = 0.0
    kp[HMMR_JOINT_INDEX["r_knee"], :2] = np.nan
    out = draw_skeleton(np.zeros((224, 224, 3), np.uint8), kp, radius=6)
    for a, b in (("l_elbow", "l_wrist"), ("r_knee", "r_hip")):
        pa = np.array(POSE[a], float)
        pb = np.array(POSE[b], float)
        # a point on the limb, away from the visible joint's disc
        x, y = np.rint(pa + 0.75 * (pb - pa)).astype(int)
        assert not out[y, x].any()
    x, y = POSE["l_wrist"]
    assert not out[y, x].any()


def test_lsp_keypoints_draw_the_heel_to_knee_limb():
    kp = pose_array(vis=False)[:14]
    out = draw_skeleton(np.zeros((224, 224, 3), np.uint8), kp, radius=6)
    mid = (np.array(POSE["r_heel"]) + POSE["r_knee"]) // 2
    np.testing.assert_array_equal(out[mid[1], mid[0]], PART_COLORS["r_leg"])


def test_far_away_points_do_not_crash_and_leave_the_image_alone():
    kp = np.full((25, 3), 1.0)
    kp[:, :2] = 1e12
    out = draw_skeleton(np.zeros((32, 32, 3), np.uint8), kp)
    assert not out.any()


def test_draw_skeleton_rejects_wrong_joint_counts_and_images():
    with pytest.raises(ValueError, match="25 or 14"):
        draw_skeleton(np.zeros((8, 8, 3), np.uint8), np.zeros((17, 2)))
    with pytest.raises(ValueError, match="uint8"):
        draw_skeleton(np.zeros((8, 8, 3), np.float32), np.zeros((25, 2)))


def test_normalized_to_pixels_closed_form_keeps_visibility():
    kp = np.array([[-1.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
    np.testing.assert_allclose(normalized_to_pixels(kp), [[0, 224, 0], [112, 168, 1]])
    np.testing.assert_allclose(normalized_to_pixels(kp[:, :2], 100), [[0, 100], [50, 75]])


def test_crop_to_uint8_maps_network_range_to_bytes():
    crop = np.array([[[-1.0, 0.0, 1.0]]], np.float32)
    np.testing.assert_array_equal(crop_to_uint8(crop), [[[0, 128, 255]]])
    np.testing.assert_array_equal(crop_to_uint8(np.array([[[-3.0, 2.0, 0.5]]])), [[[0, 255, 191]]])
    with pytest.raises(ValueError, match="uint8 or float"):
        crop_to_uint8(np.zeros((2, 2, 3), np.int32))


@pytest.mark.parametrize("shape", [(224, 224), (540, 960), (1280, 720)])
def test_banner_fills_a_top_strip_with_legible_text(shape):
    image = np.full(shape + (3,), 90, np.uint8)
    out = draw_banner(image)
    bar_h = min(shape[0], max(14, round(shape[0] * 0.08)))
    strip = out[:bar_h]
    is_bg = (strip == BANNER_COLOR).all(axis=2)
    is_text = (np.abs(strip.astype(int) - BANNER_TEXT_COLOR) < 60).all(axis=2)
    assert is_bg.mean() > 0.4
    assert is_text.sum() > 0.03 * is_text.size  # the text is there, in bold
    assert is_text.any(axis=1).sum() > 0.4 * bar_h  # and tall
    cols = np.nonzero(is_text.any(axis=0))[0]
    assert cols.min() > 0 and cols.max() < shape[1] - 1  # and fits the width
    assert (out[bar_h:] == 90).all()
    assert (image == 90).all()


def test_banner_on_a_tiny_image_does_not_fail():
    out = draw_banner(np.zeros((10, 12, 3), np.uint8), "a long line of text that cannot fit")
    assert (out == BANNER_COLOR).all(axis=2).any()


@pytest.mark.parametrize("height", [40, 120, 720])
def test_banner_strip_sits_above_the_image_and_covers_nothing(height):
    image = np.random.default_rng(0).integers(0, 255, (height, 90, 3), dtype=np.uint8)
    out = add_banner_strip(image, "UNTRAINED WEIGHTS")
    strip = banner_strip_height(height)
    assert strip >= 14 and strip % 2 == 0
    assert out.shape == (height + strip, 90, 3)
    np.testing.assert_array_equal(out[strip:], image)  # every pixel of the image is kept
    colours, counts = np.unique(out[:strip].reshape(-1, 3), axis=0, return_counts=True)
    assert tuple(colours[np.argmax(counts)]) == BANNER_COLOR
    assert (out[:strip].min(axis=2) > 200).any()  # white text in it


def test_draw_text_writes_only_near_the_top_left():
    image = np.zeros((100, 200, 3), np.uint8)
    out = draw_text(image, {"sc": 0.91234, "tx": 0.1, "name": "x"})
    changed = out.any(axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 20
    assert ys.max() < 3 * 25 and xs.min() >= 3
    assert not image.any()
