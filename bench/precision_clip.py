"""bf16 against float32 ResNet features on real crops: the shipped clip through the demo pipeline.

    python bench/precision_clip.py [--vid_path assets/pexels_walking.mp4] [--max_frames 0]
                                   [--load_path DIR] [--weights_cache DIR] [--repeats 2]

1. Weights: ``--load_path`` (a weights folder with the ResNet and HMMR), else a full-size folder
   made the way the tests make one: TF1 checkpoints in the original layout (tf-slim's
   ``resnet_v2_50`` + HMR's regressor, and a full-size HMMR) with slim-initialised random values
   (tests/checkpoints/_tf1_fixtures.py), converted with ``python -m src.convert``; kept in
   ``--weights_cache`` when given (about 450 MB), else in a temporary folder.
2. The demo's steps up to the crops: BlazePose tracks, the longest track's smoothed boxes, the
   224x224 crops (:mod:`src.demo.tracks`, :func:`src.video.bbox.crop_frame`).
3. For each precision, the demo's models (:func:`src.demo.load_demo_models`) and predictor
   (:func:`src.demo.pipeline.make_predictor`: the ResNet traced as the demo runs it, the sliding
   window, the temporal model, the regressor and the body model): features of every crop, then
   the per-frame outputs from them.
4. The differences bf16 - float32: features (relative L2 over the clip, per-frame cosine), theta
   (camera, pose as the rotation angle between the two predicted joint rotations, shape), 3D
   joints (mm) and projected keypoints (crop pixels); and the features stage in frames/s of each
   precision, timed interleaved (``--repeats`` passes over the crops after the first).

Without trained weights the bodies are not predictions of the person; the differences show how
far bf16 moves the same computation. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench.resnet import CPU_FEATURES  # noqa: E402
from src import constants  # noqa: E402
from src.checkpoints import weights_dir  # noqa: E402
from src.demo import DemoOptions, load_demo_models  # noqa: E402
from src.demo.options import limited, open_input  # noqa: E402
from src.demo.pipeline import make_predictor  # noqa: E402
from src.demo.timing import StageTimer  # noqa: E402
from src.demo.tracks import find_tracks, track_bboxes  # noqa: E402
from src.machine import cpu_info  # noqa: E402
from src.video.bbox import crop_frame  # noqa: E402

M_TO_MM = 1000.0
HMR_STEP, HMMR_STEP = 642561, 1119816  # the released checkpoints' steps (names only)


def converted_weights(folder: Path) -> Path:
    """A full-size weights folder converted from slim-initialised TF1 checkpoints (reused when
    ``folder`` already holds one)."""
    if (folder / weights_dir.CONFIG_FILE).is_file():
        return folder
    from src.convert import run as convert
    from src.networks.config import ModelConfig
    from tests.checkpoints import _tf1_fixtures as fx

    config = ModelConfig()
    ckpts = Path(tempfile.mkdtemp(prefix="tf1_ckpts", dir=folder.parent))
    images = np.zeros((1, config.img_size, config.img_size, 3), np.float32)
    hmr, _ = fx.write_tf1_checkpoint(
        ckpts,
        "hmr_noS5.ckpt",
        fx.random_values(fx.hmr_head_shapes(config.phi_dim, config.ief_hidden), seed=8),
        HMR_STEP,
        with_adam=False,
        graph_builder=fx.slim_resnet_builder(images, seed=9),
    )
    shapes = fx.hmmr_tf1_shapes(
        config.phi_dim,
        config.ief_hidden,
        config.hallucinator_hidden,
        num_blocks=config.num_conv_layers,
        disc=(config.disc_joint_hidden, config.disc_all_hidden),
    )
    hmmr, _ = fx.write_tf1_checkpoint(
        ckpts, "hmmr_model.ckpt", fx.random_values(shapes, seed=0), HMMR_STEP, with_adam=False
    )
    argv = ["--hmmr_ckpt", hmmr, "--hmr_ckpt", hmr, "--out", str(folder)]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        status = convert(argv)  # its summary: the mapped variables
    for path in ckpts.iterdir():
        path.unlink()
    ckpts.rmdir()
    if status != 0:
        raise RuntimeError(f"python -m src.convert {' '.join(argv)} failed ({status})")
    return folder


def demo_crops(path: Path, options: DemoOptions) -> np.ndarray:
    """``(N, 224, 224, 3)`` in [-1, 1]: the longest track's crops as the demo cuts them."""
    with open_input(path, options) as reader:
        info = reader.info
    tracks = find_tracks(path, options, info, StageTimer())
    track = tracks[0]
    bboxes = track_bboxes(track)
    first = track.first_frame + bboxes.start
    last = track.first_frame + bboxes.end - 1
    if options.max_frames:
        last = min(last, options.max_frames - 1)
    crops = []
    with open_input(path, options) as reader:
        for index, frame in enumerate(limited(reader, last + 1)):
            if index >= first:
                cx, cy, scale = bboxes.params[index - first]
                crops.append(crop_frame(frame, np.array([cx, cy]), float(scale))[0])
    return np.stack(crops)


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of ``a^T b`` for rotation matrices ``(..., 3, 3)``."""
    trace = np.einsum("...ji,...ji->...", a.astype(np.float64), b.astype(np.float64))
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def stats(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, np.float64).ravel()
    return {"mean": float(values.mean()), "max": float(values.max())}


def differences(
    phi: dict[str, np.ndarray], out: dict[str, dict[str, np.ndarray]]
) -> dict[str, object]:
    """bf16 - float32 of the features and of the per-frame outputs."""
    want, got = phi["float32"], phi["bfloat16"]
    cosine = np.sum(got * want, -1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
    ref, new = out["float32"], out["bfloat16"]
    crop_half_px = constants.IMG_SIZE / 2.0  # kps are in [-1, 1] over the crop
    joint_mm = np.linalg.norm(new["joints"] - ref["joints"], axis=-1) * M_TO_MM  # (N, 25)
    centred = ref["joints"] - ref["joints"].mean(axis=1, keepdims=True)
    return {
        "features": {
            "relative_l2": float(np.linalg.norm(got - want) / np.linalg.norm(want)),
            "cosine_min": float(cosine.min()),
            "cosine_median": float(np.median(cosine)),
            "max_abs_diff": float(np.abs(got - want).max()),
            "max_abs_float32": float(np.abs(want).max()),
        },
        "theta_max_abs_diff": float(np.abs(new["theta"] - ref["theta"]).max()),
        "theta_relative_l2": float(
            np.linalg.norm(new["theta"] - ref["theta"]) / np.linalg.norm(ref["theta"])
        ),
        "camera_abs_diff": stats(np.abs(new["cams"] - ref["cams"])),
        "pose_rotation_deg": stats(rotation_angle_deg(new["poses"], ref["poses"])),
        "shape_abs_diff": stats(np.abs(new["shapes"] - ref["shapes"])),
        "joints3d_mm": {
            **stats(joint_mm),
            "per_frame_mean_max": float(joint_mm.mean(axis=1).max()),
            "float32_joint_spread_mm": float(np.linalg.norm(centred, axis=-1).mean() * M_TO_MM),
        },
        "kps_crop_px": {
            **stats(np.linalg.norm(new["kps"] - ref["kps"], axis=-1) * crop_half_px),
            "float32_kps_spread_px": float(
                np.linalg.norm(ref["kps"] - ref["kps"].mean(axis=1, keepdims=True), axis=-1).mean()
                * crop_half_px
            ),
        },
        "float32_camera_scale_mean": float(ref["cams"][:, 0].mean()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vid_path", default=str(REPO / "assets" / "pexels_walking.mp4"))
    parser.add_argument("--max_frames", type=int, default=0, help="0: the whole clip")
    parser.add_argument("--load_path", default=None, help="weights folder (default: generated)")
    parser.add_argument("--weights_cache", default=None, help="keep the generated folder here")
    parser.add_argument("--smpl_model_path", default=None)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the crops")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.load_path:
            folder = Path(args.load_path)
        else:
            cache = Path(args.weights_cache) if args.weights_cache else Path(tmp) / "weights"
            cache.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            folder = converted_weights(cache)
            print(f"weights {folder} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        base = dict(
            out_dir=Path(tmp) / "out", load_path=str(folder), max_frames=args.max_frames,
            smpl_model_path=args.smpl_model_path, progress=False,
        )  # fmt: skip
        crops = demo_crops(Path(args.vid_path), DemoOptions(**base))
        predictors, phi, out = {}, {}, {}
        for precision in constants.PRECISIONS:
            options = DemoOptions(**base, precision=precision)
            models = load_demo_models(options)
            predictors[precision] = make_predictor(models, options, StageTimer())
            phi[precision] = np.concatenate(list(predictors[precision].iter_phi_from_images(crops)))
            out[precision] = predictors[precision].predict_phi(phi[precision])
        seconds = {precision: [] for precision in constants.PRECISIONS}
        for _ in range(args.repeats):
            for precision, predictor in predictors.items():
                start = time.perf_counter()
                for _chunk in predictor.iter_phi_from_images(crops):
                    pass
                seconds[precision].append(time.perf_counter() - start)
    fps = {p: len(crops) / float(np.median(s)) for p, s in seconds.items()}
    report = {
        "bench": "precision_clip",
        "clip": str(args.vid_path),
        "frames": len(crops),
        "weights": str(args.load_path or "converted slim-initialised random (full size)"),
        "body_model": str(models.body_model),
        "features_fps": {p: round(v, 2) for p, v in fps.items()},
        "features_bfloat16_over_float32": round(fps["bfloat16"] / fps["float32"], 3),
        "features_bfloat16_over_float32_fastest_pass": round(
            min(seconds["float32"]) / min(seconds["bfloat16"]), 3
        ),
        "bf16_minus_float32": differences(phi, out),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        **cpu_info(CPU_FEATURES),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
