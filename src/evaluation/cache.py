"""Prediction cache of the evaluation: one ``.npz`` per (checkpoint, dataset, file, person, mode).

As the original (``predictions_cache/<ckpt>/<dataset>-<file>-P<person>.pkl``,
docs/original_release.md §7.3) predictions are stored per person tube and reused when present, so
an interrupted evaluation resumes where it stopped and a second run (another ``--min_visible``,
another split of the table) does not run the network again. Differences:

- NumPy ``.npz`` instead of pickle (no code runs on load), written to a temp name then renamed, so
  an interrupted write never leaves a half file under the final name;
- the checkpoint folder is named ``<weights folder name>-<fingerprint>``, where the fingerprint
  covers what changes the predictions (the weights files, the window length T, the input kind,
  the body model), and ``cache_info.json`` next to the files says what it covers;
- the prediction mode is part of the file name (``-pred`` / ``-hal``);
- a file that is unreadable, from another format version, of the wrong length, or made from a
  test file that has been rewritten since is ignored (and overwritten), never trusted.

Layout::

    <pred_dir>/<name>-<fingerprint>/cache_info.json
    <pred_dir>/<name>-<fingerprint>/<dataset>-<split>-<file stem>-P<person>-<mode>.npz
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

CACHE_FORMAT_VERSION = 1
INFO_FILE = "cache_info.json"
FINGERPRINT_CHARS = 10
_META_VERSION = "__format_version__"
_META_FRAMES = "__num_frames__"
_META_SOURCE = "__source_stamp__"  # (size, mtime_ns) of the test file the tube came from

# Per-frame prediction keys kept in the cache (no vertices: 27.6 MB per 1000 frames).
CACHED_KEYS: tuple[str, ...] = (
    "theta",  # (N, 85) camera | pose | shape
    "theta_delta",  # (N, len(dt), 85)
    "cams",  # (N, 3)
    "joints",  # (N, 25, 3) metres, model space
    "kps",  # (N, 25, 2) normalised to [-1, 1]
    "joints_delta",  # (N, len(dt), 25, 3)
    "kps_delta",  # (N, len(dt), 25, 2)
)


def file_identity(path: str | os.PathLike) -> dict[str, object]:
    """Cheap identity of a file: resolved path, size and modification time (ns).

    A re-converted or retrained weights file gets a new identity; a copy that keeps its
    modification time (``cp -p``) keeps it.
    """
    path = Path(path)
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def fingerprint(files: Sequence[str | os.PathLike], settings: Mapping[str, object]) -> str:
    """Hex digest (:data:`FINGERPRINT_CHARS` characters) of the identities of ``files`` and of
    ``settings`` (JSON-serialisable values)."""
    payload = {
        "format": CACHE_FORMAT_VERSION,
        "files": [file_identity(f) for f in sorted(str(f) for f in files)],
        "settings": {k: settings[k] for k in sorted(settings)},
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def source_stamp(path: str | os.PathLike) -> np.ndarray:
    """``(2,)`` int64 ``[size, mtime_ns]`` of a test file (``[-1, -1]`` when it does not
    exist): predictions cached from a file that was rewritten since are not reused."""
    try:
        stat = Path(path).stat()
    except OSError:
        return np.array([-1, -1], np.int64)
    return np.array([stat.st_size, stat.st_mtime_ns], np.int64)


def _safe_name(text: str) -> str:
    """``text`` with path separators and spaces replaced, for use in a file name."""
    return "".join(c if c.isalnum() or c in "._-+=" else "_" for c in str(text))


class PredictionCache:
    """Per-tube predictions of one checkpoint, as atomic ``.npz`` files.

    Args:
        pred_dir: cache root (the original's ``--pred_dir``, ``predictions_cache``).
        name: human-readable checkpoint name (e.g. the weights folder's name).
        files: files whose identity enters the fingerprint (weights, body model).
        settings: other values that change the predictions (``T``, input kind ...).
        overwrite: ignore existing files (they are recomputed and replaced).

    Example:
        >>> cache = PredictionCache("predictions_cache", "hmmr_tf2", files, {"T": 20})
        >>> preds = cache.load("3dpw", "downtown_walking_00.tfrecord", 0, "pred", num_frames)
        >>> if preds is None:
        ...     preds = predict(...)
        ...     cache.save("3dpw", "downtown_walking_00.tfrecord", 0, "pred", preds)
    """

    def __init__(
        self,
        pred_dir: str | os.PathLike,
        name: str,
        files: Sequence[str | os.PathLike],
        settings: Mapping[str, object],
        overwrite: bool = False,
    ) -> None:
        self.tag = f"{_safe_name(name)}-{fingerprint(files, settings)}"
        self.directory = Path(pred_dir) / self.tag
        self.overwrite = bool(overwrite)
        self._info = {
            "format_version": CACHE_FORMAT_VERSION,
            "name": name,
            "files": [file_identity(f) for f in sorted(str(f) for f in files)],
            "settings": dict(settings),
            "keys": list(CACHED_KEYS),
        }
        self._info_written = False

    def path(self, dataset: str, file: str | os.PathLike, person: int, mode: str) -> Path:
        """``<directory>/<dataset>-<split>-<file stem>-P<person>-<mode>.npz``, where the split is
        the name of the file's folder (``<root>/<dataset>/<split>/<file>``)."""
        file = Path(file)
        stem = file.name[: -len(".tfrecord")] if file.name.endswith(".tfrecord") else file.name
        fields = (dataset, file.parent.name or "-", stem)
        name = "-".join(_safe_name(f) for f in fields) + f"-P{int(person)}-{_safe_name(mode)}.npz"
        return self.directory / name

    def load(
        self, dataset: str, file: str | os.PathLike, person: int, mode: str, num_frames: int
    ) -> dict[str, np.ndarray] | None:
        """The cached predictions of one tube, or ``None`` when absent, unreadable, from another
        format version, of another length than ``num_frames``, from a test file that changed
        since (size or modification time), or when ``overwrite`` is set."""
        if self.overwrite:
            return None
        path = self.path(dataset, file, person, mode)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        if int(arrays.pop(_META_VERSION, -1)) != CACHE_FORMAT_VERSION:
            return None
        if int(arrays.pop(_META_FRAMES, -1)) != num_frames:
            return None
        if not np.array_equal(arrays.pop(_META_SOURCE, None), source_stamp(file)):
            return None
        if any(key not in arrays or len(arrays[key]) != num_frames for key in CACHED_KEYS):
            return None
        return {key: arrays[key] for key in CACHED_KEYS}

    def save(
        self,
        dataset: str,
        file: str | os.PathLike,
        person: int,
        mode: str,
        predictions: Mapping[str, np.ndarray],
    ) -> Path:
        """Write the :data:`CACHED_KEYS` of ``predictions`` (all ``(N, ...)``) atomically."""
        missing = [key for key in CACHED_KEYS if key not in predictions]
        if missing:
            raise ValueError(f"prediction cache: predictions lack the keys {missing}")
        arrays = {key: np.asarray(predictions[key]) for key in CACHED_KEYS}
        lengths = {key: len(value) for key, value in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"prediction cache: expected (N, ...) arrays, got lengths {lengths}")
        arrays[_META_VERSION] = np.asarray(CACHE_FORMAT_VERSION)
        arrays[_META_FRAMES] = np.asarray(next(iter(lengths.values())))
        arrays[_META_SOURCE] = source_stamp(file)
        self._write_info()
        path = self.path(dataset, file, person, mode)
        _atomic_savez(path, arrays)
        return path

    def _write_info(self) -> None:
        """Write ``cache_info.json`` once per run (atomically)."""
        if self._info_written:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self._info, indent=2, default=str) + "\n"
        _atomic_write_bytes(self.directory / INFO_FILE, text.encode("utf-8"))
        self._info_written = True


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` to a temp file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
