"""The evaluation's prediction cache: round trip, naming, and every reason to ignore a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from src.evaluation import cache as C


def predictions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "theta": rng.normal(size=(n, 85)),
        "theta_delta": rng.normal(size=(n, 2, 85)),
        "cams": rng.normal(size=(n, 3)),
        "joints": rng.normal(size=(n, 25, 3)),
        "kps": rng.normal(size=(n, 25, 2)),
        "joints_delta": rng.normal(size=(n, 2, 25, 3)),
        "kps_delta": rng.normal(size=(n, 2, 25, 2)),
        "verts": rng.normal(size=(n, 7, 3)),  # not cached
    }


@pytest.fixture
def setup(tmp_path):
    weights = tmp_path / "weights" / "part.npz"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    record = tmp_path / "rec" / "3dpw" / "test" / "flat_a.tfrecord"
    record.parent.mkdir(parents=True)
    record.write_bytes(b"record")
    cache = C.PredictionCache(tmp_path / "cache", "hmmr tf2/x", [weights], {"T": 20})
    return cache, weights, record


def test_round_trip_keeps_exactly_the_cached_keys(setup):
    cache, _, record = setup
    preds = predictions(6, np.random.default_rng(0))
    path = cache.save("3dpw", record, 1, "pred", preds)
    assert path.name == "3dpw-test-flat_a-P1-pred.npz"
    assert path.parent.name.startswith("hmmr_tf2_x-")
    loaded = cache.load("3dpw", record, 1, "pred", 6)
    assert set(loaded) == set(C.CACHED_KEYS)
    for key in C.CACHED_KEYS:
        np.testing.assert_array_equal(loaded[key], preds[key])
    info = json.loads((path.parent / C.INFO_FILE).read_text())
    assert info["settings"] == {"T": 20} and info["keys"] == list(C.CACHED_KEYS)
    assert not list(path.parent.glob("*.tmp"))


def test_absent_other_person_or_mode_is_a_miss(setup):
    cache, _, record = setup
    cache.save("3dpw", record, 0, "pred", predictions(4, np.random.default_rng(1)))
    assert cache.load("3dpw", record, 1, "pred", 4) is None
    assert cache.load("3dpw", record, 0, "hal", 4) is None
    assert cache.load("h36m", record, 0, "pred", 4) is None


def test_wrong_length_corrupt_file_and_rewritten_record_are_ignored(setup):
    cache, _, record = setup
    path = cache.save("3dpw", record, 0, "pred", predictions(4, np.random.default_rng(2)))
    assert cache.load("3dpw", record, 0, "pred", 5) is None  # the tube has another length
    record.write_bytes(b"a rewritten record file")
    assert cache.load("3dpw", record, 0, "pred", 4) is None  # size changed
    cache.save("3dpw", record, 0, "pred", predictions(4, np.random.default_rng(2)))
    assert cache.load("3dpw", record, 0, "pred", 4) is not None
    path.write_bytes(b"not a zip file")
    assert cache.load("3dpw", record, 0, "pred", 4) is None


def test_overwrite_ignores_existing_files(setup, tmp_path):
    cache, weights, record = setup
    cache.save("3dpw", record, 0, "pred", predictions(3, np.random.default_rng(3)))
    again = C.PredictionCache(
        tmp_path / "cache", "hmmr tf2/x", [weights], {"T": 20}, overwrite=True
    )
    assert again.directory == cache.directory
    assert again.load("3dpw", record, 0, "pred", 3) is None


def test_fingerprint_changes_with_settings_and_weights(setup, tmp_path):
    cache, weights, _ = setup
    other_t = C.PredictionCache(tmp_path / "cache", "hmmr tf2/x", [weights], {"T": 16})
    assert other_t.directory != cache.directory
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = C.PredictionCache(tmp_path / "cache", "hmmr tf2/x", [weights], {"T": 20})
    assert touched.directory != cache.directory
    same = C.PredictionCache(tmp_path / "cache", "hmmr tf2/x", [weights], {"T": 20})
    assert same.directory == touched.directory


def test_save_refuses_incomplete_or_ragged_predictions(setup):
    cache, _, record = setup
    preds = predictions(3, np.random.default_rng(4))
    with pytest.raises(ValueError, match="lack the keys"):
        cache.save("3dpw", record, 0, "pred", {k: v for k, v in preds.items() if k != "kps"})
    preds["kps"] = preds["kps"][:2]
    with pytest.raises(ValueError, match="lengths"):
        cache.save("3dpw", record, 0, "pred", preds)
    assert not list(Path(cache.directory).glob("*.npz"))
