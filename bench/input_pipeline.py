"""Input-pipeline throughput: training sequences per second read and parsed with precomputed phi.

Writes synthetic records in the original schema to a temp dir (2D and 3D sides, per-frame JPEG
payloads of a realistic size so the reader skips over them as it would on real data), builds
``src.data.pipeline.make_train_dataset`` and times batches after a warm-up. Prints one JSON line.

    python bench/input_pipeline.py [--batch_size 8] [--seq_length 20] [--batches 200]
                                   [--with_images]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf  # noqa: E402

from src.constants import IMG_SIZE, NUM_KPS, PHI_DIM  # noqa: E402
from src.data import pipeline, schema, tfrecord_lib  # noqa: E402


def _jpeg_payload(rng: np.random.Generator) -> bytes:
    """A 224 crop JPEG of a typical size (smooth noise, roughly 10-20 kB)."""
    import cv2

    small = rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
    image = cv2.resize(small, (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", image)[1].tobytes()


def _track(rng: np.random.Generator, frames: int, jpeg: bytes, has_3d: bool) -> bytes:
    kp = rng.uniform(-1, 1, size=(frames, NUM_KPS, 3))
    kp[..., 2] = 1.0
    track = {
        "kp2d": kp,
        "phi": rng.normal(size=(frames, PHI_DIM)).astype(np.float32),
        "images": [jpeg] * frames,
    }
    if has_3d:
        track["joints3d"] = rng.normal(size=(frames, 14, 3))
    return schema.serialize_sequence_example(track)


def write_fixture(root: Path, files_per_side: int, tracks_per_file: int, frames: int) -> int:
    """Penn-Action-like 2D side and an H3.6M-like 3D side; returns the bytes written."""
    rng = np.random.default_rng(0)
    jpeg = _jpeg_payload(rng)
    size = 0
    for dataset, has_3d in (("penn_action", False), ("h36m", True)):
        for k in range(files_per_side):
            path = root / dataset / "train" / tfrecord_lib.shard_name(dataset, k, files_per_side)
            records = [_track(rng, frames, jpeg, has_3d) for _ in range(tracks_per_file)]
            tfrecord_lib.write_records(path, records)
            size += path.stat().st_size
    return size


def measure(
    root: Path,
    batch_size: int,
    seq_length: int,
    batches: int,
    warmup: int,
    with_images: bool,
) -> dict:
    ds = pipeline.make_train_dataset(
        root, ("h36m", "penn_action"), batch_size, seq_length, with_images=with_images
    )
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    _ = batch["phi"].numpy()
    elapsed = time.perf_counter() - start
    return {
        "sequences_per_s": round(batches * batch_size / elapsed, 1),
        "batches_per_s": round(batches / elapsed, 2),
        "frames_per_s": round(batches * batch_size * seq_length / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=20)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--files_per_side", type=int, default=4)
    parser.add_argument("--tracks_per_file", type=int, default=10)
    parser.add_argument("--frames_per_track", type=int, default=150)
    parser.add_argument(
        "--with_images",
        action="store_true",
        help="also decode the window's JPEG crops (visualisation path)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hmmr_bench_") as tmp:
        size = write_fixture(
            Path(tmp), args.files_per_side, args.tracks_per_file, args.frames_per_track
        )
        result = measure(
            Path(tmp), args.batch_size, args.seq_length, args.batches, args.warmup, args.with_images
        )
    result.update(
        {
            "batch_size": args.batch_size,
            "seq_length": args.seq_length,
            "batches": args.batches,
            "tracks": 2 * args.files_per_side * args.tracks_per_file,
            "frames_per_track": args.frames_per_track,
            "fixture_mb": round(size / 2**20, 1),
            "precomputed_phi": True,
            "images_decoded": args.with_images,
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
        }
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
