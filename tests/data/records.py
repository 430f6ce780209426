"""Small record-writing helpers shared by the data tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data import schema, tfrecord_lib

PHI = 2048


def marked_track(
    n: int, marker: float, rng: np.random.Generator, has_3d: bool = False, phi_dim: int = PHI
) -> dict:
    """A track whose phi (n, phi_dim) holds the frame index in column 0 and the marker in 1."""
    phi = np.zeros((n, phi_dim), np.float32)
    phi[:, 0] = np.arange(n)
    phi[:, 1] = marker
    kp = rng.uniform(-1, 1, size=(n, 25, 3))
    kp[..., 2] = 1.0
    track = {"kp2d": kp, "phi": phi}
    if has_3d:
        track["joints3d"] = rng.normal(size=(n, 14, 3))
    return track


def write_tracks(path: Path, tracks: list[dict]) -> Path:
    tfrecord_lib.write_records(path, [schema.serialize_sequence_example(t) for t in tracks])
    return path


def write_dataset(
    root: Path,
    directory: str,
    num_files: int,
    tracks_per_file: int,
    n: int,
    has_3d: bool,
    marker_base: float,
    rng: np.random.Generator,
) -> list[Path]:
    """``root/directory/train/part-k.tfrecord``; track markers ``marker_base + 10 k + t``."""
    return [
        write_tracks(
            root / directory / "train" / f"part-{k}.tfrecord",
            [
                marked_track(n, marker_base + 10 * k + t, rng, has_3d)
                for t in range(tracks_per_file)
            ],
        )
        for k in range(num_files)
    ]


def write_mocap(root: Path, name: str, index: int, poses: np.ndarray, shapes: np.ndarray) -> Path:
    path = root / "mocap_neutrMosh" / f"neutrSMPL_{name}_{index:03d}.tfrecord"
    tfrecord_lib.write_records(
        path,
        [
            schema.make_mocap_example(p, s).SerializeToString()
            for p, s in zip(poses, shapes, strict=True)
        ],
    )
    return path
