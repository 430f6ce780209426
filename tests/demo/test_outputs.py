"""The demo's ``--bvh`` output: ``hmmr_output.bvh`` beside each track's npz, the same file as
``python -m src.motion export`` writes from that npz, and the flag on the command line.

The output-writing function is tested directly on arrays shaped as the demo's (running the
demo end to end needs its ResNet; tests/demo/test_demo.py does that for the other outputs).
"""

from __future__ import annotations

import numpy as np
import pytest

from src.demo.cli import _report, build_parser, options_from_args
from src.demo.options import DemoResult, TrackResult
from src.demo.outputs import save_bvh, save_outputs
from src.demo.timing import StageTimer
from src.motion import cli as motion_cli
from src.motion.bvh import read_bvh
from src.motion.export import STILL_FPS
from src.smpl.standin import write_standin_model
from tests.motion.test_export import _theta, _walk


@pytest.fixture(scope="module")
def body_path(tmp_path_factory):
    return write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", 300)


def _track(n: int, fps: float, body_path) -> tuple[dict, dict]:
    """Per-frame arrays and per-file metadata as the demo saves them (the keys the BVH reads,
    and a few others)."""
    arrays = {
        "frame_ids": np.arange(3, 3 + n, dtype=np.int64),
        "theta": _theta(n).astype(np.float32),
        "trans": _walk(n).astype(np.float32),
        "shapes": _theta(n)[:, 75:].astype(np.float32),
    }
    meta = {
        "fps": np.float64(fps),
        "body_model": np.asarray(str(body_path)),
        "standin_body": np.bool_(True),
        "smpl_joint_names": np.asarray(["pelvis"] * 24),
    }
    return arrays, meta


def test_bvh_is_written_beside_the_npz_and_equals_the_export_command(tmp_path, body_path):
    arrays, meta = _track(10, 12.5, body_path)
    out_dir = tmp_path / "walk" / "hmmr_output_1"
    npz, _ = save_outputs(arrays, meta, out_dir, write_pkl=False)
    bvh = save_bvh(arrays, meta, out_dir, body_path)
    assert bvh == out_dir / "hmmr_output.bvh" and bvh.parent == npz.parent
    back = read_bvh(bvh)
    assert back.num_frames == 10 and back.frame_time == pytest.approx(1 / 12.5)
    again = tmp_path / "again.bvh"
    assert motion_cli.run(["export", str(npz), "--bvh", str(again)]) == 0
    assert again.read_bytes() == bvh.read_bytes()
    assert sorted(p.name for p in out_dir.iterdir()) == ["hmmr_output.bvh", "hmmr_output.npz"]


def test_a_single_image_gets_a_one_frame_bvh(tmp_path, body_path):
    arrays, meta = _track(1, 0.0, body_path)  # the demo's image result: fps 0
    back = read_bvh(save_bvh(arrays, meta, tmp_path, body_path))
    assert back.num_frames == 1 and back.fps == pytest.approx(STILL_FPS)


def test_bvh_flag_reaches_the_options_and_the_report(tmp_path, capsys):
    parser = build_parser()
    assert options_from_args(parser.parse_args(["--vid_path", "v.mp4", "--bvh"])).bvh
    assert not options_from_args(parser.parse_args(["--vid_path", "v.mp4"])).bvh
    assert "hmmr_output.bvh" in parser.format_help()
    track = TrackResult(0, 7, 0, 10, tmp_path, tmp_path / "a.npz", bvh=tmp_path / "a.bvh")
    _report(DemoResult(tmp_path / "v.mp4", [track], StageTimer(), False, num_tracks=1))
    assert str(tmp_path / "a.bvh") in capsys.readouterr().out


def test_frame_store_keeps_meshes_in_a_plain_npy_file_read_by_rows(tmp_path):
    """Rows over 16 kB (the meshes) go to a RowFile, not a memory map: a map's touched pages
    count as resident memory, 83 kB per frame of the video. Reads and the file agree."""
    from src.demo.outputs import FrameStore, RowArray

    rng = np.random.default_rng(0)
    verts = rng.normal(size=(11, 6890, 3)).astype(np.float32)
    theta = rng.normal(size=(11, 85)).astype(np.float32)
    store = FrameStore(tmp_path, capacity=12)
    store.append({"verts": verts[:7], "theta": theta[:7]})
    store.append({"verts": verts[7:], "theta": theta[7:]})
    arrays = store.arrays()
    assert isinstance(arrays["verts"], RowArray) and isinstance(arrays["theta"], np.memmap)
    assert arrays["verts"].shape == (11, 6890, 3) and len(arrays["verts"]) == 11
    np.testing.assert_array_equal(arrays["verts"][3], verts[3])
    np.testing.assert_array_equal(arrays["verts"][-1], verts[-1])
    np.testing.assert_array_equal(arrays["verts"][2:9], verts[2:9])
    np.testing.assert_array_equal(arrays["verts"][::4], verts[::4])
    np.testing.assert_array_equal(np.asarray(arrays["verts"]), verts)
    with pytest.raises(IndexError):
        arrays["verts"][11]
    store.close()
    on_disk = np.load(tmp_path / "verts.npy")  # a valid .npy of the capacity's rows
    assert on_disk.shape == (12, 6890, 3)
    np.testing.assert_array_equal(on_disk[:11], verts)
