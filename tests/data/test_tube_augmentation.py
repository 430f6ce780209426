"""Tube augmentation vs independent float64 NumPy references (§6.4, §6.5)."""

from __future__ import annotations

import numpy as np
import pytest

from src.data import tube_augmentation as ta

S = 224
# §4.3 flip permutation and §4.5 SMPL pairs, copied from the spec (independent of src.joints).
FLIP_PERM_25 = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 16, 15, 18, 17, 20, 19, 22, 21,
                24, 23]
SMPL_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)]
LSP_PERM_14 = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]


def _reference_crop(image: np.ndarray, center_xy, margin: int = 400) -> np.ndarray:
    """Edge-pad with np.pad then slice 224 from center - 112, as the original did."""
    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    x0, y0 = int(center_xy[0]) - S // 2 + margin, int(center_xy[1]) - S // 2 + margin
    return padded[y0:y0 + S, x0:x0 + S]


def _reference_normalise(kp_px: np.ndarray) -> np.ndarray:
    out = np.zeros_like(kp_px, dtype=np.float64)
    for j in range(kp_px.shape[-2]):
        if kp_px[..., j, 2] > 0:
            out[..., j, 0] = 2.0 * kp_px[..., j, 0] / S - 1.0
            out[..., j, 1] = 2.0 * kp_px[..., j, 1] / S - 1.0
            out[..., j, 2] = 1.0
    return out


def _track(rng, n=3, h=300, w=300):
    images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    kp = np.concatenate([rng.uniform(40, 260, size=(n, 25, 2)),
                         rng.integers(0, 2, size=(n, 25, 1))], axis=-1).astype(np.float64)
    return images, kp


def _jitter(n, flip=False, trans=(0, 0), u=0.0):
    return ta.TubeJitter(flip=flip, translations=np.tile(np.asarray(trans, np.int64), (n, 1)),
                         scale_exponents=np.full(n, u))


