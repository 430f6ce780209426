"""The demo pipeline as a library: video -> person tracks -> crops -> HMMR -> files and videos.

ORIGINAL_SPEC §8, streaming (memory bounded by one batch of windows, whatever the video length):

1. **Tracks**: BlazePose on every decoded frame (``src.video.blazepose``), or a given tracks file
   (OpenPose folder / JSON, AlphaPose / PoseFlow JSON, box CSV); people are linked into tracks,
   sorted by length; ``track_id`` picks one, ``all_tracks`` takes all.
2. **Crops**: the original's bbox smoothing and 224x224 crops (``src.video.bbox``), cut while the
   video is decoded a second time.
3. **Prediction**: ResNet features in batches and the original's sliding window
   (:class:`src.inference.predictor.Predictor`); per-frame outputs are spooled to ``.npy``
   memory maps, then written as ``hmmr_output.npz`` (documented keys, ``docs/demo_outputs.md``)
   and the original's ``hmmr_output.pkl``, each to a temporary name and renamed.
4. **Rendering** (after the outputs are saved, so a rendering failure never loses them): the
   mesh over the original frames beside a side view, an mp4 at the source fps
   (``hmmr_output.mp4``), and optionally the original's 2x2 crop grid (``hmmr_output_crop.mp4``).

Single images (``run_image``) go through the hallucinator: past, present and future side by side.

Without weights (no ``load_path`` and nothing at ``models/hmmr_tf2``) the networks are randomly
initialised (seeded) and every output says so: console, video banner, ``untrained`` in the npz.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from src import constants
from src.geometry.camera import approx_translation, crop_cam_to_original
from src.inference import export as inference_models
from src.inference.predictor import PRED_MODES, Predictor
from src.joints import HMMR_JOINT_NAMES, SMPL_JOINT_NAMES
from src.networks.config import ModelConfig
from src.video import tracks as tracks_lib
from src.video.bbox import (
    CropParams,
    SmoothBBoxes,
    box_to_bbox_param,
    crop_frame,
    keypoints_to_bbox_param,
    smooth_bboxes_from_boxes,
    smooth_bboxes_from_keypoints,
)
from src.video.io import VideoInfo, VideoWriter, open_frames, read_image

log = logging.getLogger(__name__)

OUTPUT_NAME = "hmmr_output"
HALLUCINATION_IMAGE = "hmmr_hallucination.png"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
TRACK_FORMATS = ("auto", "openpose", "alphapose", "boxes")
STAGES = ("decode", "pose", "crop", "features", "regress", "render")
DEFAULT_RENDER_MAX_SIDE = 720  # the original downscaled frames to <= 720 px before rendering
MIN_TRACK_FRAMES = tracks_lib.MIN_TRACK_FRAMES
PICKLE_PROTOCOL = 4
DERIVED_CHUNK = 4096  # frames per chunk when computing derived arrays
RENDER_CHUNK = 16  # frames per body-model call when rendering
DEFAULT_BANNER = "UNTRAINED WEIGHTS"
LABEL_COLOR = (0, 0, 0)  # RGB of the past / present / future labels (on white)

UNTRAINED_MESSAGE = """\
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  UNTRAINED WEIGHTS: no --load_path was given and there is no weights folder at
!!  {default}. The networks are RANDOMLY INITIALISED ({weights}):
!!  the bodies in the outputs are NOT predictions of the people in the video.
!!  Convert the released checkpoints (README, "Using the released model") and pass
!!  --load_path models/hmmr_tf2.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


class DemoError(ValueError):
    """A bad input or a run that cannot produce outputs; the message names the file."""


# ------------------------------------------------------------------------------------------------
# Options and results


