"""Demo throughput per stage, in frames per second, on the shipped clip (or a prefix of it).

Runs the real demo pipeline (:func:`src.demo.run_video`: BlazePose tracks, crops,
ResNet features, temporal model + regressors + body model, rendering) and prints one JSON line with
the frames/s of each stage, timed exclusively (a stage's time excludes the stages it pulls
through). ``decode`` counts every decoded frame of the passes (tracking with the crops, and
rendering). Without ``--load_path`` the weights are untrained: same cost as trained ones.

Then, in the same process, the ResNet alone on the same crops (cut again from the saved crop
boxes), in the demo's batches (``frames_per_batch`` frames per call): ``resnet_only_fps`` is the
steady rate (a second pass through an already traced function), ``resnet_only_cold_fps`` the first
pass of a freshly traced one (tracing included, as the demo's own first call). The ratios divide
the end-to-end rate by them (the models are built before the timed run, as ``--vid_dir`` does).

    python bench/demo.py [--vid_path assets/pexels_walking.mp4] [--max_frames 96]
                         [--load_path DIR] [--smpl_model_path FILE] [--no_render]
                         [--precision float32|bfloat16] [--detect_every 10]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from src import constants, demo  # noqa: E402
from src.demo.options import DETECT_EVERY  # noqa: E402
from src.demo.render import RENDER_THREADS  # noqa: E402
from src.inference.predictor import window_margin  # noqa: E402
from src.video.bbox import crop_frame  # noqa: E402
from src.video.io import open_frames  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vid_path", default=str(REPO / "assets" / "pexels_walking.mp4"))
    parser.add_argument("--max_frames", type=int, default=96, help="0: the whole clip")
    parser.add_argument("--load_path", default=None)
    parser.add_argument("--smpl_model_path", default=None)
    parser.add_argument("--no_render", action="store_true")
    parser.add_argument(
        "--precision", default=constants.DEFAULT_PRECISION, choices=constants.PRECISIONS
    )
    parser.add_argument("--detect_every", type=int, default=DETECT_EVERY)
    return parser


def track_crops(vid_path: str, npz_path: Path) -> np.ndarray:
    """``(n, 224, 224, 3)`` the crops the demo cut for a track, from its saved crop boxes."""
    data = np.load(npz_path)
    rows = {int(f): i for i, f in enumerate(data["frame_ids"])}
    crops = []
    with open_frames(vid_path) as reader:
        for index, frame in enumerate(reader):
            if index in rows:
                row = rows[index]
                center, scale = data["bbox_center"][row], float(data["bbox_scale"][row])
                crops.append(crop_frame(frame, center, scale)[0])
            if index >= max(rows):
                break
    return np.stack(crops)


def time_resnet(resnet, crops: np.ndarray, batch: int) -> tuple[float, float]:
    """Seconds of a freshly traced ResNet over ``crops`` in ``batch``-frame calls: the first pass
    (tracing included) and a second one."""
    spec = tf.TensorSpec((None, *crops.shape[1:]), tf.float32)
    fn = tf.function(lambda x: resnet(x, training=False), input_signature=[spec])
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        for i in range(0, len(crops), batch):
            fn(tf.constant(crops[i : i + batch])).numpy()
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1]


def main() -> int:
    args = _parser().parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        options = demo.DemoOptions(
            out_dir=Path(out_dir), load_path=args.load_path,
            smpl_model_path=args.smpl_model_path, max_frames=args.max_frames,
            render=not args.no_render, progress=False, precision=args.precision,
            detect_every=args.detect_every,
        )  # fmt: skip
        start = time.perf_counter()
        models = demo.load_demo_models(options)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        result = demo.run_video(args.vid_path, options, models)
        total_s = time.perf_counter() - start
        track = result.tracks[0]
        crops = track_crops(args.vid_path, track.npz)
    batch = options.batch_size * (options.sequence_length - 2 * window_margin(models.model))
    cold_s, warm_s = time_resnet(models.resnet, crops, batch)
    end_to_end_fps = track.num_frames / total_s
    report = {
        "bench": "demo",
        "clip": str(args.vid_path),
        "frames_in_track": track.num_frames,
        "stages_fps": {k: v["fps"] for k, v in result.timer.summary().items()},
        "stages": result.timer.summary(),
        "end_to_end_fps": round(end_to_end_fps, 2),
        "resnet_only_fps": round(len(crops) / warm_s, 2),
        "resnet_only_cold_fps": round(len(crops) / cold_s, 2),
        "end_to_end_over_resnet_only": round(end_to_end_fps * warm_s / len(crops), 3),
        "end_to_end_over_resnet_only_cold": round(end_to_end_fps * cold_s / len(crops), 3),
        "precision": args.precision,
        "detect_every": args.detect_every,
        "render": not args.no_render,
        "render_threads": RENDER_THREADS,
        "total_s": round(total_s, 2),
        "model_build_s": round(build_s, 2),
        "untrained": result.untrained,
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
