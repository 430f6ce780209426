"""Live video (``demo.py --camera 0`` / ``--stream URL_OR_FILE``): frames are processed as they
arrive and each frame's prediction is emitted as soon as it is final.

Per frame: BlazePose finds the person (:class:`PersonFollower`: the one overlapping the previous
box, else the most confident; the last box is held while nobody is found), the offline demo's
224x224 crop is cut from that frame's box (no smoothing: it would need future frames), the ResNet
encodes it (batch of 1), and the original's sliding window (:meth:`Predictor.iter_predict`, one
window per pass) turns the features into predictions.

Latency: windows of ``T`` frames (20) start every ``g = T - 2 m`` frames (8, m = 6 frames of
context); window ``w`` predicts frames ``w g .. w g + g - 1`` and needs frames up to
``w g + g + m - 1``. Its predictions are final, and emitted, when that frame arrives: between
``m`` (6, the last frame of a window) and ``T - m - 1`` (13, the first) frames after a frame
arrived, plus compute. Exactly the offline windows, so given the same crops the predictions are
the offline demo's. At the end of the source (or Ctrl-C) the last frames are flushed with the
offline predictor's padding. Outputs: ``hmmr_output.npz`` / ``.pkl`` as the offline demo (held in
memory, about 6 kB per frame, written at the end), ``hmmr_output.mp4`` written as it goes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from src.demo.models import banner_text, load_demo_models
from src.demo.options import OUTPUT_NAME, DemoError, DemoOptions, frame_limit
from src.demo.outputs import (
    crop_record,
    derived_outputs,
    metadata,
    save_outputs,
    without_vertices,
)
from src.demo.render import render_frame
from src.demo.timing import StageTimer, TimedEncoder
from src.inference.models import InferenceModels
from src.inference.predictor import Predictor
from src.render.views import FrameVisualizer
from src.video import tracks as tracks_lib
from src.video.bbox import box_to_bbox_param, crop_frame, keypoints_to_bbox_param
from src.video.io import DEFAULT_FOLDER_FPS, VideoWriter

SAME_PERSON_IOU = 0.3  # a person overlapping the followed box by this much is the same person
WINDOWS_PER_PASS = 1  # each window runs as soon as its last frame arrives
Boxer = Callable[[np.ndarray], "np.ndarray | None"]  # frame -> (cx, cy, scale) or None


@dataclass
class LatencyLog:
    """Per tracked frame: when it arrived / was emitted (``time.perf_counter`` seconds) and how
    many frames arrived after it before its prediction was emitted; ``behind_s``: how far
    ``--realtime`` reading fell behind the file's clock (largest, and at the end)."""

    frames_read: int = 0
    arrived: list[float] = field(default_factory=list)
    emitted: list[float] = field(default_factory=list)
    frames_after: list[int] = field(default_factory=list)
    max_behind_s: float = 0.0
    end_behind_s: float = 0.0

    def summary(self) -> dict[str, float]:
        seconds = np.subtract(self.emitted, self.arrived[: len(self.emitted)])
        if not len(seconds):
            return {}
        return {
            "frames_after_max": int(max(self.frames_after)),
            "latency_s_mean": float(seconds.mean()),
            "latency_s_p95": float(np.percentile(seconds, 95)),
            "latency_s_max": float(seconds.max()),
        }


@dataclass
class LiveResult:
    """What a live run produced (``npz`` / ``pkl`` / ``video`` None when not written)."""

    source: str
    out_dir: Path
    num_frames: int
    num_predicted: int
    first_frame: int | None
    seconds: float
    latency: LatencyLog
    timer: StageTimer
    untrained: bool
    interrupted: bool = False
    npz: Path | None = None
    pkl: Path | None = None
    video: Path | None = None


class PersonFollower:
    """BlazePose on each frame -> the followed person's crop box ``(cx, cy, scale)`` or None.

    The person overlapping the previous box (IoU >= 0.3) is kept; when nobody does, the most
    confident person is taken (re-detection). The box comes from the confident keypoints as in
    the offline demo (:func:`keypoints_to_bbox_param`), else from the person's box.
    """

    def __init__(self, estimator=None) -> None:
        if estimator is None:
            from src.video.blazepose import PoseEstimator

            estimator = PoseEstimator()
        self.estimator = estimator
        self.box: np.ndarray | None = None  # (x1, y1, x2, y2) of the followed person

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        people = tracks_lib.detections_from_poses(self.estimator(frame))
        if not people:
            return None
        overlaps = [_iou(self.box, p.box) if self.box is not None else 0.0 for p in people]
        best = int(np.argmax(overlaps))
        if overlaps[best] < SAME_PERSON_IOU:
            best = int(np.argmax([p.score for p in people]))
        person = people[best]
        self.box = person.box
        param = keypoints_to_bbox_param(person.keypoints)
        return param if param is not None else box_to_bbox_param(person.box)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0


