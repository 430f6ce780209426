"""Bytes per training record in the original schema, per feature, for storage planning.

Builds training tracks the way the converters do (``src.data.schema.make_train_example``, the
converters' default ``--save_img``: 224 JPEG crops beside ``image/phis``) from the frames of a
real video (default ``assets/pexels_walking.mp4``: a centred square crop of each frame, resized to
224, JPEG-encoded as the converters encode), with phi (N, 2048) float32, keypoints and, for the
3D side, SMPL pose/shape and 3D joints. Prints one JSON line: bytes per frame of each feature and
the record size of a track of ``--frames`` frames, with and without the JPEG crops (the schema
writes SMPL and 3D-joint fields on every record, as -1 / zeros when absent, so 2D and 3D records
have the same size).

    python bench/records.py [--frames 100] [--video assets/pexels_walking.mp4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.constants import IMG_SIZE, NUM_KPS, PHI_DIM  # noqa: E402
from src.data import schema  # noqa: E402

TFRECORD_FRAMING_BYTES = 16  # length (8) + its CRC (4) + data CRC (4) per record
NUM_POSE, NUM_SHAPE, NUM_JOINTS3D = 72, 10, 14


def video_crops(path: Path, frames: int) -> list[np.ndarray]:
    """``frames`` RGB 224x224 crops: a centred square of each frame's height, resized."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    crops = []
    while len(crops) < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        side = min(h, w)
        x0, y0 = (w - side) // 2, (h - side) // 2
        square = bgr[y0 : y0 + side, x0 : x0 + side]
        small = cv2.resize(square, (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_AREA)
        crops.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    cap.release()
    if not crops:
        raise ValueError(f"{path}: no frame could be read")
    while len(crops) < frames:  # a short clip: loop it
        crops.append(crops[len(crops) % max(1, len(crops))])
    return crops


def track(crops: list[np.ndarray] | None, n: int, three_d: bool, rng: np.random.Generator) -> dict:
    kp = rng.uniform(-1, 1, size=(n, NUM_KPS, 3))
    kp[..., 2] = 1.0
    out = {
        "kp2d": kp,
        "phi": np.abs(rng.normal(size=(n, PHI_DIM))).astype(np.float32),
        "filenames": [f"frames/0001/{i + 1:06d}.jpg" for i in range(n)],
        "scale_factors": rng.uniform(0.5, 2.0, size=(n, 2)),
        "crop_pts": rng.integers(0, 500, size=(n, 2)),
    }
    if crops is not None:
        out["images"] = crops
    if three_d:
        out["pose"] = rng.normal(size=(n, NUM_POSE))
        out["shape"] = rng.normal(size=(NUM_SHAPE,))
        out["joints3d"] = rng.normal(size=(n, NUM_JOINTS3D, 3))
    return out


def feature_bytes(example) -> dict[str, int]:
    return {k: f.ByteSize() for k, f in sorted(example.features.feature.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument(
        "--video",
        default=str(Path(__file__).resolve().parents[1] / "assets/pexels_walking.mp4"),
    )
    args = parser.parse_args(argv)
    n = args.frames
    rng = np.random.default_rng(0)
    crops = video_crops(Path(args.video), n)
    result: dict = {"frames": n, "video": Path(args.video).name}
    for label, images in (("with_jpeg", crops), ("phi_only", None)):
        example = schema.make_train_example(track(images, n, True, rng))
        record = len(example.SerializeToString(deterministic=True)) + TFRECORD_FRAMING_BYTES
        entry = {"record_bytes": record, "bytes_per_frame": round(record / n)}
        if label == "with_jpeg":
            entry["feature_bytes_per_frame"] = {
                k: round(v / n, 1) for k, v in feature_bytes(example).items()
            }
        result[label] = entry
    jpeg_sizes = [len(b) for b in schema._encode_images(crops)]
    result["jpeg_bytes_mean"] = round(float(np.mean(jpeg_sizes)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
