"""Demo throughput per stage, in frames per second, on the shipped clip (or a prefix of it).

Runs the real demo pipeline (:func:`src.demo.run_video`: BlazePose tracks, crops,
ResNet features, temporal model + regressors + body model, rendering) and prints one JSON line with
the frames/s of each stage, timed exclusively (a stage's time excludes the stages it pulls
through). ``decode`` counts every decoded frame of the three passes (tracking, prediction,
rendering). Without ``--load_path`` the weights are untrained: same cost as trained ones.

    python bench/demo.py [--vid_path assets/pexels_walking.mp4] [--max_frames 96]
                         [--load_path DIR] [--smpl_model_path FILE] [--no_render]
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

import tensorflow as tf  # noqa: E402

from src import demo  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vid_path", default=str(REPO / "assets" / "pexels_walking.mp4"))
    parser.add_argument("--max_frames", type=int, default=96, help="0: the whole clip")
    parser.add_argument("--load_path", default=None)
    parser.add_argument("--smpl_model_path", default=None)
    parser.add_argument("--no_render", action="store_true")
    return parser


def main() -> int:
    args = _parser().parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        options = demo.DemoOptions(
            out_dir=Path(out_dir), load_path=args.load_path,
            smpl_model_path=args.smpl_model_path, max_frames=args.max_frames,
            render=not args.no_render, progress=False,
        )  # fmt: skip
        start = time.perf_counter()
        models = demo.load_demo_models(options)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        result = demo.run_video(args.vid_path, options, models)
        total_s = time.perf_counter() - start
    track = result.tracks[0]
    report = {
        "bench": "demo",
        "clip": str(args.vid_path),
        "frames_in_track": track.num_frames,
        "stages_fps": {k: v["fps"] for k, v in result.timer.summary().items()},
        "stages": result.timer.summary(),
        "end_to_end_fps": round(track.num_frames / total_s, 2),
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
