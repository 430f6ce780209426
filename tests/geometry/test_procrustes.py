"""Similarity Procrustes with the (N, J, 3) contract (docs/original_release.md §7.3, PA-MPJPE)."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from src.geometry.procrustes import (
    similarity_procrustes,
    similarity_procrustes_tf,
    similarity_transform,
)


def _horn_align(src, tgt):
    """Independent reference: Horn's quaternion method (proper rotation), one sample (J, 3)."""
    mu_s, mu_t = src.mean(axis=0), tgt.mean(axis=0)
    xs, yt = src - mu_s, tgt - mu_t
    s = xs.T @ yt
    n = np.array(
        [
            [s[0, 0] + s[1, 1] + s[2, 2], s[1, 2] - s[2, 1], s[2, 0] - s[0, 2], s[0, 1] - s[1, 0]],
            [s[1, 2] - s[2, 1], s[0, 0] - s[1, 1] - s[2, 2], s[0, 1] + s[1, 0], s[2, 0] + s[0, 2]],
            [s[2, 0] - s[0, 2], s[0, 1] + s[1, 0], -s[0, 0] + s[1, 1] - s[2, 2], s[1, 2] + s[2, 1]],
            [s[0, 1] - s[1, 0], s[2, 0] + s[0, 2], s[1, 2] + s[2, 1], -s[0, 0] - s[1, 1] + s[2, 2]],
        ]
    )
    vals, vecs = np.linalg.eigh(n)
    w, x, y, z = vecs[:, -1]
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    scale = vals[-1] / np.sum(xs**2)
    return scale * xs @ rot.T + mu_t


def _known_similarity(rng, n, j):
    src = rng.normal(size=(n, j, 3))
    rots = Rotation.random(n, random_state=rng).as_matrix()
    scale = rng.uniform(0.3, 3.0, size=n)
    trans = rng.normal(size=(n, 3))
    tgt = scale[:, None, None] * np.einsum("nab,njb->nja", rots, src) + trans[:, None, :]
    return src, tgt, scale, rots, trans


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("j", [3, 14, 25])
def test_known_similarity_is_recovered_exactly_for_small_batches(n, j):
    rng = np.random.default_rng(10 * n + j)
    src, tgt, scale, rots, trans = _known_similarity(rng, n, j)
    np.testing.assert_allclose(similarity_procrustes(src, tgt), tgt, atol=1e-9)
    s_hat, r_hat, t_hat = similarity_transform(src, tgt)
    np.testing.assert_allclose(s_hat, scale, rtol=1e-9)
    np.testing.assert_allclose(r_hat, rots, atol=1e-9)
    np.testing.assert_allclose(t_hat, trans, atol=1e-9)
    got64 = similarity_procrustes_tf(tf.constant(src), tf.constant(tgt)).numpy()
    np.testing.assert_allclose(got64, tgt, atol=1e-8)
    got32 = similarity_procrustes_tf(tf.constant(src, tf.float32), tf.constant(tgt, tf.float32))
    np.testing.assert_allclose(got32.numpy(), tgt, atol=2e-4)


def test_noisy_alignment_matches_horn_quaternion_reference():
    rng = np.random.default_rng(1)
    src, tgt, *_ = _known_similarity(rng, 3, 14)
    tgt += 0.2 * rng.normal(size=tgt.shape)
    ref = np.stack([_horn_align(s, t) for s, t in zip(src, tgt, strict=True)])
    np.testing.assert_allclose(similarity_procrustes(src, tgt), ref, atol=1e-9)
    np.testing.assert_allclose(
        similarity_procrustes_tf(tf.constant(src), tf.constant(tgt)).numpy(), ref, atol=1e-8
    )


def test_mirrored_target_gets_proper_rotation_and_matches_reference():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(2, 14, 3))
    tgt = src * np.array([-1.0, 1.0, 1.0])  # a reflection: no rotation reaches it
    _, rot, _ = similarity_transform(src, tgt)
    np.testing.assert_allclose(np.linalg.det(rot), [1.0, 1.0], atol=1e-12)
    ref = np.stack([_horn_align(s, t) for s, t in zip(src, tgt, strict=True)])
    np.testing.assert_allclose(similarity_procrustes(src, tgt), ref, atol=1e-9)
    np.testing.assert_allclose(
        similarity_procrustes_tf(tf.constant(src), tf.constant(tgt)).numpy(), ref, atol=1e-8
    )
    # the unconstrained (reflecting) fit would be exact; the proper one must leave an error
    assert np.abs(similarity_procrustes(src, tgt) - tgt).max() > 1e-2


def test_batch_of_three_three_joint_samples_is_aligned_per_sample():
    # (3, 3, 3) is the shape a layout-guessing implementation gets wrong
    rng = np.random.default_rng(3)
    src, tgt = rng.normal(size=(3, 3, 3)), rng.normal(size=(3, 3, 3))
    batched = similarity_procrustes(src, tgt)
    for i in range(3):
        single = similarity_procrustes(src[i : i + 1], tgt[i : i + 1])[0]
        np.testing.assert_allclose(batched[i], single, atol=1e-12)
        np.testing.assert_allclose(batched[i], _horn_align(src[i], tgt[i]), atol=1e-9)


@pytest.mark.parametrize("shape", [(14, 3), (2, 3, 14), (2, 14, 2)])
def test_other_layouts_are_refused_not_guessed(shape):
    x = np.zeros(shape)
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        similarity_procrustes(x, x)
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        similarity_procrustes_tf(tf.constant(x), tf.constant(x))


def test_collapsed_source_gives_finite_result():
    src = np.ones((2, 14, 3))
    tgt = np.random.default_rng(4).normal(size=(2, 14, 3))
    out = similarity_procrustes(src, tgt)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.broadcast_to(tgt.mean(axis=1, keepdims=True), out.shape))
    assert np.all(np.isfinite(similarity_procrustes_tf(tf.constant(src), tf.constant(tgt))))
