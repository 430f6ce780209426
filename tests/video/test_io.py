"""Video readers and writer: round trips, portrait frames, clear errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from src.video import io

WALKING = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "pexels_walking.mp4"


def coloured_frames(n, height, width):
    """Frames whose flat colour encodes their index (survives lossy coding)."""
    colours = [(20 * i + 10, 200 - 20 * i, 128) for i in range(n)]
    return [np.full((height, width, 3), c, np.uint8) for c in colours]


@pytest.mark.parametrize("height, width", [(48, 64), (64, 48)])  # landscape and portrait
def test_write_then_read_round_trip(tmp_path, height, width):
    path = tmp_path / "clip.mp4"
    frames = coloured_frames(7, height, width)
    assert io.write_video(path, frames, fps=12.5) == 7
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file was renamed
    with io.VideoReader(path) as video:
        assert video.size == (width, height)
        assert video.fps == pytest.approx(12.5)
        assert video.num_frames == 7
        read = list(video)
    assert len(read) == 7
    for got, want in zip(read, frames, strict=True):
        assert got.shape == (height, width, 3) and got.dtype == np.uint8
        np.testing.assert_allclose(got.reshape(-1, 3).mean(0), want[0, 0], atol=6)


def test_writer_makes_odd_sizes_even(tmp_path):
    path = tmp_path / "odd.mp4"
    io.write_video(path, coloured_frames(3, 31, 45), fps=25)
    with io.VideoReader(path) as video:
        assert video.size == (44, 30)


def test_writer_drops_partial_file_on_error(tmp_path):
    path = tmp_path / "broken.mp4"

    def frames():
        yield np.zeros((16, 16, 3), np.uint8)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        io.write_video(path, frames(), fps=10)
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        io.VideoWriter(tmp_path / "a.mp4", 0, (16, 16))
    with pytest.raises(ValueError, match="no frames"):
        io.write_video(tmp_path / "a.mp4", [], fps=10)
    with io.VideoWriter(tmp_path / "a.mp4", 10, (16, 16)) as writer:
        with pytest.raises(ValueError, match="expected an"):
            writer.write(np.zeros((8, 8, 3), np.uint8))


def test_missing_video_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4: video file not found"):
        io.VideoReader(tmp_path / "nothing.mp4")


def test_not_a_video_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is text, not a video\n" * 20)
    with pytest.raises(ValueError, match="notes.mp4: not a video|notes.mp4: video has zero"):
        io.VideoReader(path)


def test_zero_frame_video_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (32, 32))
    writer.release()  # an mp4 container with no frame
    with pytest.raises(ValueError, match="empty.mp4: (video has zero frames|not a video)"):
        io.VideoReader(path)


def test_reader_streams_once(tmp_path):
    path = tmp_path / "c.mp4"
    io.write_video(path, coloured_frames(2, 16, 16), fps=10)
    video = io.VideoReader(path)
    assert len(list(video)) == 2
    with pytest.raises(ValueError, match="only once"):
        list(video)


def test_frame_folder_in_natural_order(tmp_path):
    for i in (0, 1, 2, 10):
        frame = np.full((20, 30, 3), i * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), frame)
    (tmp_path / "notes.txt").write_text("ignored")
    reader = io.open_frames(tmp_path, fps=30)
    assert isinstance(reader, io.FrameFolderReader)
    assert (reader.num_frames, reader.size, reader.fps) == (4, (30, 20), 30.0)
    assert [int(f[0, 0, 0]) for f in reader] == [0, 20, 40, 200]


def test_frame_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="expected image files"):
        io.FrameFolderReader(tmp_path)
    with pytest.raises(FileNotFoundError, match="frame folder not found"):
        io.FrameFolderReader(tmp_path / "nope")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="bad.png: not an image"):
        io.FrameFolderReader(tmp_path)


@pytest.mark.skipif(not WALKING.exists(), reason="shared video absent")
def test_shared_walking_clip_has_178_frames_at_23_98_fps():
    with io.open_frames(WALKING) as video:
        assert video.fps == pytest.approx(24000 / 1001, rel=1e-4)
        assert video.size == (960, 540)
        count = 0
        for frame in video:
            assert frame.shape == (540, 960, 3)
            count += 1
    assert count == 178