def live_predictions(
    frames: Iterable[np.ndarray],
    boxer: Boxer,
    predictor: Predictor,
    log: LatencyLog,
    on_untracked: Callable[[int, np.ndarray], None] = lambda index, frame: None,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[list[np.ndarray], dict[str, np.ndarray]]]:
    """Stream ``frames`` (``(H, W, 3)`` uint8 RGB, as they arrive) to predictions.

    Frames before the person is first found go to ``on_untracked``; from then on each frame is
    cropped (the last box held while nobody is found), encoded and windowed. Stops at the end of
    ``frames``, on ``stop()``, or on Ctrl-C inside ``frames``, and flushes the last frames.

    Yields:
        ``(frames, arrays)``: consecutive tracked frames and their ``(n, ...)`` outputs (the
        predictor's keys and the crop parameters, as in the offline npz), as soon as final.
    """
    pending: deque[tuple[int, np.ndarray, dict]] = deque()
    count = [0]  # frames arrived so far

    def features() -> Iterator[np.ndarray]:
        box = None
        stream = iter(frames)
        while not stop():
            try:
                frame = next(stream, None)
            except KeyboardInterrupt:
                return  # Ctrl-C while reading: flush what arrived
            if frame is None:
                return
            index, count[0] = count[0], count[0] + 1
            log.frames_read = count[0]
            arrival = time.perf_counter()
            found = boxer(frame)
            box = found if found is not None else box
            if box is None:
                on_untracked(index, frame)
                continue
            crop, where = crop_frame(frame, box[:2], float(box[2]))
            pending.append((index, frame, crop_record(index, *box, where.start_pt)))
            log.arrived.append(arrival)
            yield np.asarray(predictor.resnet(crop[None], training=False), np.float32)

    for chunk in predictor.iter_predict(features()):
        done = [pending.popleft() for _ in range(len(chunk["theta"]))]
        now = time.perf_counter()
        for index, _, _ in done:
            log.emitted.append(now)
            log.frames_after.append(count[0] - 1 - index)
        records = {k: np.concatenate([d[2][k] for d in done]) for k in done[0][2]}
        yield [d[1] for d in done], {**records, **chunk}


def open_source(source: int | str) -> tuple[cv2.VideoCapture, float]:
    """``cv2.VideoCapture`` of a camera index, a file or a URL, and its fps (25 if unknown)."""
    if isinstance(source, str) and "://" not in source and not Path(source).exists():
        raise FileNotFoundError(f"{source}: video file not found (--stream)")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        flag = "--camera" if isinstance(source, int) else "--stream"
        raise DemoError(f"{source}: OpenCV cannot open this source ({flag})")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    return capture, fps if np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FOLDER_FPS


def read_frames(
    capture: cv2.VideoCapture, fps: float, realtime: bool, limit: int | None, log: LatencyLog
) -> Iterator[np.ndarray]:
    """RGB frames as OpenCV delivers them; ``realtime``: no frame is handed out before its time
    on the file's clock (``index / fps`` after the first), none dropped; lag goes to ``log``."""
    start = time.perf_counter()
    index = 0
    while limit is None or index < limit:
        due = start + index / fps
        if realtime and due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        ok, frame = capture.read()
        if not ok or frame is None:
            return
        if realtime:
            log.end_behind_s = max(0.0, time.perf_counter() - due)
            log.max_behind_s = max(log.max_behind_s, log.end_behind_s)
        index += 1
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def source_name(source: int | str) -> str:
    """Output folder name: ``camera<N>``, a file's stem, or a URL's last part."""
    if isinstance(source, int):
        return f"camera{source}"
    return Path(source.rstrip("/").split("?")[0]).stem or "stream"


def has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


