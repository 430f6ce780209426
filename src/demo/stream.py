"""Step 1-2 of the demo in one decode pass (BlazePose tracks): each frame is decoded once, read by
BlazePose, linked to the person tracks (:class:`src.video.tracks.TrackLinker`), and cut into each
track's 224x224 crop as soon as that track's smoothed box for the frame is final. The crops are
spooled to a temporary file (:class:`CropSpool`), so memory holds a bounded number of frames
whatever the video length; the rendering pass decodes the video a second time.

Why a bounded look-ahead is exact: the smoothed box of frame ``f`` (:mod:`src.video.bbox`: gaps
interpolated, median kernel 11, Gaussian sigma 3 truncated at 4 sigma) depends only on the
per-frame boxes of frames ``f - R .. f + R``, ``R`` = :data:`SMOOTH_RADIUS` (5 + 12 = 17), on the
nearest valid boxes around them, and on where the track starts and ends when that is within ``R``
of ``f``. So frame ``f`` is cut once the track has a valid box at ``f + R`` or later, or once it
can no longer be extended (missing for more than the linker's gap); smoothing a window from the
last valid box at or before ``f - R`` to the first at or after ``f + R`` gives the whole track's
value bit for bit. A frame no longer in the buffer (a track whose keypoints stay unconfident for
long) leaves that track's spool incomplete; :meth:`CropSpool.matches` then fails and the
pipeline cuts that track's crops in a second decode pass, as before.
"""

from __future__ import annotations

import bisect
import math
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from src.constants import IMG_SIZE
from src.video import bbox as bbox_lib
from src.video.tracks import MAX_GAP_FRAMES, Detection

TRUNCATE_SIGMAS = 4.0  # scipy.ndimage.gaussian_filter1d's default truncation
SMOOTH_RADIUS = bbox_lib.MEDIAN_KERNEL // 2 + math.ceil(TRUNCATE_SIGMAS * bbox_lib.GAUSSIAN_SIGMA)
SPOOL_DTYPE = np.float16  # crops in [-1, 1]: 300 kB per frame, error under 5e-4
SPOOL_CHUNK = 64  # frames per read when the spool is played back
MAX_PENDING_WRITES = 16  # crops handed to the writer thread and not yet written (5 MB)


class CropSpool:
    """One track's 224x224 crops in a temporary file, in frame order, with their parameters.

    The file is written by a writer thread (a write blocks while the caller cuts the next
    crop), at most :data:`MAX_PENDING_WRITES` crops behind.

    Args:
        path: the file (created; removed by :meth:`close`).
        writer: the one-thread executor that writes (shared by the spools of one video; the
            caller shuts it down).
    """

    def __init__(self, path: Path, writer: ThreadPoolExecutor) -> None:
        self.path = Path(path)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._writer = writer
        self._pending: deque[Future] = deque()
        self.frame_ids: list[int] = []
        self.params: list[np.ndarray] = []  # (3,) (cx, cy, scale) per frame
        self.start_pts: list[np.ndarray] = []  # (2,) crop top-left per frame
        self.complete = True  # False once a frame could not be cut (left the buffer)

    def __len__(self) -> int:
        return len(self.frame_ids)

    def append(
        self, index: int, crop: np.ndarray, params: np.ndarray, start_pt: np.ndarray
    ) -> None:
        """Add frame ``index``'s crop ``(224, 224, 3)`` float32 and its parameters."""
        data = np.ascontiguousarray(crop, SPOOL_DTYPE).tobytes()
        if self._file.closed:  # sealed, then given more frames: carry on at the end
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed by seal() / close()
        while len(self._pending) >= MAX_PENDING_WRITES:
            self._pending.popleft().result()
        self._pending.append(self._writer.submit(self._file.write, data))
        self.frame_ids.append(index)
        self.params.append(np.asarray(params, np.float64))
        self.start_pts.append(np.asarray(start_pt))

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        if not self._file.closed:
            self._file.flush()

    def seal(self) -> None:
        """The track ended: write what is pending and close the file, so that a video with
        many people does not hold a file handle per track it has seen (the file stays)."""
        self._drain()
        self._file.close()

    def matches(self, bboxes: bbox_lib.SmoothBBoxes, first: int, last: int) -> bool:
        """Whether the spool holds exactly frames ``first .. last`` cut with ``bboxes`` (the whole
        track's smoothing, from frame ``first``)."""
        count = last - first + 1
        if not self.complete or len(self) < count or count <= 0:
            return False
        if self.frame_ids[0] != first or self.frame_ids[count - 1] != last:
            return False
        return bool(np.array_equal(np.stack(self.params[:count]), bboxes.params[:count]))

    def crops(self, count: int) -> Iterator[np.ndarray]:
        """The first ``count`` crops, ``(n, 224, 224, 3)`` float32 chunks read back in turn."""
        self._drain()
        frame_values = IMG_SIZE * IMG_SIZE * 3
        with open(self.path, "rb") as f:
            done = 0
            while done < count:
                n = min(SPOOL_CHUNK, count - done)
                flat = np.fromfile(f, SPOOL_DTYPE, n * frame_values)
                if flat.size != n * frame_values:
                    raise ValueError(f"{self.path}: crop spool ended after {done} frames")
                yield flat.reshape(n, IMG_SIZE, IMG_SIZE, 3).astype(np.float32)
                done += n

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        for future in self._pending:
            if not future.cancelled():
                future.exception()  # wait for a write under way
        self._pending.clear()
        self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass
