"""Step 4 of the demo, after the outputs are saved (a rendering failure never loses them): the
mesh over the original frames beside a side view, an mp4 at the source fps
(``hmmr_output.mp4``), optionally the original's 2x2 crop grid (``hmmr_output_crop.mp4``), and
the single-image hallucination panel. Drawing itself is :mod:`src.render`."""

from __future__ import annotations

import functools
import sys
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from src import constants
from src.demo.models import banner_text
from src.demo.options import (
    OUTPUT_NAME,
    DemoError,
    DemoOptions,
    RenderInterrupted,
    frame_limit,
    limited,
    open_input,
)
from src.demo.outputs import atomic_write
from src.demo.timing import StageTimer, progress_bar
from src.inference.models import InferenceModels
from src.machine import usable_cpus
from src.networks.outputs import theta_to_body
from src.render.draw import add_banner_strip, crop_to_uint8, draw_text
from src.render.views import FrameVisualizer
from src.video.bbox import crop_frame
from src.video.io import VideoInfo, VideoWriter

RENDER_CHUNK = 16  # frames per body-model call when rendering
# frames drawn at once, one per usable core up to 4 (one thread writes the video): the
# rasteriser's NumPy and OpenCV calls release the GIL, so on 2 cores a frame takes 13 ms instead
# of 20 (docs/benchmarks.md, "Fourth round")
RENDER_THREADS = min(4, usable_cpus())
LABEL_COLOR = (0, 0, 0)  # RGB of the past / present / future labels (on white)


@functools.lru_cache(maxsize=4)
def _vertex_function(smpl) -> Callable[[np.ndarray], tf.Tensor]:
    """The body model's vertices of ``RENDER_CHUNK`` thetas, traced once per body model."""
    return tf.function(
        lambda theta: theta_to_body(smpl, theta)["vertices"],
        input_signature=[tf.TensorSpec((RENDER_CHUNK, constants.THETA_DIM), tf.float32)],
        autograph=False,
    )


def body_vertices(smpl, theta: np.ndarray) -> np.ndarray:
    """theta (n, 85) -> vertices (n, V, 3) numpy.

    Runs one traced function on chunks of ``RENDER_CHUNK`` rows (the last one zero-padded), so
    that a video costs one trace: called eagerly, each chunk took 65 ms for 16 frames.
    """
    theta = np.asarray(theta, np.float32).reshape(-1, constants.THETA_DIM)
    fn = _vertex_function(smpl)
    chunks = []
    for start in range(0, len(theta), RENDER_CHUNK):
        rows = theta[start : start + RENDER_CHUNK]
        padded = np.zeros((RENDER_CHUNK, constants.THETA_DIM), np.float32)
        padded[: len(rows)] = rows
        chunks.append(fn(padded).numpy()[: len(rows)])
    if not chunks:
        return np.zeros((0, smpl.num_verts, 3), np.float32)
    return np.concatenate(chunks)


def _render_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    factor = min(1.0, max_side / max(height, width))
    return max(2, int(round(height * factor))), max(2, int(round(width * factor)))


