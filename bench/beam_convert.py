"""Conversion throughput: this process vs Apache Beam (DirectRunner) with one and two workers.

Two workloads, each converted three ways from the same inputs, the files checked byte-equal:

- ``penn``: Penn Action-sized videos (``--videos`` of ``--frames`` frames, 480x270 JPEGs made from
  the shipped clip, ``labels/NNNN.mat`` with the real fields; Penn Action averages 70 frames a
  video), ``python -m tfrecords_tools.penn_action --split train``;
- ``pseudo``: own videos without keypoints (the shipped clip under ``--videos`` names),
  ``python -m tfrecords_tools.in_the_wild --blazepose --split train`` (BlazePose, tracking,
  cleaning, crops, phi), the paper's pseudo-labelling recipe.

phi comes from the full ResNet-50 v2 with untrained weights (the same cost as the converted
``hmr_noS5`` weights, which are not shipped). Each run is a fresh process, so the figures include
start-up (TensorFlow import, Beam's worker start, the ResNet build). Prints one JSON object:
records/s and frames/s of each way and the Beam two-worker / one-worker ratio.

    python bench/beam_convert.py [--workload penn|pseudo|both] [--videos 8] [--frames 70]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLIP = REPO / "assets" / "pexels_walking.mp4"
ENCODER = "bench.beam_convert:untrained_resnet"
PENN_SIZE = (480, 270)  # width, height
WAYS = {
    "single_process": [],
    "beam_1_worker": ["--runner", "DirectRunner", "--direct_num_workers", "1",
                      "--direct_running_mode", "multi_processing"],
    "beam_2_workers": ["--runner", "DirectRunner", "--direct_num_workers", "2",
                       "--direct_running_mode", "multi_processing"],
}  # fmt: skip


def untrained_resnet(img_size: int):
    """``--encoder_factory`` of this benchmark: the ResNet-50 v2, randomly initialised with a
    fixed seed (every worker process builds the same weights, so the files compare equal)."""
    import keras

    from src.inference.models import build_resnet

    keras.utils.set_random_seed(0)
    return build_resnet(img_size)


def clip_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``count`` BGR frames of the shipped clip resized to ``size`` (looped when short)."""
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    if not frames:
        raise ValueError(f"{CLIP}: no frame could be read")
    return [frames[i % len(frames)] for i in range(count)]


def write_penn(root: Path, videos: int, frames: int) -> int:
    """Penn Action layout: ``frames/NNNN/%06d.jpg`` and ``labels/NNNN.mat`` (train videos)."""
    import cv2
    import scipy.io

    images = clip_frames(frames, PENN_SIZE)
    width, height = PENN_SIZE
    # a standing figure of 13 Penn joints around the middle of the frame, swaying
    base = np.array([[0, -60], [-15, -40], [15, -40], [-25, -15], [25, -15], [-28, 8],
                     [28, 8], [-10, 5], [10, 5], [-12, 40], [12, 40], [-12, 75], [12, 75]],
                    float)  # fmt: skip
    for v in range(videos):
        name = f"{v + 1:04d}"
        folder = root / "frames" / name
        folder.mkdir(parents=True)
        for t, image in enumerate(images):
            cv2.imwrite(str(folder / f"{t + 1:06d}.jpg"), image)
        sway = 10 * np.sin(np.arange(frames) / 7.0 + v)[:, None]
        x = width / 2 + base[None, :, 0] + sway
        y = height / 2 + np.repeat(base[None, :, 1], frames, axis=0)
        labels = {
            "x": x, "y": y, "visibility": np.ones((frames, 13), np.uint8),
            "train": np.array([[1]], np.uint8), "action": np.array(["walk"]),
            "pose": np.array(["front"]), "nframes": np.array([[frames]]),
            "dimensions": np.array([[height, width, frames]]),
            "bbox": np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1),
        }  # fmt: skip
        (root / "labels").mkdir(exist_ok=True)
        scipy.io.savemat(root / "labels" / f"{name}.mat", labels)
    return videos * frames


def write_pseudo(root: Path, videos: int) -> None:
    """``videos/walk_K.mp4``: the shipped clip under ``videos`` names."""
    (root / "videos").mkdir(parents=True)
    for v in range(videos):
        os.symlink(CLIP, root / "videos" / f"walk_{v}.mp4")


def records_in(folder: Path) -> tuple[int, int, dict[str, bytes]]:
    """(records, frames) in the ``*.tfrecord`` files under ``folder``, and their bytes."""
    import tensorflow as tf

    from src.data import schema

    records = frames = 0
    files = {}
    for path in sorted(folder.rglob("*.tfrecord")):
        files[path.name] = path.read_bytes()
        for raw in tf.data.TFRecordDataset(str(path)):
            records += 1
            frames += schema.parse_example_np(raw.numpy(), str(path))["N"]
    return records, frames, files


def run_way(module: str, argv: list[str], out: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", module, *argv, "--output_directory", str(out), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def workload(name: str, videos: int, frames: int, work: Path) -> dict:
    data = work / f"{name}_data"
    if name == "penn":
        write_penn(data, videos, frames)
        module = "tfrecords_tools.penn_action"
        argv = ["--data_directory", str(data), "--split", "train", "--num_shards", "2"]
    else:
        write_pseudo(data, videos)
        module = "tfrecords_tools.in_the_wild"
        argv = ["--data_directory", str(data), "--split", "train", "--blazepose",
                "--num_shards", "2"]  # fmt: skip
    argv += ["--encoder_factory", ENCODER, "--noprogress"]
    report: dict = {"videos": videos}
    reference = None
    for way, extra in WAYS.items():
        out = work / f"{name}_{way}"
        seconds = run_way(module, argv, out, extra)
        records, frame_count, files = records_in(out)
        if reference is None:
            reference = files
        elif files != reference:
            raise RuntimeError(f"{name}: {way} wrote different files than the single process")
        report[way] = {
            "seconds": round(seconds, 1),
            "records": records,
            "frames": frame_count,
            "records_per_s": round(records / seconds, 3),
            "frames_per_s": round(frame_count / seconds, 2),
        }
        shutil.rmtree(out)
    report["beam_2_over_1_workers"] = round(
        report["beam_1_worker"]["seconds"] / report["beam_2_workers"]["seconds"], 3
    )
    report["beam_1_worker_over_single_process"] = round(
        report["single_process"]["seconds"] / report["beam_1_worker"]["seconds"], 3
    )
    report["files_equal"] = True
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("penn", "pseudo", "both"), default="both")
    parser.add_argument("--videos", type=int, default=8, help="videos per workload (default 8)")
    parser.add_argument("--frames", type=int, default=70, help="frames per Penn video (70)")
    args = parser.parse_args(argv)
    from src.machine import cpu_info

    names = ("penn", "pseudo") if args.workload == "both" else (args.workload,)
    report: dict = {"bench": "beam_convert", **cpu_info(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            report[name] = workload(name, args.videos, args.frames, Path(tmp))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