@dataclass
class DemoOptions:
    """Everything the demo can be told (the CLI flags; see :func:`build_parser`).

    ``model_config`` is for library use only (e.g. reduced widths in tests): the sizes of the
    untrained networks when no weights folder is used.
    """

    out_dir: Path = Path("demo_output")
    load_path: str | None = None
    smpl_model_path: str | None = None
    track_id: int = 0
    all_tracks: bool = False
    tracks_json: str | None = None
    tracks_format: str = "auto"
    min_track_frames: int = MIN_TRACK_FRAMES
    render: bool = True
    crop_grid: bool = False
    trim: bool = False
    pred_mode: str = "pred"
    save_verts: bool = False
    write_pkl: bool = True
    sequence_length: int = constants.SEQUENCE_LENGTH
    batch_size: int = 8
    max_frames: int = 0
    fps: float | None = None
    focal_px: float | None = None
    mesh_color: str = "blue"
    render_max_side: int = DEFAULT_RENDER_MAX_SIDE
    seed: int = inference_models.DEFAULT_SEED
    progress: bool = True
    model_config: ModelConfig | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.pred_mode not in PRED_MODES:
            raise DemoError(f"--pred_mode must be one of {PRED_MODES}, got {self.pred_mode!r}")
        if self.tracks_format not in TRACK_FORMATS:
            raise DemoError(
                f"--tracks_format must be one of {TRACK_FORMATS}, got {self.tracks_format!r}"
            )
        if self.track_id < 0:
            raise DemoError(f"--track_id must be >= 0, got {self.track_id}")
        checks = {
            "--max_frames": self.max_frames >= 0,
            "--min_track_frames": self.min_track_frames >= 1,
            "--batch_size": self.batch_size >= 1,
            "--render_max_side": self.render_max_side >= 16,
            "--focal_px": self.focal_px is None or self.focal_px > 0,
            "--fps": self.fps is None or self.fps > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise DemoError(f"invalid value for {', '.join(bad)}")


@dataclass
class TrackResult:
    """What one person track produced.

    Attributes:
        rank: position in the tracks sorted by length (``--track_id``).
        track_id: the tracker's / source's id.
        first_frame, num_frames: frames ``first_frame .. first_frame + num_frames - 1``.
        out_dir: the track's folder; ``npz``, ``pkl``, ``video``, ``crop_video`` inside it
            (None when not written; ``video`` is None when rendering was off or failed).
    """

    rank: int
    track_id: int
    first_frame: int
    num_frames: int
    out_dir: Path
    npz: Path
    pkl: Path | None = None
    video: Path | None = None
    crop_video: Path | None = None


@dataclass
class DemoResult:
    """One input's results and the time spent per stage."""

    input: Path
    tracks: list[TrackResult]
    timer: StageTimer
    untrained: bool
    image: Path | None = None


# ------------------------------------------------------------------------------------------------
# Timing


class StageTimer:
    """Seconds and frames per stage; nested stages are subtracted from the enclosing one, so
    each stage's time is its own (e.g. ``regress`` excludes the decoding it pulls through)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.frames: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._nested: list[float] = []

    @contextmanager
    def stage(self, name: str, frames: int = 0) -> Iterator[None]:
        start = time.perf_counter()
        self._nested.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            nested = self._nested.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - nested
            self.frames[name] = self.frames.get(name, 0) + frames
            if self._nested:
                self._nested[-1] += elapsed

    def add_frames(self, name: str, count: int) -> None:
        self.frames[name] = self.frames.get(name, 0) + count

    def timed_iter(self, name: str, items: Iterable) -> Iterator:
        """Iterate ``items``, timing each ``next`` as one frame of stage ``name``."""
        iterator = iter(items)
        while True:
            with self.stage(name):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            self.frames[name] += 1
            yield item

    def summary(self) -> dict[str, dict[str, float]]:
        """``{stage: {"frames", "seconds", "fps"}}`` for the stages that ran."""
        out = {}
        for name, seconds in self.seconds.items():
            frames = self.frames.get(name, 0)
            if frames or seconds:
                fps = frames / seconds if seconds > 0 else float("inf")
                out[name] = {"frames": frames, "seconds": round(seconds, 3), "fps": round(fps, 2)}
        return out


class TimedEncoder:
    """The ResNet as one traced function with the ``features`` stage timed.

    Call: ``encoder(images (n, S, S, 3) in [-1, 1], training=False)`` -> ``(n, D)`` numpy.
    """

    def __init__(self, resnet: Callable, img_size: int, timer: StageTimer) -> None:
        spec = tf.TensorSpec((None, img_size, img_size, 3), tf.float32)
        self._fn = tf.function(lambda x: resnet(x, training=False), input_signature=[spec])
        self.timer = timer

    def __call__(self, images, training: bool = False) -> np.ndarray:
        images = tf.convert_to_tensor(images, tf.float32)
        with self.timer.stage("features", frames=int(images.shape[0])):
            return self._fn(images).numpy()


def _progress(options: DemoOptions, total: int | None, desc: str) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="frame", disable=not options.progress, file=sys.stderr,
        dynamic_ncols=True, leave=True,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Models


def load_demo_models(options: DemoOptions) -> inference_models.InferenceModels:
    """Build the networks and body model; says LOUDLY when the weights are untrained."""
    models = inference_models.build_inference_models(
        options.load_path, options.smpl_model_path, options.model_config, seed=options.seed
    )
    if models.config.img_size != constants.IMG_SIZE:
        raise DemoError(
            f"the demo cuts {constants.IMG_SIZE}x{constants.IMG_SIZE} crops; the model config "
            f"expects {models.config.img_size}"
        )
    if models.untrained:
        print(
            UNTRAINED_MESSAGE.format(
                default=inference_models.DEFAULT_WEIGHTS_DIR, weights=models.weights
            ),
            file=sys.stderr,
        )
    if models.standin_body:
        print(
            f"warning: using the generated stand-in body model {models.body_model}, not SMPL; "
            "pass --smpl_model_path for real bodies",
            file=sys.stderr,
        )
    return models


def banner_text(models: inference_models.InferenceModels) -> str | None:
    """The warning drawn across every output frame, or None for trained weights."""
    if not models.untrained:
        return None
    return f"{DEFAULT_BANNER} - NOT A PREDICTION"


# ------------------------------------------------------------------------------------------------
# Per-frame outputs spooled to disk


class FrameStore:
    """Per-frame arrays spooled to ``.npy`` memory maps in ``folder`` (memory stays bounded).

    Each key is appended in order, chunk by chunk (``(n, ...)`` arrays); keys may be appended at
    different moments (crop parameters before predictions).

    Args:
        folder: where the ``.npy`` files go (removed by the caller).
        capacity: most frames per key.
    """

    def __init__(self, folder: Path, capacity: int) -> None:
        self.folder = Path(folder)
        self.capacity = int(capacity)
        self._arrays: dict[str, np.memmap] = {}
        self._counts: dict[str, int] = {}

    def append(self, chunk: Mapping[str, np.ndarray]) -> None:
        for key, value in chunk.items():
            value = np.asarray(value)
            if key not in self._arrays:
                self._arrays[key] = np.lib.format.open_memmap(
                    self.folder / f"{key}.npy", mode="w+", dtype=value.dtype,
                    shape=(self.capacity, *value.shape[1:]),
                )  # fmt: skip
                self._counts[key] = 0
            start = self._counts[key]
            if start + len(value) > self.capacity:
                raise DemoError(f"more frames than the {self.capacity} expected for '{key}'")
            self._arrays[key][start : start + len(value)] = value
            self._counts[key] = start + len(value)

    @property
    def num_frames(self) -> int:
        """Frames present for every key."""
        return min(self._counts.values()) if self._counts else 0

    def arrays(self) -> dict[str, np.ndarray]:
        n = self.num_frames
        return {key: array[:n] for key, array in self._arrays.items()}

    def close(self) -> None:
        for array in self._arrays.values():
            array.flush()
        self._arrays.clear()


# ------------------------------------------------------------------------------------------------
# Step 1: person tracks


def _open(path: Path, options: DemoOptions):
    """A frame reader; bad files raise one-line errors naming the file."""
    return open_frames(path, fps=options.fps)


def _frame_limit(options: DemoOptions, num_frames: int | None = None) -> int | None:
    limit = options.max_frames or None
    if num_frames is not None:
        limit = num_frames if limit is None else min(limit, num_frames)
    return limit


def _limited(frames: Iterable[np.ndarray], limit: int | None) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames):
        if limit is not None and index >= limit:
            return
        yield frame


def detect_people_blazepose(
    path: Path, options: DemoOptions, info: VideoInfo, timer: StageTimer
) -> list[tracks_lib.FrameDetections]:
    """BlazePose on every frame (streaming); returns the people per frame."""
    from src.video.blazepose import PoseEstimator

    estimator = PoseEstimator()
    limit = _frame_limit(options)
    total = min(info.num_frames, limit) if limit else info.num_frames
    detections: list[tracks_lib.FrameDetections] = []
    with _open(path, options) as reader, _progress(options, total, "tracking people") as bar:
        frames = timer.timed_iter("decode", _limited(reader, limit))
        estimator.reset()
        for frame in frames:
            with timer.stage("pose", frames=1):
                people = estimator(frame)
            detections.append(tracks_lib.detections_from_poses(people))
            bar.update(1)
    return detections


def read_track_file(
    path: str | os.PathLike, fmt: str, num_frames: int | None
) -> list[tracks_lib.FrameDetections]:
    """People per frame from a given tracks file (``fmt`` one of :data:`TRACK_FORMATS`)."""
    path = Path(path)
    if fmt == "openpose":
        if path.is_dir():
            return tracks_lib.read_openpose_folder(path, num_frames)
        frames = [tracks_lib.read_openpose_json(path)]
        return frames + [[] for _ in range((num_frames or 1) - 1)]
    if fmt == "alphapose":
        return tracks_lib.read_alphapose_json(path, num_frames)
    if fmt == "boxes":
        return tracks_lib.read_box_file(path, num_frames)
    return tracks_lib.read_detections(path, num_frames)


def effective_min_track_frames(options: DemoOptions, num_frames: int) -> int:
    """The original keeps tracks seen in >= 20 frames; a short clip needs only half its frames."""
    return max(1, min(options.min_track_frames, num_frames // 2 or 1))


def find_tracks(
    path: Path, options: DemoOptions, info: VideoInfo, timer: StageTimer
) -> list[tracks_lib.Track]:
    """Tracks sorted by length (longest first), from BlazePose or the given file."""
    limit = _frame_limit(options, info.num_frames)
    if options.tracks_json:
        frames = read_track_file(options.tracks_json, options.tracks_format, info.num_frames)
    else:
        frames = detect_people_blazepose(path, options, info, timer)
    if limit is not None:
        frames = frames[:limit]
    if not frames:
        raise DemoError(f"{path}: no frames to process")
    min_frames = effective_min_track_frames(options, len(frames))
    try:
        return tracks_lib.build_tracks(frames, min_frames=min_frames)
    except ValueError as err:
        raise DemoError(f"{path}: {err}") from None


def track_bboxes(track: tracks_lib.Track) -> SmoothBBoxes:
    """The original's smoothed crop parameters (keypoints when the source has them)."""
    if track.has_keypoints:
        try:
            return smooth_bboxes_from_keypoints(track.keypoints_per_frame())
        except ValueError:
            pass  # no confident keypoints: fall back on the boxes
    return smooth_bboxes_from_boxes(track.boxes_per_frame())


# ------------------------------------------------------------------------------------------------
# Steps 2-3: crops and predictions


def make_predictor(
    models: inference_models.InferenceModels, options: DemoOptions, timer: StageTimer
) -> Predictor:
    encoder = TimedEncoder(models.resnet, models.config.img_size, timer)
    return Predictor(
        models.model, models.smpl, T=options.sequence_length, batch_size=options.batch_size,
        resnet=encoder, pred_mode=options.pred_mode, with_verts=options.save_verts,
    )  # fmt: skip


def _track_crops(
    path: Path,
    options: DemoOptions,
    params: np.ndarray,
    first: int,
    last: int,
    store: FrameStore,
    timer: StageTimer,
) -> Iterator[np.ndarray]:
    """Decode the video again and yield the crops of frames ``first .. last``; ``params``
    ``(n, 3)`` holds ``(cx, cy, scale)`` from frame ``first`` on. The crop parameters go to
    ``store`` as they are cut."""
    with _open(path, options) as reader:
        for index, frame in enumerate(timer.timed_iter("decode", reader)):
            if index > last:
                return
            if index < first:
                continue
            cx, cy, scale = params[index - first]
            with timer.stage("crop", frames=1):
                crop, where = crop_frame(frame, np.array([cx, cy]), float(scale))
            store.append(
                {
                    "frame_ids": np.array([index], np.int64),
                    "bbox_center": np.array([[cx, cy]], np.float64),
                    "bbox_scale": np.array([scale], np.float64),
                    "crop_start_pt": where.start_pt[None].astype(np.int64),
                }
            )
            yield crop


def predict_track(
    crops: Iterable[np.ndarray],
    predictor: Predictor,
    store: FrameStore,
    timer: StageTimer,
    bar: tqdm,
) -> None:
    """Stream crops through the predictor into ``store``."""
    chunks = predictor.iter_predict_images(crops)
    while True:
        with timer.stage("regress"):
            chunk = next(chunks, None)
        if chunk is None:
            return
        count = len(chunk["theta"])
        timer.add_frames("regress", count)
        store.append(chunk)
        bar.update(count)


def derived_outputs(
    arrays: Mapping[str, np.ndarray], img_size: tuple[int, int], focal_px: float
) -> dict[str, np.ndarray]:
    """Original-frame cameras, keypoints in frame pixels and the approximate translation.

    Args:
        arrays: ``cams`` (n, 3), ``joints`` (n, 25, 3), ``crop_start_pt`` (n, 2),
            ``bbox_scale`` (n,).
        img_size: ``(H, W)`` of the frames.
        focal_px: focal length in frame pixels for :func:`approx_translation`.
    Returns:
        ``cams_orig`` (n, 3) ``p_px = s (X_xy + t)``, ``cams_orig_norm`` (n, 3) over the frame
        padded to a square, ``kps_px`` (n, 25, 2), ``trans`` (n, 3) metres.
    """
    cam_px, cam_norm = crop_cam_to_original(
        arrays["cams"], arrays["crop_start_pt"], arrays["bbox_scale"], np.asarray(img_size)
    )
    joints_xy = np.asarray(arrays["joints"], np.float64)[..., :2]
    kps_px = cam_px[:, None, :1] * (joints_xy + cam_px[:, None, 1:])
    trans = approx_translation(cam_norm, focal_px, np.asarray(img_size))
    return {
        "cams_orig": cam_px.astype(np.float32),
        "cams_orig_norm": cam_norm.astype(np.float32),
        "kps_px": kps_px.astype(np.float32),
        "trans": trans.astype(np.float32),
    }


def add_derived_outputs(store: FrameStore, img_size: tuple[int, int], focal_px: float) -> None:
    arrays = store.arrays()
    for start in range(0, store.num_frames, DERIVED_CHUNK):
        chunk = {k: arrays[k][start : start + DERIVED_CHUNK] for k in arrays}
        store.append(derived_outputs(chunk, img_size, focal_px))


# ------------------------------------------------------------------------------------------------
# Saving


PKL_KEYS = ("cams", "joints", "kps", "poses", "shapes", "verts")  # + omegas (= theta), *_delta


def metadata(
    source: Path,
    info_size: tuple[int, int],
    fps: float,
    focal_px: float,
    models: inference_models.InferenceModels,
    options: DemoOptions,
    rank: int,
    track_id: int,
) -> dict[str, np.ndarray]:
    """Scalars and names stored beside the per-frame arrays."""
    return {
        "img_size": np.asarray(info_size, np.int64),
        "fps": np.float64(fps),
        "focal_px": np.float64(focal_px),
        "delta_t": np.asarray(models.config.delta_t_values, np.int64),
        "joint_names": np.asarray(HMMR_JOINT_NAMES),
        "smpl_joint_names": np.asarray(SMPL_JOINT_NAMES),
        "source": np.asarray(str(source)),
        "track_rank": np.int64(rank),
        "track_id": np.int64(track_id),
        "pred_mode": np.asarray(options.pred_mode),
        "untrained": np.bool_(models.untrained),
        "weights": np.asarray(models.weights),
        "body_model": np.asarray(str(models.body_model)),
        "standin_body": np.bool_(models.standin_body),
    }


def _atomic_write(path: Path, write: Callable[[object], None]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def original_pickle_dict(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The original's ``hmmr_output.pkl`` keys (``omegas`` = theta) plus ``frame_ids``."""
    out = {"frame_ids": np.asarray(arrays["frame_ids"])}
    for key in ("omegas", *PKL_KEYS):
        src = "theta" if key == "omegas" else key
        for suffix in ("", "_delta"):
            if src + suffix in arrays:
                out[key + suffix] = np.asarray(arrays[src + suffix])
    return out


def save_outputs(
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    out_dir: Path,
    write_pkl: bool,
) -> tuple[Path, Path | None]:
    """Write ``hmmr_output.npz`` (and ``.pkl``) into ``out_dir`` (temp names, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = _atomic_write(out_dir / f"{OUTPUT_NAME}.npz", lambda f: np.savez(f, **arrays, **meta))
    pkl = None
    if write_pkl:
        data = original_pickle_dict(arrays)
        pkl = _atomic_write(
            out_dir / f"{OUTPUT_NAME}.pkl", lambda f: pickle.dump(data, f, PICKLE_PROTOCOL)
        )
    return npz, pkl


# ------------------------------------------------------------------------------------------------
# Step 4: rendering


def _body_vertices(smpl, theta: np.ndarray) -> np.ndarray:
    """theta (n, 85) -> vertices (n, V, 3) numpy."""
    theta = tf.constant(theta, tf.float32)
    out = smpl(theta[:, constants.SHAPE_SLICE], theta[:, constants.POSE_SLICE])
    return out["vertices"].numpy()


def _render_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    factor = min(1.0, max_side / max(height, width))
    return max(2, int(round(height * factor))), max(2, int(round(width * factor)))


def render_frame(
    visualizer,
    vertices: np.ndarray,
    cam_norm: np.ndarray,
    frame: np.ndarray,
    max_side: int,
    banner: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mesh over the (downscaled) frame, beside the side view. Returns (panel, overlay)."""
    from src.video.draw import draw_banner
    from src.video.render import rotate_about_vertical

    height, width = _render_size(frame.shape[0], frame.shape[1], max_side)
    if (height, width) != frame.shape[:2]:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    overlay = visualizer.frame_overlay(vertices, cam_norm, frame)
    white = np.full_like(frame, 255)
    side = visualizer.frame_overlay(rotate_about_vertical(vertices), cam_norm, white)
    panel = np.concatenate([overlay, side], axis=1)
    if banner:
        panel = draw_banner(panel, banner)
    return panel, overlay


def render_track(
    path: Path,
    options: DemoOptions,
    arrays: Mapping[str, np.ndarray],
    smpl,
    fps: float,
    out_dir: Path,
    banner: str | None,
    margin: int,
    timer: StageTimer,
) -> tuple[Path, Path | None]:
    """Write ``hmmr_output.mp4`` (and ``hmmr_output_crop.mp4``); frames of the track only."""
    from src.video.draw import draw_banner
    from src.video.render import FrameVisualizer

    visualizer = FrameVisualizer(smpl.faces, color=options.mesh_color)
    frame_ids = np.asarray(arrays["frame_ids"])
    first, count = int(frame_ids[0]), len(frame_ids)
    keep = range(margin, count - margin) if options.trim else range(count)
    suffix = "_trim" if options.trim else ""
    video_path = out_dir / f"{OUTPUT_NAME}{suffix}.mp4"
    crop_path = out_dir / f"{OUTPUT_NAME}_crop{suffix}.mp4" if options.crop_grid else None
    writers: dict[str, VideoWriter] = {}
    bar = _progress(options, len(keep), "rendering")
    try:
        with _open(path, options) as reader:
            frames = timer.timed_iter("decode", reader)
            vertices: dict[int, np.ndarray] = {}
            for index, frame in enumerate(frames):
                row = index - first
                if row >= count:
                    break
                if row not in keep:
                    continue
                with timer.stage("render", frames=1):
                    if row not in vertices:
                        verts_rows = range(row, min(row + RENDER_CHUNK, count))
                        vertices = _chunk_vertices(arrays, smpl, verts_rows)
                    panel, overlay = render_frame(
                        visualizer, vertices[row], arrays["cams_orig_norm"][row], frame,
                        options.render_max_side, banner,
                    )  # fmt: skip
                    _write(writers, "video", video_path, fps, panel)
                    if crop_path is not None:
                        crop, _ = crop_frame(
                            frame, arrays["bbox_center"][row], float(arrays["bbox_scale"][row])
                        )
                        grid = visualizer.crop_grid(
                            vertices[row], arrays["cams"][row], crop, arrays["kps"][row], overlay
                        )
                        if banner:
                            grid = draw_banner(grid, banner)
                        _write(writers, "crop", crop_path, fps, grid)
                bar.update(1)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        bar.close()
    for writer in writers.values():
        writer.close()
    if "video" not in writers:
        raise DemoError(f"{path}: no frame of the track could be decoded for rendering")
    return video_path, crop_path if "crop" in writers else None


def _chunk_vertices(arrays: Mapping[str, np.ndarray], smpl, rows: range) -> dict[int, np.ndarray]:
    if "verts" in arrays:
        return {r: np.asarray(arrays["verts"][r]) for r in rows}
    verts = _body_vertices(smpl, np.asarray(arrays["theta"][rows.start : rows.stop]))
    return {r: verts[i] for i, r in enumerate(rows)}


def _write(writers: dict, key: str, path: Path, fps: float, image: np.ndarray) -> None:
    if key not in writers:
        writers[key] = VideoWriter(path, fps, (image.shape[1], image.shape[0]))
    writers[key].write(image)


# ------------------------------------------------------------------------------------------------
# One video


def track_dir_name(rank: int) -> str:
    """``hmmr_output`` for the longest track, ``hmmr_output_<rank>`` for the others."""
    return OUTPUT_NAME if rank == 0 else f"{OUTPUT_NAME}_{rank}"


def _remove_empty(*folders: Path) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def process_track(
    path: Path,
    info: VideoInfo,
    track: tracks_lib.Track,
    rank: int,
    predictor: Predictor,
    models: inference_models.InferenceModels,
    options: DemoOptions,
    timer: StageTimer,
) -> TrackResult:
    """Crops -> predictions -> saved outputs -> rendered video for one track."""
    bboxes = track_bboxes(track)
    first = track.first_frame + bboxes.start
    last = track.first_frame + bboxes.end - 1
    if options.max_frames:
        last = min(last, options.max_frames - 1)
    video_dir = options.out_dir / _input_name(path)
    out_dir = video_dir / track_dir_name(rank)
    made = [p for p in (video_dir, options.out_dir) if not p.exists()]
    video_dir.mkdir(parents=True, exist_ok=True)
    spool = Path(tempfile.mkdtemp(prefix=f".{OUTPUT_NAME}_tmp", dir=video_dir))
    store = FrameStore(spool, last - first + 1)
    saved = False
    try:
        crops = _track_crops(path, options, bboxes.params, first, last, store, timer)
        with _progress(options, last - first + 1, f"predicting track {rank}") as bar:
            predict_track(crops, predictor, store, timer, bar)
        if store.num_frames == 0:
            raise DemoError(f"{path}: no frame of track {rank} could be decoded")
        img_size = (info.height, info.width)
        focal = options.focal_px or float(max(img_size))
        add_derived_outputs(store, img_size, focal)
        arrays = store.arrays()
        meta = metadata(path, img_size, info.fps, focal, models, options, rank, track.track_id)
        npz, pkl = save_outputs(arrays, meta, out_dir, options.write_pkl)
        saved = True
        result = TrackResult(
            rank, track.track_id, int(arrays["frame_ids"][0]), store.num_frames, out_dir, npz, pkl
        )
        if options.render:
            result.video, result.crop_video = _render_safely(
                path, options, arrays, models, info.fps, out_dir, predictor.margin, timer
            )
        return result
    finally:
        store.close()
        shutil.rmtree(spool, ignore_errors=True)
        if not saved:
            _remove_empty(out_dir, *made)


def _render_safely(path, options, arrays, models, fps, out_dir, margin, timer):
    """Rendering never costs the saved outputs: any failure is reported and skipped."""
    try:
        return render_track(
            path, options, arrays, models.smpl, fps, out_dir, banner_text(models), margin, timer
        )
    except Exception as err:  # noqa: BLE001 - outputs are saved; the video is optional
        message = " ".join(str(err).split())
        print(
            f"warning: rendering failed ({type(err).__name__}: {message}); the outputs in "
            f"{out_dir} are complete",
            file=sys.stderr,
        )
        return None, None


def _input_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def run_video(
    path: str | os.PathLike,
    options: DemoOptions,
    models: inference_models.InferenceModels | None = None,
    timer: StageTimer | None = None,
) -> DemoResult:
    """The whole demo on one video file (or frame folder).

    Raises:
        FileNotFoundError / DemoError (a ValueError) with a one-line message naming the file.
    """
    path = Path(path)
    with _open(path, options) as reader:  # missing / unreadable / zero-length fail here
        info = reader.info
    if options.tracks_json and not Path(options.tracks_json).exists():
        raise FileNotFoundError(f"{options.tracks_json}: tracks file not found (--tracks_json)")
    timer = timer or StageTimer()
    tracks = find_tracks(path, options, info, timer)  # before building models: fail early
    models = models or load_demo_models(options)
    chosen = tracks_lib.select_tracks(tracks, options.track_id, options.all_tracks)
    ranks = range(len(tracks)) if options.all_tracks else [min(options.track_id, len(tracks) - 1)]
    predictor = make_predictor(models, options, timer)
    results = [
        process_track(path, info, track, rank, predictor, models, options, timer)
        for rank, track in zip(ranks, chosen, strict=True)
    ]
    return DemoResult(path, results, timer, models.untrained)


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly inside ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: video folder not found (--vid_dir)")
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise DemoError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return videos


# ------------------------------------------------------------------------------------------------
# Single image: the hallucinator's past, present and future


def image_person_bbox(image: np.ndarray, path: Path, options: DemoOptions) -> np.ndarray:
    """``(cx, cy, scale)`` of the most confident person in an image.

    From ``--tracks_json`` (its first frame) if given, else BlazePose; without the BlazePose
    models, the whole image (HMR's rule: longer side scaled to 224) with a warning.

    Raises:
        DemoError: nobody found.
    """
    if options.tracks_json:
        people = read_track_file(options.tracks_json, options.tracks_format, 1)[0]
    else:
        from src.video.blazepose import PoseEstimator

        try:
            estimator = PoseEstimator()
        except FileNotFoundError as err:
            print(f"warning: {err}; using the whole image as the person's box", file=sys.stderr)
            height, width = image.shape[:2]
            return np.array([width / 2.0, height / 2.0, constants.IMG_SIZE / max(height, width)])
        people = tracks_lib.detections_from_poses(estimator(image))
    for det in sorted(people, key=lambda d: -d.score):
        param = keypoints_to_bbox_param(det.keypoints) if det.has_keypoints else None
        param = param if param is not None else box_to_bbox_param(det.box)
        if param is not None:
            return param
    raise DemoError(f"{path}: no person found in the image")


def _hallucination_panel(
    models: inference_models.InferenceModels,
    crop: np.ndarray,
    body: Mapping[str, np.ndarray],
    banner: str | None,
    color: str,
) -> np.ndarray:
    """2 x 3 grid: past | present | future meshes on the crop, labelled side views below."""
    from src.video.draw import crop_to_uint8, draw_banner, draw_text
    from src.video.render import FrameVisualizer, rotate_about_vertical

    visualizer = FrameVisualizer(models.smpl.faces, color=color)
    crop_u8 = crop_to_uint8(crop)
    cam = body["cams"][0]
    deltas = models.config.delta_t_values
    views = [(f"{deltas[i]:+d} frames", body["verts_delta"][0, i]) for i in range(len(deltas))]
    views.insert(sum(dt < 0 for dt in deltas), ("present", body["verts"][0]))
    top, bottom = [], []
    for label, verts in views:
        top.append(visualizer.frame_overlay(verts, cam, crop_u8))
        white = np.full_like(crop_u8, 255)
        side = visualizer.frame_overlay(rotate_about_vertical(verts), cam, white)
        bottom.append(draw_text(side, [label], color=LABEL_COLOR))
    panel = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    return draw_banner(panel, banner) if banner else panel


def run_image(
    path: str | os.PathLike,
    options: DemoOptions,
    models: inference_models.InferenceModels | None = None,
) -> DemoResult:
    """Single-image hallucination: present, past (-5) and future (+5) bodies from one image.

    Writes ``hmmr_output.npz`` / ``.pkl`` (one frame, the same keys as for videos) and
    ``hmmr_hallucination.png``.
    """
    path = Path(path)
    image = read_image(path)
    models = models or load_demo_models(options)
    timer = StageTimer()
    with timer.stage("pose", frames=1):
        cx, cy, scale = image_person_bbox(image, path, options)
    with timer.stage("crop", frames=1):
        crop, params = crop_frame(image, np.array([cx, cy]), float(scale))
    with timer.stage("features", frames=1):
        phi = models.resnet(crop[None], training=False)
    with timer.stage("regress", frames=1):
        out = models.model.predict_single(phi)
        body = inference_models.body_outputs(
            models.smpl, out["theta"], out["theta_delta"], with_verts=True
        )
        body = {key: value.numpy() for key, value in body.items()}
    arrays = dict(body) if options.save_verts else {
        k: v for k, v in body.items() if not k.startswith("verts")
    }  # fmt: skip
    arrays.update(_crop_arrays(cx, cy, scale, params))
    img_size = image.shape[:2]
    focal = options.focal_px or float(max(img_size))
    arrays.update(derived_outputs(arrays, img_size, focal))
    out_dir = options.out_dir / path.stem / OUTPUT_NAME
    image_options = DemoOptions(**{**options.__dict__, "pred_mode": "hal"})
    meta = metadata(path, img_size, 0.0, focal, models, image_options, 0, 0)
    npz, pkl = save_outputs(arrays, meta, out_dir, options.write_pkl)
    result = TrackResult(0, 0, 0, 1, out_dir, npz, pkl)
    picture = None
    if options.render:
        try:
            with timer.stage("render", frames=1):
                panel = _hallucination_panel(
                    models, crop, body, banner_text(models), options.mesh_color
                )
                picture = _write_png(out_dir / HALLUCINATION_IMAGE, panel)
        except Exception as err:  # noqa: BLE001 - outputs are saved; the picture is optional
            print(f"warning: rendering failed ({err}); outputs in {out_dir}", file=sys.stderr)
    return DemoResult(path, [result], timer, models.untrained, image=picture)


def _crop_arrays(cx: float, cy: float, scale: float, params: CropParams) -> dict[str, np.ndarray]:
    return {
        "frame_ids": np.zeros(1, np.int64),
        "bbox_center": np.array([[cx, cy]], np.float64),
        "bbox_scale": np.array([scale], np.float64),
        "crop_start_pt": params.start_pt[None].astype(np.int64),
    }


def _write_png(path: Path, image_rgb: np.ndarray) -> Path:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DemoError(f"{path}: OpenCV could not encode the picture")
    return _atomic_write(path, lambda f: f.write(encoded.tobytes()))


# ------------------------------------------------------------------------------------------------
# Command line


def build_parser(prog: str = "demo.py") -> argparse.ArgumentParser:
    """The demo's flags (the original's names where it had them)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="HMMR on a video (or an image): 3D bodies per frame, files and an overlay "
        "video. Outputs: docs/demo_outputs.md.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--vid_path", help="a video file (or a folder of frames)")
    source.add_argument("--vid_dir", help="a folder of videos: each one is processed")
    source.add_argument("--img_path", help="one image: past / present / future (hallucinator)")
    p.add_argument(
        "--load_path",
        help="weights folder (default models/hmmr_tf2 if present; "
        "otherwise UNTRAINED random weights)",
    )
    p.add_argument(
        "--smpl_model_path",
        help="body model (default models/neutral_smpl_with_"
        "cocoplustoesankles_reg.pkl if present, else the generated stand-in)",
    )
    p.add_argument("--out_dir", default="demo_output", help="output root (default demo_output)")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--track_id",
        type=int,
        default=0,
        help="rank of the person, tracks sorted by length (0 = longest)",
    )
    who.add_argument("--all_tracks", action="store_true", help="process every person track")
    p.add_argument(
        "--tracks_json",
        help="given tracks instead of BlazePose: an OpenPose JSON "
        "folder/file, an AlphaPose/PoseFlow JSON, or a box CSV",
    )
    p.add_argument(
        "--tracks_format",
        default="auto",
        choices=TRACK_FORMATS,
        help="format of --tracks_json (default: from the file)",
    )
    p.add_argument(
        "--min_track_frames",
        type=int,
        default=MIN_TRACK_FRAMES,
        help="drop shorter tracks (20; at most half the clip for short clips)",
    )
    p.add_argument(
        "--pred_mode",
        default="pred",
        choices=PRED_MODES,
        help="pred: temporal model; hal: hallucinator per frame; const: baseline",
    )
    p.add_argument("--no_render", action="store_true", help="write the output files only")
    p.add_argument(
        "--crop_grid", action="store_true", help="also write the original's 2x2 crop grid video"
    )
    p.add_argument(
        "--trim",
        action="store_true",
        help="drop the 6 frames with padded context at each end of the videos",
    )
    p.add_argument(
        "--save_verts",
        action="store_true",
        help="store mesh vertices (verts, verts_delta): 83 kB per frame and body",
    )
    p.add_argument("--no_pkl", action="store_true", help="skip the original's hmmr_output.pkl")
    p.add_argument("--max_frames", type=int, default=0, help="process only the first N frames")
    p.add_argument(
        "--sequence_length",
        type=int,
        default=constants.SEQUENCE_LENGTH,
        help="window length T (20)",
    )
    p.add_argument("--batch_size", type=int, default=8, help="windows per forward pass (8)")
    p.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 25)")
    p.add_argument(
        "--focal_px",
        type=float,
        help="focal length in frame pixels for the translation (default max(H, W))",
    )
    p.add_argument("--mesh_color", default="blue", help="mesh colour name (blue, pink, ...)")
    p.add_argument(
        "--render_max_side",
        type=int,
        default=DEFAULT_RENDER_MAX_SIDE,
        help="render on frames downscaled to this longer side (720)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=inference_models.DEFAULT_SEED,
        help="seed of the untrained initialisation",
    )
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    return p


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        out_dir=Path(args.out_dir), load_path=args.load_path,
        smpl_model_path=args.smpl_model_path, track_id=args.track_id,
        all_tracks=args.all_tracks, tracks_json=args.tracks_json,
        tracks_format=args.tracks_format, min_track_frames=args.min_track_frames,
        render=not args.no_render, crop_grid=args.crop_grid, trim=args.trim,
        pred_mode=args.pred_mode, save_verts=args.save_verts, write_pkl=not args.no_pkl,
        sequence_length=args.sequence_length, batch_size=args.batch_size,
        max_frames=args.max_frames, fps=args.fps, focal_px=args.focal_px,
        mesh_color=args.mesh_color, render_max_side=args.render_max_side, seed=args.seed,
        progress=not args.no_progress,
    )  # fmt: skip


def _report(result: DemoResult) -> None:
    for track in result.tracks:
        files = [track.npz, track.pkl, track.video, track.crop_video, result.image]
        listed = ", ".join(str(f) for f in files if f is not None)
        print(
            f"{result.input}: track {track.rank} (id {track.track_id}), frames "
            f"{track.first_frame}-{track.first_frame + track.num_frames - 1}: {listed}"
        )
    stages = ", ".join(f"{k} {v['fps']:.1f} fps" for k, v in result.timer.summary().items())
    if stages:
        print(f"{result.input}: speed per stage: {stages}")
    if result.untrained:
        print(f"{result.input}: NOTE: UNTRAINED weights; these bodies are not predictions")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: Sequence[str] | None = None, prog: str = "demo.py") -> int:
    """The demo command line; returns the exit status (errors: one line on stderr, status 1)."""
    args = build_parser(prog).parse_args(argv)
    try:
        options = options_from_args(args)
        if args.img_path:
            _report(run_image(args.img_path, options))
            return 0
        if args.vid_path:
            _report(run_video(args.vid_path, options))
            return 0
        videos = list_videos(args.vid_dir)
        models = load_demo_models(options)
        failed = 0
        for video in videos:
            try:
                _report(run_video(video, options, models))
            except (OSError, ValueError) as err:
                failed += 1
                print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 1 if failed else 0
    except (OSError, ValueError) as err:
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "FrameStore",
    "StageTimer",
    "TrackResult",
    "build_parser",
    "main",
    "run_image",
    "run_video",
]
