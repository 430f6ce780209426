"""What the demo is told (:class:`DemoOptions`, the CLI flags), what it returns
(:class:`DemoResult`, :class:`TrackResult`), and the input frames read under those options."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src import constants
from src.demo.timing import StageTimer
from src.inference.models import DEFAULT_SEED
from src.inference.predictor import PRED_MODES
from src.networks.config import ModelConfig
from src.video import tracks as tracks_lib
from src.video.io import open_frames

OUTPUT_NAME = "hmmr_output"
HALLUCINATION_IMAGE = "hmmr_hallucination.png"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
TRACK_FORMATS = ("auto", "openpose", "alphapose", "boxes")
DEFAULT_RENDER_MAX_SIDE = 720  # the original downscaled frames to <= 720 px before rendering
MIN_TRACK_FRAMES = tracks_lib.MIN_TRACK_FRAMES


class DemoError(ValueError):
    """A bad input or a run that cannot produce outputs; the message names the file."""


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
    seed: int = DEFAULT_SEED
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
# The input frames


def open_input(path: Path, options: DemoOptions):
    """A frame reader; bad files raise one-line errors naming the file."""
    return open_frames(path, fps=options.fps)


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
