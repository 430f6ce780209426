"""Tube augmentation vs independent float64 NumPy references (§6.4, §6.5)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.data import tube_augmentation as ta

S = 224
# §4.3 flip permutation and §4.5 SMPL pairs, copied from the spec (independent of src.joints).
FLIP_PERM_25 = [
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
SMPL_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)]
LSP_PERM_14 = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]


def _reference_crop(image: np.ndarray, center_xy, margin: int = 400) -> np.ndarray:
    """Edge-pad with np.pad then slice 224 from center - 112, as the original did."""
    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    x0, y0 = int(center_xy[0]) - S // 2 + margin, int(center_xy[1]) - S // 2 + margin
    return padded[y0 : y0 + S, x0 : x0 + S]


def _reference_normalise(kp_px: np.ndarray) -> np.ndarray:
    out = np.zeros_like(kp_px, dtype=np.float64)
    for j in range(kp_px.shape[-2]):
        if kp_px[..., j, 2] > 0:
            out[..., j, 0] = 2.0 * kp_px[..., j, 0] / S - 1.0
            out[..., j, 1] = 2.0 * kp_px[..., j, 1] / S - 1.0
            out[..., j, 2] = 1.0
    return out


def _tf1_scaled_center(center_xy, old_wh, new_wh) -> np.ndarray:
    """The original's ``jitter_scale`` center with TF ops: int32(float32(c) * (new / old))."""
    factor = tf.cast(tf.constant(new_wh), tf.float32) / tf.cast(tf.constant(old_wh), tf.float32)
    scaled = tf.cast(tf.constant(center_xy), tf.float32) * factor
    return tf.cast(scaled, tf.int32).numpy()


