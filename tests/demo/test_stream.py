"""The single decode pass: crops cut while the video streams by equal the whole-track smoothing's
crops, a track that outlives the frame buffer is sent to the second pass, memory stays bounded."""

from __future__ import annotations

import numpy as np
import pytest

from src.constants import NUM_KPS
from src.demo.stream import SMOOTH_RADIUS, StreamingCropper
from src.demo.tracks import track_bboxes
from src.video.bbox import crop_frame
from src.video.tracks import MAX_GAP_FRAMES, Detection, TrackLinker, build_tracks

H, W = 96, 128
FP16_ATOL = 1e-3  # crops in [-1, 1] spooled as float16


def _person(x: float, y: float, size: float, confidence: float = 0.9) -> Detection:
    """A detection whose 25 keypoints fill a ``size`` box with its top-left at (x, y)."""
    grid = np.linspace(0.0, 1.0, NUM_KPS)
    keypoints = np.stack([x + size * grid, y + size * grid[::-1], np.full(NUM_KPS, confidence)], 1)
    return Detection(keypoints, np.array([x, y, x + size, y + size]))


def _stream(frames, detections, folder) -> tuple[StreamingCropper, list]:
    cropper, linker = StreamingCropper(folder), TrackLinker()
    for index, (frame, dets) in enumerate(zip(frames, detections, strict=True)):
        cropper.add_frame(index, frame, dets, linker.add_frame(dets))
    cropper.finish()
    return cropper, build_tracks(detections, min_frames=1)


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(count)]


def test_streamed_crops_equal_the_whole_track_smoothing_and_its_crops(tmp_path):
    """Two people: A walks through all 80 frames, missed on frames 20-24 and unconfident on
    40-42; B is seen on frames 10-45 only. Reference: :func:`track_bboxes` on each finished
    track and :func:`crop_frame` on every frame."""
    frames = _frames(80)
    detections = []
    for t in range(80):
        dets = []
        if not 20 <= t <= 24:
            dets.append(
                _person(5 + 0.4 * t, 10 + 0.1 * t, 40 + 0.1 * t, 0.05 if 40 <= t <= 42 else 0.9)
            )
        if 10 <= t <= 45:
            dets.append(_person(80 - 0.3 * t, 40, 30))
        detections.append(dets)
    cropper, tracks = _stream(frames, detections, tmp_path)
    try:
        assert len(tracks) == 2
        for track in tracks:
            bboxes = track_bboxes(track)
            first = track.first_frame + bboxes.start
            last = track.first_frame + bboxes.end - 1
            spool = cropper.spools[track.track_id]
            assert spool.matches(bboxes, first, last)  # the parameters agree bit for bit
            got = np.concatenate(list(spool.crops(last - first + 1)))
            for row, (cx, cy, scale) in enumerate(bboxes.params):
                expected, where = crop_frame(frames[first + row], np.array([cx, cy]), scale)
                np.testing.assert_allclose(got[row], expected, atol=FP16_ATOL)
                np.testing.assert_array_equal(spool.start_pts[row], where.start_pt)
        assert cropper.num_crops == sum(len(s) for s in cropper.spools.values())
    finally:
        cropper.close()
    assert not list(tmp_path.iterdir())  # the spool files are removed


def test_a_track_needing_a_frame_no_longer_buffered_goes_to_the_second_pass(tmp_path):
    """Seen on frames 0-59 but with unconfident keypoints on 6-45: its boxes there are
    interpolated from frames 5 and 46, after frame 6 left the buffer."""
    frames = _frames(60)
    detections = [[_person(10 + t, 20, 40, 0.05 if 6 <= t <= 45 else 0.9)] for t in range(60)]
    cropper, tracks = _stream(frames, detections, tmp_path)
    try:
        (track,) = tracks
        bboxes = track_bboxes(track)
        spool = cropper.spools[track.track_id]
        assert not spool.complete
        assert not spool.matches(bboxes, bboxes.start, bboxes.end - 1)
    finally:
        cropper.close()


def test_the_cropper_buffers_a_fixed_number_of_frames_whatever_the_length(tmp_path):
    frames = _frames(3)
    cropper, linker = StreamingCropper(tmp_path), TrackLinker()
    try:
        for index in range(200):
            dets = [_person(10 + 0.2 * index, 20, 40)]
            cropper.add_frame(index, frames[index % 3], dets, linker.add_frame(dets))
            assert len(cropper._frames) <= SMOOTH_RADIUS + MAX_GAP_FRAMES + 2
            # a steadily seen person's crops lag the stream by the smoothing radius only
            assert cropper.num_crops == max(0, index + 1 - SMOOTH_RADIUS)
    finally:
        cropper.close()


@pytest.mark.parametrize("count", [1, 3])
def test_a_very_short_track_is_cut_at_the_end(tmp_path, count):
    frames = _frames(count)
    detections = [[_person(10, 20, 40)] for _ in range(count)]
    cropper, tracks = _stream(frames, detections, tmp_path)
    try:
        (track,) = tracks
        bboxes = track_bboxes(track)
        assert cropper.spools[track.track_id].matches(bboxes, 0, count - 1)
    finally:
        cropper.close()


def test_a_finished_track_keeps_no_file_open(tmp_path):
    # a crowded video sees many short tracks: each closes its spool file when it ends (the file
    # stays for the prediction pass), so open handles do not grow with the number of tracks
    frames = _frames(3)
    cropper, linker = StreamingCropper(tmp_path), TrackLinker()
    try:
        for index in range(120):
            dets = [_person(10, 20, 40)] if index < 30 else []  # A: frames 0-29
            dets += [_person(70, 20, 30)] if 50 <= index < 90 else []  # B: frames 50-89
            cropper.add_frame(index, frames[index % 3], dets, linker.add_frame(dets))
            if index == 60:
                (a, b) = cropper.spools.values()
                assert a._file.closed and not b._file.closed
        cropper.finish()
        assert all(s._file.closed for s in cropper.spools.values())
        a, b = cropper.spools.values()
        assert (len(a), len(b)) == (30, 40)
        assert len(list(a.crops(30))) == 1 and len(list(b.crops(40))) == 1
    finally:
        cropper.close()
    assert not list(tmp_path.iterdir())
