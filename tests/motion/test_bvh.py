"""BVH reader/writer: rotation orders, CRLF, gzip, End Site, malformed files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from src.motion.bvh import (
    euler_to_matrix,
    forward_kinematics,
    make_bvh,
    matrix_to_euler,
    read_bvh,
    write_bvh,
)
from tests.motion.helpers import random_rotations, reference_fk

# A small tree: root -> spine -> (head, arm -> hand); root -> leg
NAMES = ("root", "spine", "head", "arm", "hand", "leg")
PARENTS = (-1, 0, 1, 1, 3, 0)
OFFSETS = np.array(
    [[0, 0, 0], [0, 10, 0], [0, 8, 1], [6, 5, 0], [9, 0, 0], [3, -20, 0]], np.float64
)

SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 0 0 0 0 0 0 0 0 0 0 0
10 0 0 90 0 0 0 1 0 0 0 0
"""


def _motion(rng, n=5):
    local = [random_rotations(rng, n, 85.0) for _ in NAMES]
    root_pos = rng.normal(scale=20.0, size=(n, 3))
    return local, root_pos


@pytest.mark.parametrize("order", ["ZYX", "XYZ", "ZXY", "YZX"])
def test_euler_to_matrix_matches_scipy_intrinsic(order):
    angles = np.random.default_rng(0).uniform(-170, 170, size=(20, 3))
    expected = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    np.testing.assert_allclose(euler_to_matrix(angles, order), expected, atol=1e-12)
    np.testing.assert_allclose(
        euler_to_matrix(matrix_to_euler(expected, order), order), expected, atol=1e-12
    )


def test_xyz_and_zxy_files_give_the_same_global_positions(tmp_path):
    local, root_pos = _motion(np.random.default_rng(1))
    mats = np.stack([r.as_matrix() for r in local], axis=1)
    expected = reference_fk(PARENTS, OFFSETS, local, root_pos)
    for order in ("XYZ", "ZXY"):
        path = tmp_path / f"clip_{order}.bvh"
        write_bvh(path, make_bvh(NAMES, PARENTS, OFFSETS, mats, root_pos, 1 / 30, order=order))
        bvh = read_bvh(path)
        assert bvh.channels[1] == tuple(f"{a}rotation" for a in order)
        pos, rot = forward_kinematics(bvh)
        np.testing.assert_allclose(pos, expected, atol=1e-4)  # 6 decimals in the file
        np.testing.assert_allclose(
            rot[:, 4], (local[0] * local[1] * local[3] * local[4]).as_matrix(), atol=1e-6
        )


def test_crlf_and_gzip_read_like_the_plain_file(tmp_path):
    plain = tmp_path / "a.bvh"
    plain.write_text(SMALL_BVH)
    crlf = tmp_path / "b.bvh"
    crlf.write_bytes(SMALL_BVH.replace("\n", "\r\n").encode())
    gz = tmp_path / "c.bvh.gz"
    gz.write_bytes(gzip.compress(SMALL_BVH.replace("\n", "\r\n").encode()))
    ref = read_bvh(plain)
    for path in (crlf, gz):
        other = read_bvh(path)
        assert other.names == ref.names and other.channels == ref.channels
        np.testing.assert_array_equal(other.motion, ref.motion)
    assert ref.frame_time == pytest.approx(0.0333333)


def test_end_site_and_position_channels_on_a_child_joint(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_text(SMALL_BVH)
    bvh = read_bvh(path)
    assert bvh.names == ("Hips", "Chest") and bvh.parents == (-1, 0)
    np.testing.assert_array_equal(bvh.end_sites[1], [0, 5, 0])
    pos, _ = forward_kinematics(bvh)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3]])
    # frame 1: root at offset + (10, 0, 0), turned 90 deg about z; chest offset (0, 10, 0) plus its
    # translation channel (0, 1, 0) -> (0, 11, 0) in the root frame -> (-11, 0, 0) in the world.
    np.testing.assert_allclose(pos[1], [[11, 2, 3], [0, 2, 3]], atol=1e-12)


def test_written_file_round_trips_end_sites_and_leaves_no_temp_file(tmp_path):
    local, root_pos = _motion(np.random.default_rng(2), n=3)
    mats = np.stack([r.as_matrix() for r in local], axis=1)
    bvh = make_bvh(
        NAMES, PARENTS, OFFSETS, mats, root_pos, 1 / 120, end_sites={2: np.array([0.0, 4.0, 0.0])}
    )
    path = write_bvh(tmp_path / "out.bvh.gz", bvh)
    back = read_bvh(path)
    assert back.names == NAMES and back.parents == PARENTS
    assert sorted(back.end_sites) == [2, 4, 5]  # the leaves
    np.testing.assert_array_equal(back.end_sites[2], [0, 4, 0])
    np.testing.assert_allclose(back.motion, bvh.motion, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bvh.gz"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("HIERARCHY", "HIERARCHIE"), "line 1: expected 'HIERARCHY'"),
        (lambda t: t.replace("MOTION\n", ""), "no 'MOTION' section"),
        (lambda t: t.replace("CHANNELS 6 Xposition", "CHANNELS 5 Xposition"), "line 5"),
        (lambda t: t.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "line 8: expected a number"),
        (lambda t: t.replace("Frames: 2", "Frames: 3"), "'Frames: 3' but 2 motion lines"),
        (lambda t: t.replace("10 0 0 90 0 0 0 1 0 0 0 0", "10 0 0 90 0 0"), "line 20: 6 values"),
        (lambda t: t.replace("10 0 0 90", "10 0 0 x"), "line 20: non-numeric"),
        (lambda t: t.replace("  }\n}\nMOTION", "  }\nMOTION"), "unexpected end of HIERARCHY"),
        (
            lambda t: t.replace("Zrotation Xrotation Yrotation", "Zrotation Xrotation Wrotation"),
            "bad channels",
        ),
    ],
)
def test_malformed_files_raise_value_error_naming_file_and_line(tmp_path, edit, message):
    path = tmp_path / "broken.bvh"
    path.write_text(edit(SMALL_BVH))
    with pytest.raises(ValueError, match="broken.bvh") as info:
        read_bvh(path)
    assert message in str(info.value)


def test_missing_and_non_text_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bvh"):
        read_bvh(tmp_path / "nope.bvh")
    bad = tmp_path / "bad.bvh.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.bvh.gz"):
        read_bvh(bad)
