"""Video in and out with OpenCV: streaming frame readers and an mp4 writer.

Replaces the original's ``ffmpeg`` PNG dump (docs/original_release.md §8 step 1): frames are decoded
one at a time, so memory does not grow with the length of the video, and the source fps is kept (the
original forced 25 fps on its output).

Frames are RGB ``uint8`` arrays ``(H, W, 3)``. OpenCV applies a video's rotation metadata, so a
portrait phone video comes out portrait; the reported size is that of the decoded frames.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FOLDER_FPS = 25.0  # the original's output rate, used for frame folders with no fps given
WRITER_FOURCC = "mp4v"  # the codec every OpenCV build (pip wheels included) can encode


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows before decoding everything.

    Attributes:
        path: the source file or folder.
        fps: frames per second (the container's rate, or the folder's given rate).
        num_frames: frame count; for video files the container's estimate, which some codecs
            get slightly wrong (iterate to get the exact count).
        width: frame width in pixels after rotation metadata.
        height: frame height in pixels after rotation metadata.
    """

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height


class _FrameSource:
    """What both readers share: ``info`` and its shortcuts."""

    info: VideoInfo

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def num_frames(self) -> int:
        return self.info.num_frames

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.info.size

    def __len__(self) -> int:
        return self.info.num_frames


class VideoReader(_FrameSource):
    """Streaming reader for any video file OpenCV can decode.

    Example:
        >>> with VideoReader("clip.mp4") as video:
        ...     for frame in video:  # (H, W, 3) uint8 RGB
        ...         pass

    Args:
        path: the video file.
    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot open it, or it has no decodable frame.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: video file not found")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise ValueError(f"{self.path}: not a video OpenCV can read (unknown format or codec)")
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise ValueError(f"{self.path}: video has zero frames (or none could be decoded)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._first: np.ndarray | None = first
        self.info = VideoInfo(
            path=self.path,
            fps=fps if np.isfinite(fps) and fps > 0 else DEFAULT_FOLDER_FPS,
            num_frames=max(count, 1),
            width=first.shape[1],
            height=first.shape[0],
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the frames once, in order, as ``(H, W, 3)`` uint8 RGB."""
        if self._first is None:
            raise ValueError(f"{self.path}: a VideoReader can be iterated only once; open it again")
        frame, self._first = self._first, None
        while frame is not None:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ok, frame = self._cap.read()
            if not ok:
                frame = None
        self._cap.release()

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _natural_key(name: str) -> list:
    """Sort key with digit runs compared as numbers (frame2 before frame10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class FrameFolderReader(_FrameSource):
    """Streaming reader for a folder of images (one per frame, natural name order).

    Args:
        folder: the folder.
        fps: the rate to report (and to write the output at); default 25.
    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no image, or its first image cannot be read.
    """

    def __init__(self, folder: str | os.PathLike, fps: float | None = None) -> None:
        self.path = Path(folder)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: frame folder not found")
        self.files = sorted(
            (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS),
            key=lambda p: _natural_key(p.name),
        )
        if not self.files:
            raise ValueError(f"{self.path}: expected image files ({', '.join(IMAGE_EXTENSIONS)})")
        first = read_image(self.files[0])
        self.info = VideoInfo(
            path=self.path,
            fps=float(fps) if fps else DEFAULT_FOLDER_FPS,
            num_frames=len(self.files),
            width=first.shape[1],
            height=first.shape[0],
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.files:
            yield read_image(path)

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameFolderReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image as ``(H, W, 3)`` uint8 RGB.

    Raises:
        FileNotFoundError: missing file.
        ValueError: OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_frames(
    path: str | os.PathLike, fps: float | None = None
) -> VideoReader | FrameFolderReader:
    """A reader for a video file or a folder of frames.

    Args:
        path: video file or image folder.
        fps: the rate of a frame folder (ignored for video files, which carry their own).
    """
    if Path(path).is_dir():
        return FrameFolderReader(path, fps=fps)
    return VideoReader(path)


class VideoWriter:
    """mp4 writer at a given fps; the file appears under its name only once closed.

    Frames are written to ``.<name>.tmp.mp4`` beside the target and renamed on :meth:`close`.
    Odd frame sizes are cut down to even (what H.264 players expect), the last row/column dropped.

    Args:
        path: the ``.mp4`` to write.
        fps: frames per second (use the source video's).
        size: ``(width, height)`` of the frames that will be written.
    Raises:
        ValueError: non-positive fps or size, or OpenCV cannot open an encoder.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        width, height = int(size[0]), int(size[1])
        if not fps or fps <= 0 or not np.isfinite(fps):
            raise ValueError(f"{self.path}: fps must be positive, got {fps}")
        if width < 2 or height < 2:
            raise ValueError(f"{self.path}: frame size must be at least 2x2, got {size}")
        self.size = (width - width % 2, height - height % 2)
        self.fps = float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.tmp.mp4")
        fourcc = cv2.VideoWriter_fourcc(*WRITER_FOURCC)
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            raise ValueError(f"{self.path}: OpenCV could not open an {WRITER_FOURCC} encoder")
        self.num_written = 0

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame of the size given at construction."""
        frame = np.asarray(frame_rgb)
        width, height = self.size
        too_small = frame.ndim != 3 or frame.shape[0] < height or frame.shape[1] < width
        if too_small or frame.shape[2] != 3:
            raise ValueError(
                f"{self.path}: expected an (H, W, 3) frame of at least {height}x{width}, "
                f"got {frame.shape}"
            )
        frame = np.ascontiguousarray(frame[:height, :width])
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.num_written += 1

    def close(self) -> None:
        """Finish the file and move it to its final name (no file if no frame was written)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.num_written:
            os.replace(self._tmp, self.path)
        elif self._tmp.exists():
            self._tmp.unlink()

    def abort(self) -> None:
        """Drop the partial file (on error)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | os.PathLike, frames, fps: float) -> int:
    """Write an iterable of ``(H, W, 3)`` uint8 RGB frames to an mp4; returns the frame count.

    Raises:
        ValueError: no frame was given.
    """
    writer: VideoWriter | None = None
    try:
        for frame in frames:
            if writer is None:
                writer = VideoWriter(path, fps, (frame.shape[1], frame.shape[0]))
            writer.write(frame)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise ValueError(f"{path}: no frames to write")
    writer.close()
    return writer.num_written