@pytest.mark.parametrize("size,trans", [((300, 300), (7, -5)), ((150, 120), (20, 20))])
def test_known_translation_without_scale_matches_pad_and_slice_reference(size, trans):
    rng = np.random.default_rng(0)
    images, kp = _track(rng, h=size[0], w=size[1])
    out = ta.TubeAugmenter()(images, kp, jitter=_jitter(3, trans=trans))
    center = np.array([size[1] // 2 + trans[0], size[0] // 2 + trans[1]])
    for i in range(3):
        ref = _reference_crop(images[i], center)
        np.testing.assert_array_equal(out["crops"][i], ref)
        np.testing.assert_allclose(out["images"][i], ref / 255.0 * 2.0 - 1.0, atol=1e-6)
        kp_ref = kp[i].copy()
        kp_ref[:, :2] -= center - S // 2
        np.testing.assert_allclose(out["kp2d"][i], _reference_normalise(kp_ref), atol=1e-6)
    assert np.all(out["kp2d"][kp[..., 2] == 0] == 0)


def test_scale_uses_actual_resize_factors():
    rng = np.random.default_rng(1)
    images, kp = _track(rng, n=1, h=300, w=260)
    u = 0.2345
    out = ta.TubeAugmenter()(images, kp, jitter=_jitter(1, u=u))
    factor = 2.0 ** u
    fx, fy = np.floor(260 * factor) / 260, np.floor(300 * factor) / 300
    center = np.round(np.array([130 * fx, 150 * fy]))
    expected = kp[0].copy()
    expected[:, 0] = kp[0, :, 0] * fx - (center[0] - S // 2)
    expected[:, 1] = kp[0, :, 1] * fy - (center[1] - S // 2)
    np.testing.assert_allclose(out["kp2d"][0], _reference_normalise(expected), atol=1e-5)
    np.testing.assert_array_equal(out["centers"][0], center)


def test_flip_mirrors_image_permutes_keypoints_and_reflects_labels():
    rng = np.random.default_rng(2)
    images, kp = _track(rng, n=2)
    pose = rng.normal(size=(2, 72))
    joints = rng.normal(size=(2, 14, 3))
    out = ta.TubeAugmenter()(images, kp, pose=pose, joints3d=joints,
                             jitter=_jitter(2, flip=True, trans=(3, 4)))
    center = np.array([153, 154])
    for i in range(2):
        ref = _reference_crop(images[i], center)[:, ::-1]
        np.testing.assert_array_equal(out["crops"][i], ref)
        crop_kp = kp[i].copy()
        crop_kp[:, :2] -= center - S // 2
        flipped = crop_kp[FLIP_PERM_25].copy()
        flipped[:, 0] = (S - 1) - flipped[:, 0]
        np.testing.assert_allclose(out["kp2d"][i], _reference_normalise(flipped), atol=1e-6)
    # pose: swap L/R joints' 3-vectors, then multiply every joint by (1, -1, -1)
    ref_pose = pose.reshape(2, 24, 3).copy()
    for a, b in SMPL_PAIRS:
        ref_pose[:, [a, b]] = ref_pose[:, [b, a]]
    ref_pose = (ref_pose * np.array([1.0, -1.0, -1.0])).reshape(2, 72)
    np.testing.assert_allclose(out["pose"], ref_pose, atol=1e-12)
    ref_j = joints[:, LSP_PERM_14] * np.array([-1.0, 1.0, 1.0])
    ref_j -= ref_j.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out["joints3d"], ref_j, atol=1e-12)
    assert out["flipped"] is True


def test_sampled_jitter_is_deterministic_given_a_seed():
    aug = ta.TubeAugmenter()
    a = aug.sample_jitter(30, np.random.default_rng(5))
    b = aug.sample_jitter(30, np.random.default_rng(5))
    assert a.flip == b.flip
    np.testing.assert_array_equal(a.translations, b.translations)
    np.testing.assert_array_equal(a.scale_exponents, b.scale_exponents)


def test_flip_happens_about_half_the_time():
    aug = ta.TubeAugmenter()
    rng = np.random.default_rng(6)
    flips = [aug.sample_jitter(2, rng).flip for _ in range(400)]
    assert 0.4 < np.mean(flips) < 0.6


def test_reflection_folds_back_at_both_bounds():
    got = ta.reflect_into(np.array([-20.0, 23.0, -22.5, 61.0, 5.0]), -20.0, 20.0)
    np.testing.assert_allclose(got, [-20.0, 17.0, -17.5, -19.0, 5.0])


def test_random_walk_stays_in_bounds_and_moves_at_most_delta():
    rng = np.random.default_rng(7)
    walk = ta.bounded_random_walk(rng, 2000, -0.3, 0.3, 0.05, dim=2)
    assert walk.shape == (2000, 2)
    assert walk.min() >= -0.3 and walk.max() <= 0.3
    assert np.abs(np.diff(walk, axis=0)).max() <= 0.05 + 1e-12
    assert walk.max() - walk.min() > 0.3  # it does wander


def test_random_walk_is_iid_when_delta_equals_the_range_bounds():
    rng = np.random.default_rng(8)
    trans = ta.bounded_random_walk(rng, 20000, -20, 20, 20, dim=1, integer=True)[:, 0]
    assert set(np.unique(trans)) == set(range(-20, 21))  # every integer in [-20, 20]
    lag1 = np.corrcoef(trans[:-1], trans[1:])[0, 1]
    assert abs(lag1) < 0.03
    assert abs(trans.var() - ((41 ** 2 - 1) / 12)) < 5  # discrete uniform variance


def test_random_walk_with_zero_delta_is_constant_per_track():
    rng = np.random.default_rng(9)
    walk = ta.bounded_random_walk(rng, 50, -20, 20, 0, dim=2, integer=True)
    assert np.all(walk == walk[0]) and np.all(np.abs(walk) <= 20)


def test_keypoint_precrop_makes_the_person_diagonal_150_px_centred_at_150():
    rng = np.random.default_rng(10)
    image = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    kp = np.zeros((25, 3))
    kp[:4] = [[300, 100, 1], [420, 100, 1], [300, 400, 1], [420, 400, 1]]
    scale = ta.keypoint_scale(kp)
    assert scale == pytest.approx(150.0 / np.hypot(120, 300))
    out = ta.precrop(image, kp, ta.keypoint_center(kp), scale)
    assert out["image"].shape == (300, 300, 3)
    box = out["kp2d"][:4, :2]
    assert np.hypot(*(box.max(0) - box.min(0))) == pytest.approx(150.0, abs=1.0)
    np.testing.assert_allclose((box.max(0) + box.min(0)) / 2, [150, 150], atol=1.0)


def test_crop_for_test_thresholds_confidence_and_keeps_pixels():
    image = np.zeros((100, 100, 3), np.uint8)
    kp = np.zeros((25, 3))
    kp[0] = [50, 50, 0.05]
    kp[1] = [60, 40, 0.5]
    out = ta.crop_for_test(image, kp, np.array([50, 50]), 1.0)
    np.testing.assert_allclose(out["kp2d"][:2], [[112, 112, 0], [122, 102, 1]])


def test_wrong_keypoint_shape_is_rejected():
    with pytest.raises(ValueError, match="kp2d"):
        ta.TubeAugmenter()(np.zeros((2, 10, 10, 3), np.uint8), np.zeros((2, 14, 3)))