class _TrackState:
    """What the streaming cropper knows of one track."""

    spool: CropSpool
    last_seen: int = -1  # last frame with a detection
    valid_frames: list[int] = field(default_factory=list)  # frames with a usable box
    valid_params: list[np.ndarray] = field(default_factory=list)  # their raw (cx, cy, scale)
    next_frame: int | None = None  # next frame to cut
    finished: bool = False

    def smoothed(self, frame: int) -> np.ndarray:
        """``(3,)`` the whole track's smoothed ``(cx, cy, scale)`` at ``frame`` (see module doc)."""
        lo = max(bisect.bisect_right(self.valid_frames, frame - SMOOTH_RADIUS) - 1, 0)
        hi = min(bisect.bisect_left(self.valid_frames, frame + SMOOTH_RADIUS), len(self) - 1)
        start, end = self.valid_frames[lo], self.valid_frames[hi]
        per_frame: list[np.ndarray | None] = [None] * (end - start + 1)
        for i in range(lo, hi + 1):
            per_frame[self.valid_frames[i] - start] = self.valid_params[i]
        params, _, _ = bbox_lib.interpolate_bbox_params(per_frame)
        return bbox_lib.smooth_bbox_params(params)[frame - start]

    def __len__(self) -> int:
        return len(self.valid_frames)


class StreamingCropper:
    """Cuts every track's crops while the video streams by (see the module doc).

    Example:
        >>> cropper = StreamingCropper(folder)
        >>> for index, frame in enumerate(frames):
        ...     detections = ...  # this frame's people
        ...     cropper.add_frame(index, frame, detections, linker.add_frame(detections))
        >>> cropper.finish()
        >>> cropper.spools[track_id]  # CropSpool

    Args:
        folder: where the spool files go.
        max_gap: the linker's gap (a track missing longer can no longer grow).
        crop: the crop function, ``crop(frame, center, scale) -> (crop, CropParams)``.
    """

    def __init__(
        self, folder: Path, max_gap: int = MAX_GAP_FRAMES, crop: Callable = bbox_lib.crop_frame
    ) -> None:
        self.folder = Path(folder)
        self.max_gap = max_gap
        self.buffer_frames = SMOOTH_RADIUS + max_gap + 2  # oldest frame a track may still need
        self._crop = crop
        self._frames: deque[tuple[int, np.ndarray]] = deque(maxlen=self.buffer_frames)
        self._tracks: dict[int, _TrackState] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crop-spool")
        self.num_frames = 0
        self.num_crops = 0

    @property
    def spools(self) -> dict[int, CropSpool]:
        return {track_id: state.spool for track_id, state in self._tracks.items()}

    def add_frame(
        self, index: int, frame: np.ndarray, detections: list[Detection], track_ids: list[int]
    ) -> None:
        """Frame ``index`` (``(H, W, 3)`` uint8), its people and the track id of each."""
        self._frames.append((index, frame))
        self.num_frames = index + 1
        for det, track_id in zip(detections, track_ids, strict=True):
            state = self._tracks.get(track_id)
            if state is None:
                path = Path(tempfile.mkstemp(prefix=f"track{track_id}_", dir=self.folder)[1])
                state = self._tracks[track_id] = _TrackState(CropSpool(path, self._writer))
            state.last_seen = index
            params = bbox_lib.keypoints_to_bbox_param(det.keypoints) if det.has_keypoints else None
            if params is not None:
                state.valid_frames.append(index)
                state.valid_params.append(params)
                if state.next_frame is None:
                    state.next_frame = index
        for state in self._tracks.values():
            if not state.finished:
                state.finished = self.num_frames - state.last_seen - 1 > self.max_gap
                self._advance(state)

    def finish(self) -> None:
        """The video ended: cut the remaining frames of every track."""
        for state in self._tracks.values():
            state.finished = True
            self._advance(state)

    def close(self) -> None:
        """Remove the spool files."""
        for state in self._tracks.values():
            state.spool.close()
        self._writer.shutdown(wait=True)

    def _advance(self, state: _TrackState) -> None:
        if not state.valid_frames or not state.spool.complete:
            if state.finished:
                state.spool.seal()
            return
        last = state.valid_frames[-1] if state.finished else state.valid_frames[-1] - SMOOTH_RADIUS
        buffered = dict(self._frames)
        while state.next_frame is not None and state.next_frame <= last:
            frame = buffered.get(state.next_frame)
            if frame is None:  # no longer buffered: this track's crops come from a second pass
                state.spool.complete = False
                return
            params = state.smoothed(state.next_frame)
            crop, where = self._crop(frame, params[:2], float(params[2]))
            state.spool.append(state.next_frame, crop, params, where.start_pt)
            state.next_frame += 1
            self.num_crops += 1
        if state.finished:
            state.spool.seal()