def render_frame(
    visualizer: FrameVisualizer,
    vertices: np.ndarray | None,
    cam_norm: np.ndarray | None,
    frame: np.ndarray,
    max_side: int,
    banner: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mesh over the (downscaled) frame, beside the side view framed to the body; the banner is
    a strip above both (it covers nothing). A frame without the person (``vertices`` None) is
    shown as it is, beside a white side view.

    Returns:
        (panel ``(strip + h, 2 w, 3)``, overlay ``(h, w, 3)``), ``h, w`` the downscaled frame.
    """
    height, width = _render_size(frame.shape[0], frame.shape[1], max_side)
    if (height, width) != frame.shape[:2]:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    if vertices is None:
        overlay, side = frame, np.full_like(frame, 255)
    else:
        overlay = visualizer.frame_overlay(vertices, cam_norm, frame)
        side = visualizer.side_view(vertices, (height, width))
    panel = np.concatenate([overlay, side], axis=1)
    if banner:
        panel = add_banner_strip(panel, banner)
    return panel, overlay


def render_track(
    path: Path,
    options: DemoOptions,
    arrays: Mapping[str, np.ndarray],
    smpl,
    info: VideoInfo,
    out_dir: Path,
    banner: str | None,
    margin: int,
    timer: StageTimer,
) -> tuple[Path, Path | None]:
    """Write ``hmmr_output.mp4`` (and ``hmmr_output_crop.mp4``).

    The video has every input frame (up to ``--max_frames``), the mesh on the track's frames;
    with ``--trim`` only the track's frames with full temporal context. The crop grid has the
    track's frames.
    """
    visualizer = FrameVisualizer(smpl.faces, color=options.mesh_color)
    frame_ids = np.asarray(arrays["frame_ids"])
    first, count = int(frame_ids[0]), len(frame_ids)
    keep = range(margin, count - margin) if options.trim else None  # rows; None: every frame
    limit = frame_limit(options, info.num_frames)
    total = len(keep) if keep is not None else limit
    suffix = "_trim" if options.trim else ""
    video_path = out_dir / f"{OUTPUT_NAME}{suffix}.mp4"
    crop_path = out_dir / f"{OUTPUT_NAME}_crop{suffix}.mp4" if options.crop_grid else None
    writers: dict[str, VideoWriter] = {}
    bar = progress_bar(options.progress, total, "rendering")
    pool = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="hmmr-render")
    drawn: deque[Future] = deque()  # pictures being drawn, in frame order

    def draw(
        frame: np.ndarray, row: int | None, verts: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The video's panel of one frame and, with ``crop_path`` and on the track (``row`` not
        None), its crop grid; run in the pool (the renderer keeps no state between frames)."""
        panel, overlay = render_frame(
            visualizer, verts, None if row is None else arrays["cams_orig_norm"][row], frame,
            options.render_max_side, banner,
        )  # fmt: skip
        if crop_path is None or row is None:
            return panel, None
        crop, _ = crop_frame(frame, arrays["bbox_center"][row], float(arrays["bbox_scale"][row]))
        grid = visualizer.crop_grid(verts, arrays["cams"][row], crop, arrays["kps"][row], overlay)
        return panel, add_banner_strip(grid, banner) if banner else grid

    def write_oldest() -> None:
        panel, grid = drawn.popleft().result()
        _write(writers, "video", video_path, info.fps, panel)
        if grid is not None:
            _write(writers, "crop", crop_path, info.fps, grid)
        bar.update(1)

    try:
        with open_input(path, options) as reader:
            frames = timer.timed_iter("decode", limited(reader, limit))
            vertices: dict[int, np.ndarray] = {}
            for index, frame in enumerate(frames):
                row = index - first
                tracked = 0 <= row < count
                if keep is not None and row >= count:
                    break
                if keep is not None and row not in keep:
                    continue
                with timer.stage("render", frames=1):
                    if tracked and row not in vertices:
                        verts_rows = range(row, min(row + RENDER_CHUNK, count))
                        vertices = _chunk_vertices(arrays, smpl, verts_rows)
                    drawn.append(
                        pool.submit(draw, frame, row, vertices[row]) if tracked
                        else pool.submit(draw, frame, None, None)
                    )  # fmt: skip
                    if len(drawn) >= 2 * RENDER_THREADS:
                        write_oldest()
            with timer.stage("render"):
                while drawn:
                    write_oldest()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
    for writer in writers.values():
        writer.close()
    if "video" not in writers:
        raise DemoError(f"{path}: no frame of the track could be decoded for rendering")
    return video_path, crop_path if "crop" in writers else None


def _chunk_vertices(arrays: Mapping[str, np.ndarray], smpl, rows: range) -> dict[int, np.ndarray]:
    if "verts" in arrays:
        return {r: np.asarray(arrays["verts"][r]) for r in rows}
    verts = body_vertices(smpl, np.asarray(arrays["theta"][rows.start : rows.stop]))
    return {r: verts[i] for i, r in enumerate(rows)}


def _write(writers: dict, key: str, path: Path, fps: float, image: np.ndarray) -> None:
    if key not in writers:
        writers[key] = VideoWriter(path, fps, (image.shape[1], image.shape[0]))
    writers[key].write(image)


def render_safely(
    path: Path,
    options: DemoOptions,
    arrays: Mapping[str, np.ndarray],
    models: InferenceModels,
    info: VideoInfo,
    out_dir: Path,
    margin: int,
    timer: StageTimer,
    kept: list[Path] | None = None,
) -> tuple[Path | None, Path | None]:
    """:func:`render_track`, but rendering never costs the saved outputs: any failure is
    reported and skipped (``(None, None)``); Ctrl-C raises :class:`RenderInterrupted` naming the
    saved files ``kept`` (default: those in ``out_dir``)."""
    try:
        return render_track(
            path, options, arrays, models.smpl, info, out_dir, banner_text(models), margin, timer
        )
    except KeyboardInterrupt:
        saved = kept if kept is not None else sorted(out_dir.glob(f"{OUTPUT_NAME}.*"))
        raise RenderInterrupted(saved) from None
    except Exception as err:  # noqa: BLE001 - outputs are saved; the video is optional
        message = " ".join(str(err).split())
        print(
            f"warning: rendering failed ({type(err).__name__}: {message}); the outputs in "
            f"{out_dir} are complete",
            file=sys.stderr,
        )
        return None, None


# ------------------------------------------------------------------------------------------------
# Single image


def hallucination_panel(
    models: InferenceModels,
    crop: np.ndarray,
    body: Mapping[str, np.ndarray],
    banner: str | None,
    color: str,
) -> np.ndarray:
    """2 x 3 grid: past | present | future meshes on the crop, labelled side views (framed to
    each body) below; the banner, if any, is a strip above the grid."""
    visualizer = FrameVisualizer(models.smpl.faces, color=color)
    crop_u8 = crop_to_uint8(crop)
    cam = body["cams"][0]
    deltas = models.config.delta_t_values
    views = [(f"{deltas[i]:+d} frames", body["verts_delta"][0, i]) for i in range(len(deltas))]
    views.insert(sum(dt < 0 for dt in deltas), ("present", body["verts"][0]))
    top, bottom = [], []
    for label, verts in views:
        top.append(visualizer.frame_overlay(verts, cam, crop_u8))
        side = visualizer.side_view(verts, crop_u8.shape[:2])
        bottom.append(draw_text(side, [label], color=LABEL_COLOR))
    panel = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    return add_banner_strip(panel, banner) if banner else panel


def write_png(path: Path, image_rgb: np.ndarray) -> Path:
    """Encode an RGB picture as PNG into ``path`` (temp name, then renamed)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DemoError(f"{path}: OpenCV could not encode the picture")
    return atomic_write(path, lambda f: f.write(encoded.tobytes()))