def _tf1_resize(image01: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """TF1 ``resize_images`` default: ResizeBilinear, align_corners and half_pixel_centers off."""
    return tf.raw_ops.ResizeBilinear(
        images=image01[None], size=[new_h, new_w], align_corners=False, half_pixel_centers=False
    )[0].numpy()


def _track(rng, n=3, h=300, w=300):
    images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    kp = np.concatenate(
        [rng.uniform(40, 260, size=(n, 25, 2)), rng.integers(0, 2, size=(n, 25, 1))], axis=-1
    ).astype(np.float64)
    return images, kp


def _jitter(n, flip=False, trans=(0, 0), u=0.0):
    return ta.TubeJitter(
        flip=flip,
        translations=np.tile(np.asarray(trans, np.int64), (n, 1)),
        scale_exponents=np.full(n, u),
    )


@pytest.mark.parametrize("size,trans", [((300, 300), (7, -5)), ((150, 120), (20, 20))])
def test_known_translation_without_scale_matches_pad_and_slice_reference(size, trans):
    rng = np.random.default_rng(0)
    images, kp = _track(rng, h=size[0], w=size[1])
    out = ta.TubeAugmenter()(images, kp, jitter=_jitter(3, trans=trans))
    center = np.array([size[1] // 2 + trans[0], size[0] // 2 + trans[1]])
    for i in range(3):
        ref = _reference_crop(images[i], center).astype(np.float64)
        np.testing.assert_allclose(out["images"][i], ref / 255.0 * 2.0 - 1.0, atol=1e-6)
        # visual copy: uint8((x + 1) * 0.5 * 255) truncates, so a level may drop by one
        assert np.all((out["crops"][i] <= ref) & (out["crops"][i] >= ref - 1))
        kp_ref = kp[i].copy()
        kp_ref[:, :2] -= center - S // 2
        np.testing.assert_allclose(out["kp2d"][i], _reference_normalise(kp_ref), atol=1e-6)
    assert out["images"].dtype == np.float32 and out["crops"].dtype == np.uint8
    assert np.all(out["kp2d"][kp[..., 2] == 0] == 0)


@pytest.mark.parametrize(
    "size,trans,side",
    [
        ((300, 260), (0, 0), (305, 352)),
        ((300, 300), (3, 0), (362, 362)),  # 153 * 362 / 300 = 184.62: truncated, not rounded
        ((300, 300), (0, 0), (252, 252)),  # 150 * 252 / 300 = 126, but 125.99999 in float32
    ],
)
def test_scale_uses_actual_factors_and_the_originals_truncated_float32_center(size, trans, side):
    rng = np.random.default_rng(1)
    h, w = size
    images, kp = _track(rng, n=1, h=h, w=w)
    u = np.log2((side[0] + 0.5) / w)  # floor(w * 2**u) = side[0]
    assert int(np.floor(h * 2.0**u)) == side[1]
    out = ta.TubeAugmenter()(images, kp, jitter=_jitter(1, trans=trans, u=u))
    fx, fy = side[0] / w, side[1] / h
    center = _tf1_scaled_center([w // 2 + trans[0], h // 2 + trans[1]], [w, h], side)
    expected = kp[0].copy()
    expected[:, 0] = kp[0, :, 0] * fx - (center[0] - S // 2)
    expected[:, 1] = kp[0, :, 1] * fy - (center[1] - S // 2)
    np.testing.assert_allclose(out["kp2d"][0], _reference_normalise(expected), atol=1e-5)
    np.testing.assert_array_equal(out["centers"][0], center)
    resized = _tf1_resize(images[0].astype(np.float32) / 255.0, side[1], side[0])
    np.testing.assert_allclose(
        out["images"][0], _reference_crop(resized, center) * 2.0 - 1.0, atol=1e-6
    )


def test_resize_is_bit_exact_with_tf1_resize_bilinear():
    rng = np.random.default_rng(11)
    for h, w, new_h, new_w in [
        (300, 300, 369, 369),
        (300, 300, 243, 243),
        (300, 260, 352, 305),
        (37, 41, 50, 29),
        (20, 20, 20, 20),
    ]:
        image = rng.uniform(0, 1, size=(h, w, 3)).astype(np.float32)
        got = ta.resize_bilinear_tf1(image, new_h, new_w)
        assert got.dtype == np.float32 and got.shape == (new_h, new_w, 3)
        np.testing.assert_array_equal(got, _tf1_resize(image, new_h, new_w))


def test_upscaled_ramp_samples_at_i_in_over_out_and_matches_its_keypoints():
    # I(y, x) = x / 255 is linear: TF1 bilinear output column c holds the value at source
    # x = c * in / out (no half-pixel shift), clamped at the last column; no uint8 rounding.
    h, w, u = 200, 256, 0.3
    ramp = np.tile(np.arange(w, dtype=np.uint8), (h, 1))
    images = np.repeat(ramp[None, :, :, None], 3, axis=3)
    new_w = int(np.floor(w * 2.0**u))
    kp = np.zeros((1, 25, 3))
    kp[0, :5] = [
        [90.0, 100.0, 1],
        [101.25, 90.0, 1],
        [150.5, 80.0, 1],
        [170.75, 120, 1],
        [60.0, 60.0, 1],
    ]
    out = ta.TubeAugmenter()(images, kp, jitter=_jitter(1, trans=(-7, 4), u=u))
    start_x = int(out["centers"][0, 0]) - S // 2
    src_x = np.clip(np.arange(start_x, start_x + S), 0, new_w - 1) * (w / new_w)
    expected = np.minimum(src_x, w - 1) / 255.0 * 2.0 - 1.0
    for row in (0, 57, S - 1):
        np.testing.assert_allclose(out["images"][0, row, :, 0], expected, atol=2e-6)
    # each keypoint's crop position shows the ramp value of its source column
    kx = (out["kp2d"][0, :5, 0].astype(np.float64) + 1.0) / 2.0 * S
    shown = np.interp(kx, np.arange(S), out["images"][0, 0, :, 0].astype(np.float64))
    np.testing.assert_allclose((shown + 1.0) / 2.0 * 255.0, kp[0, :5, 0], atol=1e-3)


def test_flip_mirrors_image_permutes_keypoints_and_reflects_labels():
    rng = np.random.default_rng(2)
    images, kp = _track(rng, n=2)
    pose = rng.normal(size=(2, 72))
    joints = rng.normal(size=(2, 14, 3))
    out = ta.TubeAugmenter()(
        images, kp, pose=pose, joints3d=joints, jitter=_jitter(2, flip=True, trans=(3, 4))
    )
    center = np.array([153, 154])
    for i in range(2):
        ref = _reference_crop(images[i], center)[:, ::-1].astype(np.float64)
        np.testing.assert_allclose(out["images"][i], ref / 255.0 * 2.0 - 1.0, atol=1e-6)
        assert np.all((out["crops"][i] <= ref) & (out["crops"][i] >= ref - 1))
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
    assert abs(trans.var() - ((41**2 - 1) / 12)) < 5  # discrete uniform variance


def test_delta_beyond_the_bounds_is_still_a_walk_not_iid():
    # the original takes the i.i.d. branch only when the delta bounds EQUAL the absolute ones
    rng = np.random.default_rng(12)
    walk = ta.bounded_random_walk(rng, 4000, -0.3, 0.3, 0.5)[:, 0]
    assert walk.min() >= -0.3 and walk.max() <= 0.3
    # folding is 1-Lipschitz, so a walk moves < 0.5 per frame; i.i.d. draws would exceed it
    # with probability (0.1 / 0.6)^2 per pair
    assert np.abs(np.diff(walk)).max() < 0.5


def test_integer_walk_takes_integer_steps_and_folds_with_width_2max_plus_1():
    rng = np.random.default_rng(13)
    walk = ta.bounded_random_walk(rng, 30000, -3, 3, 1, dim=1, integer=True)[:, 0]
    steps = np.diff(walk)
    assert np.all(walk == np.round(walk)) and set(np.unique(steps)) == {-1.0, 0.0, 1.0}
    # steps are uniform over {-1, 0, 1} (a rounded float walk stays put half of the time)
    assert abs(np.mean(steps == 0) - 1 / 3) < 0.015
    # the fold |(w + 3 + 7) mod 14 - 7| - 3 of the original reaches max + 1
    assert set(np.unique(walk)) == set(range(-3, 5))


def test_random_walk_with_zero_delta_is_constant_per_track():
    rng = np.random.default_rng(9)
    walk = ta.bounded_random_walk(rng, 50, -20, 20, 0, dim=2, integer=True)
    assert np.all(walk == walk[0]) and np.all(np.abs(walk) <= 20)
    scales = ta.bounded_random_walk(rng, 50, -0.3, 0.3, 0.0)
    assert np.all(scales == scales[0]) and np.all(np.abs(scales) <= 0.3)


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


def test_crop_for_test_rounds_the_scaled_center_as_the_original_test_records():
    # make_test_tfrecords.process_image: center_scaled = np.round(center * scale_factors)
    image = np.zeros((100, 100, 3), np.uint8)
    kp = np.zeros((25, 3))
    kp[0] = [60, 40, 1.0]
    out = ta.crop_for_test(image, kp, np.array([50.6, 50.4]), 1.0)
    np.testing.assert_array_equal(out["center"], [51, 50])
    np.testing.assert_allclose(out["kp2d"][0], [60 - 51 + 112, 40 - 50 + 112, 1])


def test_wrong_keypoint_shape_is_rejected():
    with pytest.raises(ValueError, match="kp2d"):
        ta.TubeAugmenter()(np.zeros((2, 10, 10, 3), np.uint8), np.zeros((2, 14, 3)))
