"""What the demo is told (:class:`DemoOptions`, the CLI flags), what it returns
(:class:`DemoResult`, :class:`TrackResult`), and the input frames read under those options."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from src import constants

if TYPE_CHECKING:  # the command line reads this module before TensorFlow is imported
    from src.demo.timing import StageTimer
    from src.networks.config import ModelConfig

OUTPUT_NAME = "hmmr_output"
HALLUCINATION_IMAGE = "hmmr_hallucination.png"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
TRACK_FORMATS = ("auto", "openpose", "alphapose", "boxes")
DEFAULT_RENDER_MAX_SIDE = 720  # the original downscaled frames to <= 720 px before rendering
# Copies of src.video.tracks.MIN_TRACK_FRAMES, src.inference.predictor.PRED_MODES,
# src.inference.models.DEFAULT_SEED and src.video.blazepose.DETECT_EVERY (tests/demo/test_cli.py
# checks that they agree): the command line answers --help and argument errors without importing
# SciPy or TensorFlow.
MIN_TRACK_FRAMES = 20
DETECT_EVERY = 10
PRED_MODES: tuple[str, ...] = ("pred", "hal", "const")
DEFAULT_SEED = 0


class DemoError(ValueError):
    """A bad input or a run that cannot produce outputs; the message names the file."""


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C while rendering: the npz / pkl were already saved and are kept.

    Attributes:
        kept: the saved files.
    """

    def __init__(self, kept: list[Path]) -> None:
        super().__init__(f"interrupted while rendering; kept {', '.join(map(str, kept))}")
        self.kept = kept


@dataclass
class DemoOptions:
    """Everything the demo can be told (the CLI flags; see :func:`src.demo.cli.build_parser`).

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
    detect_every: int = DETECT_EVERY
    render: bool = True
    crop_grid: bool = False
    trim: bool = False
    pred_mode: str = "pred"
    save_verts: bool = False
    write_pkl: bool = True
    bvh: bool = False
    sequence_length: int = constants.SEQUENCE_LENGTH
    batch_size: int = 8
    max_frames: int = 0
    fps: float | None = None
    focal_px: float | None = None
    mesh_color: str = "blue"
    render_max_side: int = DEFAULT_RENDER_MAX_SIDE
    seed: int = DEFAULT_SEED
    precision: str = constants.DEFAULT_PRECISION
    progress: bool = True
    model_config: ModelConfig | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.precision not in constants.PRECISIONS:
            raise DemoError(
                f"--precision must be one of {constants.PRECISIONS}, got {self.precision!r}"
            )
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
            "--detect_every": self.detect_every >= 1,
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
        out_dir: the track's folder; ``npz``, ``pkl``, ``bvh``, ``video``, ``crop_video``
            inside it (None when not written; ``video`` is None when rendering was off or
            failed).
    """

    rank: int
    track_id: int
    first_frame: int
    num_frames: int
    out_dir: Path
    npz: Path
    pkl: Path | None = None
    bvh: Path | None = None
    video: Path | None = None
    crop_video: Path | None = None


@dataclass
class DemoResult:
    """One input's results and the time spent per stage.

    Attributes:
        num_tracks: person tracks found (all of them, not only the ones processed).
        num_frames: input frames read (after ``--max_frames``).
        person_box: single images: the person's box ``(cx, cy, scale)`` (crop centre in pixels,
            scale to the 224 crop); None for videos.
    """

    input: Path
    tracks: list[TrackResult]
    timer: StageTimer
    untrained: bool
    image: Path | None = None
    num_tracks: int = 0
    num_frames: int = 0
    person_box: tuple[float, float, float] | None = None
    created: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# The input frames


def check_input(path: Path, flag: str = "--vid_path") -> None:
    """Errors a user can act on, before any decoding: a zero-byte file is called empty, and a
    folder of videos given as ``--vid_path`` (which takes a folder of frames) gets a hint to use
    ``--vid_dir``."""
    if path.is_file() and path.stat().st_size == 0:
        raise DemoError(f"{path}: empty file (0 bytes), expected a video or an image ({flag})")
    if flag == "--vid_path" and path.is_dir():
        videos = [p.name for p in path.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS]
        if videos:
            raise DemoError(
                f"{path}: a folder holding videos ({videos[0]}, ...); --vid_path takes a video "
                f"file or a folder of frames: use --vid_dir {path} to process each video"
            )


def open_input(path: Path, options: DemoOptions):
    """A frame reader; bad files raise one-line errors naming the file."""
    from src.video.io import open_frames  # OpenCV: not needed to parse the command line

    check_input(path)
    return open_frames(path, fps=options.fps)


# ------------------------------------------------------------------------------------------------
# The output folder, checked before any work


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, outermost first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    return missing[::-1]


def _why_not_writable(folder: Path, err: OSError) -> str:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                return f"{candidate} is a file, not a folder"
            break
    if err.errno in (errno.EROFS,):
        return "read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.ENOENT:  # e.g. /proc: the parent exists but takes no new folders
        return "this file system does not allow creating files or folders there"
    return err.strerror or type(err).__name__


def prepare_out_dir(folder: Path) -> list[Path]:
    """Create ``folder`` (``--out_dir``) and check that a file can be written in it, before any
    work; returns the folders this call created (outermost first), the only ones a failed run
    may remove.

    Raises:
        DemoError: one line naming the folder and the reason (a file in the way, /proc, a
            read-only or permission-denied folder).
    """
    folder = Path(folder)
    created = _missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".hmmr_write_probe", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        remove_empty_folders(created)
        reason = _why_not_writable(folder, err)
        raise DemoError(f"{folder}: cannot write the output folder (--out_dir): {reason}") from None
    return created


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """Remove the empty ones among ``folders`` (innermost first); others are left alone."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass


def frame_limit(options: DemoOptions, num_frames: int | None = None) -> int | None:
    """Frames to read: ``--max_frames`` (0 = all), at most ``num_frames``; None = no limit."""
    limit = options.max_frames or None
    if num_frames is not None:
        limit = num_frames if limit is None else min(limit, num_frames)
    return limit


def limited(frames: Iterable[np.ndarray], limit: int | None) -> Iterator[np.ndarray]:
    """The first ``limit`` frames (all when None)."""
    for index, frame in enumerate(frames):
        if limit is not None and index >= limit:
            return
        yield frame


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly inside ``folder`` (``--vid_dir``), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: video folder not found (--vid_dir)")
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise DemoError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return videos