class _Overlay:
    """The overlay video written as frames come (and shown with ``--show``)."""

    def __init__(self, path: Path, fps: float, options: DemoOptions, models, show: bool) -> None:
        self.path, self.fps, self.options, self.show = path, fps, options, show
        self.visualizer = FrameVisualizer(models.smpl.faces, color=options.mesh_color)
        self.banner = banner_text(models)
        self.writer: VideoWriter | None = None
        self.quit = False  # q pressed in the window

    @property
    def draws(self) -> bool:
        """Whether frames are drawn at all (``--norender`` without ``--show``: nothing to draw)."""
        return self.options.render or self.show

    def add(self, frame: np.ndarray, vertices=None, cam_norm=None) -> None:
        if not self.draws:
            return
        panel, _ = render_frame(
            self.visualizer, vertices, cam_norm, frame, self.options.render_max_side, self.banner
        )
        if self.options.render:
            if self.writer is None:
                self.writer = VideoWriter(self.path, self.fps, (panel.shape[1], panel.shape[0]))
            self.writer.write(panel)
        if self.show:
            cv2.imshow("HMMR live (q: stop)", cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
            self.quit = self.quit or cv2.waitKey(1) & 0xFF == ord("q")

    def add_predicted(self, frames: list[np.ndarray], arrays: dict) -> None:
        """Draws predicted frames with the meshes the predictor returned (``verts``: it runs
        with ``with_present_verts`` whenever the overlay draws)."""
        if not self.draws:
            return
        for i, frame in enumerate(frames):
            self.add(frame, arrays["verts"][i], arrays["cams_orig_norm"][i])

    def close(self) -> Path | None:
        if self.show:
            cv2.destroyAllWindows()
        if self.writer is None:
            return None
        self.writer.close()
        return self.path


def run_live(
    source: int | str,
    options: DemoOptions,
    realtime: bool = False,
    show: bool = False,
    models: InferenceModels | None = None,
    boxer: Boxer | None = None,
) -> LiveResult:
    """The live demo on a camera index or a file / URL (see the module docstring).

    ``boxer`` replaces BlazePose (tests: given boxes). Ctrl-C (SIGINT) or ``q`` in the
    ``--show`` window stops reading; the frames read so far are flushed and saved.
    """
    capture, fps = open_source(source)
    fps = options.fps or fps
    out_dir = options.out_dir / source_name(source) / OUTPUT_NAME
    models = models or load_demo_models(options)
    follow = boxer or PersonFollower()
    timer = StageTimer()

    def boxer(frame: np.ndarray) -> np.ndarray | None:
        with timer.stage("pose", frames=1):
            return follow(frame)

    show = show and has_display()
    predictor = Predictor(
        models.model, models.smpl, T=options.sequence_length, batch_size=WINDOWS_PER_PASS,
        resnet=TimedEncoder(models.resnet, models.config.img_size, timer),
        pred_mode=options.pred_mode, with_verts=options.save_verts,
        with_present_verts=options.render or show,  # the meshes to draw, in the same traced call
    )  # fmt: skip
    predictor.predict_phi(predictor.pad_phi)  # trace the window pass before the first frame
    overlay = _Overlay(out_dir / f"{OUTPUT_NAME}.mp4", fps, options, models, show)
    log, parts = LatencyLog(), []
    stopped = threading.Event()
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, lambda *_: stopped.set())
    started = time.perf_counter()
    img_size = None
    try:
        frames = timer.timed_iter(
            "decode", read_frames(capture, fps, realtime, frame_limit(options), log)
        )
        stream = live_predictions(
            frames, boxer, predictor, log, on_untracked=lambda _, frame: overlay.add(frame),
            stop=lambda: stopped.is_set() or overlay.quit,
        )  # fmt: skip
        for batch, arrays in stream:
            img_size = batch[0].shape[:2]
            focal = options.focal_px or float(max(img_size))
            arrays.update(derived_outputs(arrays, img_size, focal))
            with timer.stage("render", frames=len(batch)):
                overlay.add_predicted(batch, arrays)
            parts.append(arrays if options.save_verts else without_vertices(arrays))
    except KeyboardInterrupt:  # Ctrl-C outside the handler (not the main thread): keep outputs
        stopped.set()
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        capture.release()
        video = overlay.close()
    result = LiveResult(
        source=str(source), out_dir=out_dir, num_frames=log.frames_read,
        num_predicted=sum(len(p["theta"]) for p in parts),
        first_frame=int(parts[0]["frame_ids"][0]) if parts else None,
        seconds=time.perf_counter() - started, latency=log, timer=timer,
        untrained=models.untrained, interrupted=stopped.is_set() or overlay.quit, video=video,
    )  # fmt: skip
    if parts:
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        focal = options.focal_px or float(max(img_size))
        meta = metadata(str(source), img_size, fps, focal, models, options, 0, 0)
        result.npz, result.pkl = save_outputs(arrays, meta, out_dir, options.write_pkl)
    return result
