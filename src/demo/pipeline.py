"""The demo on one video, streaming (memory bounded by one batch of windows and a few frames,
whatever the video length; docs/original_release.md §8):

1. tracks (:mod:`src.demo.tracks`), found while a thread builds the models and traces the
   predictor (a video without people fails as soon as that thread is done). With BlazePose,
   the same decode pass cuts every track's 224x224 crops and spools them to disk
   (:mod:`src.demo.stream`); with a tracks file (or a track whose crops could not all be cut
   in that pass) the crops are cut while the video is decoded again;
2. ResNet features in batches and the original's sliding window
   (:class:`src.inference.predictor.Predictor`), spooled to a :class:`~src.demo.outputs.FrameStore`
   and saved (:mod:`src.demo.outputs`);
3. the rendered video (:mod:`src.demo.render`), from a second decode pass (it overlays the
   meshes on the full frames).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from src.demo.models import announce_models, load_demo_models
from src.demo.options import (
    OUTPUT_NAME,
    DemoError,
    DemoOptions,
    DemoResult,
    TrackResult,
    frame_limit,
    open_input,
    prepare_out_dir,
    remove_empty_folders,
)
from src.demo.outputs import (
    FrameStore,
    add_derived_outputs,
    crop_record,
    metadata,
    save_bvh,
    save_outputs,
    without_vertices,
)
from src.demo.render import render_safely
from src.demo.stream import CropSpool, StreamingCropper
from src.demo.timing import StageTimer, TimedEncoder, progress_bar
from src.demo.tracks import find_tracks, track_bboxes
from src.inference.models import InferenceModels
from src.inference.predictor import Predictor
from src.video import tracks as tracks_lib
from src.video.bbox import crop_frame
from src.video.io import VideoInfo


def make_predictor(models: InferenceModels, options: DemoOptions, timer: StageTimer) -> Predictor:
    """The sliding-window predictor over the models, its ResNet timed as ``features`` by
    ``timer``. Built once per models and settings, then reused (``--vid_dir``): its padding
    feature, its traced functions and their first calls (graph optimisation, kernel set-up) cost
    about 1.8 s on 2 cores the first time, nothing after. A new predictor runs one window pass
    on padding here, so that the first real batch pays none of it."""
    key = (
        "demo", options.sequence_length, options.batch_size, options.pred_mode,
        options.save_verts, options.render,
    )  # fmt: skip
    predictor = models.predictors.get(key)
    if predictor is None:
        encoder = TimedEncoder(models.resnet, models.config.img_size, timer)
        predictor = models.predictors[key] = Predictor(
            models.model, models.smpl, T=options.sequence_length, batch_size=options.batch_size,
            resnet=encoder, pred_mode=options.pred_mode, with_verts=options.save_verts,
            with_present_verts=options.render,  # the meshes to render, in the same traced call
        )  # fmt: skip
        predictor.predict_phi(predictor.pad_phi[np.newaxis])  # trace and run the window pass
    predictor.resnet.timer = timer  # this input's stages
    return predictor


class _Preparation:
    """The models (unless given) and the predictor, built and traced in a thread while the main
    thread finds the tracks.

    Building, tracing and the first calls' graph optimisation run mostly on one core (Python,
    single-threaded C++). Beside BlazePose they slow it down (its stage took about 2.0 s instead
    of 1.1 s on 96 frames, 2 cores) but save more than that: 0-10 % of the demo's wall time on
    2 cores (docs/benchmarks.md, "Third round"). Nothing else touches the models while the
    thread runs; :meth:`result` joins it and re-raises its error.
    """

    def __init__(self, models: InferenceModels | None, options: DemoOptions) -> None:
        self._models, self._options = models, options
        self._built: tuple[InferenceModels, Predictor] | None = None
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._build, name="hmmr-demo-prepare", daemon=True)
        self._thread.start()

    def _build(self) -> None:
        try:
            models = self._models or load_demo_models(self._options, announce=False)
            if self._cancelled.is_set():  # the run failed or was stopped: no predictor needed
                return
            self._built = models, make_predictor(models, self._options, StageTimer())
        except BaseException as err:  # re-raised in the caller's thread by result()
            self._error = err

    def cancel(self) -> None:
        """Stop after the step in progress (building the models cannot be interrupted; making
        and tracing the predictor is skipped) and wait for the thread: for a run that failed or
        was stopped during the tracking, which then ends up to about 2 s sooner."""
        self._cancelled.set()
        self.wait()

    def wait(self) -> None:
        self._thread.join()

    def result(self, timer: StageTimer) -> tuple[InferenceModels, Predictor]:
        """The models and the predictor (its ResNet timed by ``timer``), once built."""
        self.wait()
        if self._error is not None:
            raise self._error
        models, predictor = self._built
        if self._models is None:  # built here: warn now, not across the tracking's progress bar
            announce_models(models)
        predictor.resnet.timer = timer
        return models, predictor


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
    with open_input(path, options) as reader:
        for index, frame in enumerate(timer.timed_iter("decode", reader)):
            if index > last:
                return
            if index < first:
                continue
            cx, cy, scale = params[index - first]
            with timer.stage("crop", frames=1):
                crop, where = crop_frame(frame, np.array([cx, cy]), float(scale))
            store.append(crop_record(index, cx, cy, scale, where.start_pt))
            yield crop


def _spooled_crops(
    spool: CropSpool, first: int, last: int, store: FrameStore, timer: StageTimer
) -> Iterator[np.ndarray]:
    """The crops of frames ``first .. last`` read back from the tracking pass's spool, in
    chunks; the crop parameters go to ``store`` as they are yielded."""
    count = last - first + 1
    chunks = spool.crops(count)
    done = 0
    while True:
        with timer.stage("crop"):
            chunk = next(chunks, None)
        if chunk is None:
            return
        for row in range(done, done + len(chunk)):
            cx, cy, scale = spool.params[row]
            store.append(crop_record(first + row, cx, cy, scale, spool.start_pts[row]))
        done += len(chunk)
        yield chunk


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


def track_dir_name(rank: int) -> str:
    """``hmmr_output`` for the longest track, ``hmmr_output_<rank>`` for the others."""
    return OUTPUT_NAME if rank == 0 else f"{OUTPUT_NAME}_{rank}"


def input_name(path: Path) -> str:
    """The output folder of an input: a video's stem, a frame folder's name."""
    return path.stem if path.is_file() else path.name


def process_track(
    path: Path,
    info: VideoInfo,
    track: tracks_lib.Track,
    rank: int,
    predictor: Predictor,
    models: InferenceModels,
    options: DemoOptions,
    timer: StageTimer,
    crops_spool: CropSpool | None = None,
) -> TrackResult:
    """Crops (from the tracking pass's ``crops_spool`` when it holds them all, else decoded
    again) -> predictions -> saved outputs (npz, pkl, ``--bvh``) -> rendered video for one
    track."""
    bboxes = track_bboxes(track)
    first = track.first_frame + bboxes.start
    last = track.first_frame + bboxes.end - 1
    if options.max_frames:
        last = min(last, options.max_frames - 1)
    video_dir = options.out_dir / input_name(path)
    out_dir = video_dir / track_dir_name(rank)
    made = [p for p in (video_dir, out_dir) if not p.exists()]  # the only ones to clean up
    video_dir.mkdir(parents=True, exist_ok=True)
    spool = Path(tempfile.mkdtemp(prefix=f".{OUTPUT_NAME}_tmp", dir=video_dir))
    store = FrameStore(spool, last - first + 1)
    saved = False
    try:
        if crops_spool is not None and crops_spool.matches(bboxes, first, last):
            crops = _spooled_crops(crops_spool, first, last, store, timer)
        else:
            crops = _track_crops(path, options, bboxes.params, first, last, store, timer)
        with progress_bar(options.progress, last - first + 1, f"predicting track {rank}") as bar:
            predict_track(crops, predictor, store, timer, bar)
        if store.num_frames == 0:
            raise DemoError(f"{path}: no frame of track {rank} could be decoded")
        img_size = (info.height, info.width)
        focal = options.focal_px or float(max(img_size))
        add_derived_outputs(store, img_size, focal)
        arrays = store.arrays()
        meta = metadata(path, img_size, info.fps, focal, models, options, rank, track.track_id)
        saved_arrays = arrays if options.save_verts else without_vertices(arrays)
        npz, pkl = save_outputs(saved_arrays, meta, out_dir, options.write_pkl)
        saved = True
        result = TrackResult(
            rank, track.track_id, int(arrays["frame_ids"][0]), store.num_frames, out_dir, npz, pkl
        )
        if options.bvh:
            result.bvh = save_bvh(arrays, meta, out_dir, models.body_model)
        if options.render:
            kept = [f for f in (npz, pkl, result.bvh) if f is not None]
            result.video, result.crop_video = render_safely(
                path, options, arrays, models, info, out_dir, predictor.margin, timer, kept
            )
        return result
    finally:
        store.close()
        shutil.rmtree(spool, ignore_errors=True)
        if not saved:
            remove_empty_folders(made)


def run_video(
    path: str | os.PathLike,
    options: DemoOptions,
    models: InferenceModels | None = None,
    timer: StageTimer | None = None,
    created: list[Path] | None = None,
) -> DemoResult:
    """The whole demo on one video file (or frame folder).

    The output folder is created and write-probed first (``created``: the folders the caller
    already made for it, when it checked them itself), then the tracks are found while a thread
    builds the models (unless given) and traces the predictor; a tracking error is raised once
    that thread is done, a model error once the tracks are found. A failed run removes only
    empty folders it created.

    Raises:
        FileNotFoundError / DemoError (a ValueError) with a one-line message naming the file.
    """
    path = Path(path)
    created = list(created or [])
    try:
        with open_input(path, options) as reader:  # missing / unreadable / empty fail here
            info = reader.info
        if options.tracks_json and not Path(options.tracks_json).exists():
            raise FileNotFoundError(f"{options.tracks_json}: tracks file not found (--tracks_json)")
        created += prepare_out_dir(options.out_dir)
        timer = timer or StageTimer()
        spool_dir = Path(tempfile.mkdtemp(prefix=f".{OUTPUT_NAME}_crops", dir=options.out_dir))
        cropper = None if options.tracks_json else StreamingCropper(spool_dir)
        try:
            preparation = _Preparation(models, options)  # beside the tracking
            try:
                tracks = find_tracks(path, options, info, timer, cropper)
                if not options.all_tracks and options.track_id >= len(tracks):
                    raise DemoError(
                        f"{path}: --track_id {options.track_id} asked, but only {len(tracks)} "
                        f"person track(s) were found (--track_id 0 .. {len(tracks) - 1})"
                    )
            except BaseException:
                preparation.cancel()  # no TensorFlow left running in a thread at exit
                raise
            models, predictor = preparation.result(timer)
            chosen = tracks_lib.select_tracks(tracks, options.track_id, options.all_tracks)
            ranks = range(len(tracks)) if options.all_tracks else [options.track_id]
            spools = cropper.spools if cropper is not None else {}
            results = []
            for rank, track in zip(ranks, chosen, strict=True):
                spool = spools.get(track.track_id)
                args = (path, info, track, rank, predictor, models, options, timer, spool)
                results.append(process_track(*args))
        finally:
            if cropper is not None:
                cropper.close()
            shutil.rmtree(spool_dir, ignore_errors=True)
    except BaseException:
        remove_empty_folders(created)
        raise
    num_frames = frame_limit(options, info.num_frames) or info.num_frames
    return DemoResult(
        path, results, timer, models.untrained, num_tracks=len(tracks), num_frames=num_frames,
        created=created,
    )  # fmt: skip
