"""Batched phi extraction (§6.6), augmented copies and chunking."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from src.data import schema
from src.data.features import FeatureExtractor, chunk_track, precompute_copies
from src.data.tube_augmentation import TubeAugmenter

S = 32  # reduced crop side for speed
PHI = 2048


class _Spy:
    """Callable encoder phi = mean RGB @ W, recording the batches it sees."""

    def __init__(self, seed: int = 0) -> None:
        self.weights = np.random.default_rng(seed).normal(size=(3, PHI))
        self.batches: list[np.ndarray] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(np.array(images))
        return images.mean(axis=(1, 2)) @ self.weights


def _reference_phi(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    out = np.zeros((len(images), PHI))
    for i, img in enumerate(images.astype(np.float64)):
        out[i] = img.reshape(-1, 3).mean(axis=0) @ weights
    return out


def test_extractor_pads_the_last_batch_with_zeros_and_trims():
    images = np.random.default_rng(1).uniform(-1, 1, size=(5, S, S, 3)).astype(np.float32)
    spy = _Spy()
    phi = FeatureExtractor(spy, batch_size=2, img_size=S)(images)
    assert phi.shape == (5, PHI) and phi.dtype == np.float32
    assert [b.shape[0] for b in spy.batches] == [2, 2, 2]
    assert np.all(spy.batches[-1][1] == 0)
    np.testing.assert_allclose(phi, _reference_phi(images, spy.weights), rtol=1e-5, atol=1e-5)


def test_keras_encoder_runs_in_inference_mode():
    weights = np.random.default_rng(2).normal(size=(3, PHI)).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input((S, S, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.9),
            keras.layers.Dense(PHI, use_bias=False),
        ]
    )
    model.layers[-1].set_weights([weights])
    images = np.random.default_rng(3).uniform(-1, 1, size=(3, S, S, 3)).astype(np.float32)
    phi = FeatureExtractor(model, batch_size=4, img_size=S)(images)
    np.testing.assert_allclose(phi, _reference_phi(images, weights), rtol=1e-4, atol=1e-4)


def test_extractor_rejects_wrong_output_and_input_shapes():
    def bad(images):
        return np.zeros((len(images), 10))

    images = np.zeros((2, S, S, 3), np.float32)
    with pytest.raises(ValueError, match="2048"):
        FeatureExtractor(bad, batch_size=2, img_size=S)(images)
    with pytest.raises(ValueError, match="expected images"):
        FeatureExtractor(_Spy(), img_size=S)(np.zeros((2, S, S)))


def test_copies_have_independent_jitter_and_matching_phi():
    rng = np.random.default_rng(4)
    n = 4
    frames = rng.integers(0, 256, size=(n, 48, 48, 3), dtype=np.uint8)
    kp = np.concatenate([rng.uniform(10, 38, size=(n, 25, 2)), np.ones((n, 25, 1))], axis=-1)
    spy = _Spy()
    extractor = FeatureExtractor(spy, batch_size=3, img_size=S)
    augmenter = TubeAugmenter(
        img_size=S, trans_max=5, delta_trans_max=5, scale_max=0.1, delta_scale_max=0.1
    )
    state = rng.bit_generator.state
    tracks = precompute_copies(
        frames,
        kp,
        extractor,
        augmenter,
        rng,
        num_copy=3,
        extra={"filenames": [f"f{i}" for i in range(n)]},
    )
    assert len(tracks) == 3
    assert not np.allclose(tracks[0]["kp2d"], tracks[1]["kp2d"])
    replay = np.random.default_rng()
    replay.bit_generator.state = state  # the copies' draws, replayed
    for track in tracks:
        aug = augmenter(frames, kp, rng=replay)
        # phi comes from the float crops; the stored JPEG copy is uint8((x + 1) / 2 * 255)
        np.testing.assert_allclose(
            track["phi"], _reference_phi(aug["images"], spy.weights), rtol=1e-4, atol=1e-4
        )
        visual = np.floor((aug["images"].astype(np.float64) + 1.0) * 0.5 * 255.0)
        assert np.abs(track["images"].astype(np.float64) - visual).max() <= 1.0
        parsed = schema.parse_example_np(schema.serialize_sequence_example(track))
        np.testing.assert_allclose(parsed["kp2d"], track["kp2d"], atol=1e-6)
        assert parsed["filenames"] == ["f0", "f1", "f2", "f3"] and parsed["has_smpl"] == 0


def test_chunks_are_consecutive_and_the_last_is_the_final_frames():
    n = 400
    track = {
        "kp2d": np.arange(n)[:, None, None] * np.ones((n, 25, 3)),
        "shape": np.zeros(10),
        "filenames": [str(i) for i in range(n)],
    }
    chunks = chunk_track(track, 150)
    assert [int(c["kp2d"][0, 0, 0]) for c in chunks] == [0, 150, 250]
    assert all(len(c["kp2d"]) == 150 and len(c["filenames"]) == 150 for c in chunks)
    assert chunks[-1]["filenames"][-1] == "399"
    assert len(chunk_track(track, -1)) == 1
