"""In-the-wild converter: videos / frame folders + OpenPose or AlphaPose JSON, linked tracks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from src.data import pipeline
from src.joints import FROM_COCO17, FROM_OPENPOSE18, FROM_OPENPOSE25, to_hmmr25
from tests.tfrecords_tools import reference as ref
from tests.tfrecords_tools.fixtures import (
    WILD_H,
    WILD_W,
    WildPerson,
    decode_jpeg,
    mark_offset,
    red_centroid,
    write_wild_video,
)
from tests.timeouts import scaled
from tfrecords_tools import in_the_wild

ENCODER = "tests.tfrecords_tools.fixtures:tiny_encoder"
NO_JITTER = [
    "--trans_max",
    "0",
    "--delta_trans_max",
    "0",
    "--scale_max",
    "0",
    "--delta_scale_max",
    "0",
]
L_ANKLE, R_ANKLE = 23, 24  # OpenPose ankles; a mirrored left ankle is labelled right
KEPT = slice(2, 45)  # person 0 of clip_a: frames 0-1 show 3 joints, so the track starts at 2


def _people() -> list[WildPerson]:
    return [
        WildPerson(0, 45, (20.0, 24.0), 1, sparse_frames=(0, 1)),
        WildPerson(5, 21, (46.0, 24.0), 2),
    ]  # 16 frames: dropped by the cleaning


@pytest.fixture(scope="module")
def wild_root(tmp_path_factory):
    """clip_a: frame folder + OpenPose BODY_25; tag/clip_b: video + COCO-18 OpenPose;
    clip_c: frame folder + AlphaPose."""
    root = tmp_path_factory.mktemp("wild")
    points = {
        "clip_a": write_wild_video(
            root, "clip_a", 45, _people(), "openpose25", False, mark=(0, "l_ankle")
        ),
        "tag/clip_b": write_wild_video(root, "tag/clip_b", 45, _people(), "openpose18", True),
        "clip_c": write_wild_video(root, "clip_c", 45, _people(), "coco17", False),
    }
    return root, points


def _expected_kp(points: np.ndarray, mapping, threshold: bool) -> np.ndarray:
    """Source points of person 0 on the kept frames, in the 25-joint order."""
    kp = to_hmmr25(points[KEPT], mapping)
    if threshold:  # training: vis = confidence >= 0.1, invisible zeroed
        kp[..., 2] = kp[..., 2] >= 0.1
        kp *= kp[..., 2:]
    return kp


@pytest.fixture(scope="module")
def wild_train(wild_root, tmp_path_factory):
    root, points = wild_root
    out = tmp_path_factory.mktemp("wild_tf")
    assert (
        in_the_wild.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(out),
                "--split",
                "train",
                "--num_copy",
                "2",
                "--num_shards",
                "2",
                "--encoder_factory",
                ENCODER,
                "--noprogress",
                *NO_JITTER,
            ]
        )
        == 0
    )
    return out, points


def _train_records(out) -> list[dict]:
    files = sorted((out / "insta_variety" / "train").glob("*.tfrecord"))
    assert [f.name for f in files] == [
        f"insta_variety_copy{c}-0000{s}-of-00002.tfrecord" for c in (0, 1) for s in (0, 1)
    ]
    return [r for f in files for r in ref.read_records(f)]


@pytest.mark.slow
def test_training_tracks_are_linked_cleaned_and_land_at_their_crop_position(wild_train):
    out, points = wild_train
    records = _train_records(out)
    assert len(records) == 6 and all(r["N"] == 43 for r in records)  # 3 videos x 2 copies
    sources = {"clip_a": FROM_OPENPOSE25, "tag/clip_b": FROM_OPENPOSE18, "clip_c": FROM_COCO17}
    matched, flips = [], []
    for record in records:
        video = next(n for n in sources if n.split("/")[-1] in record["filenames"][0])
        kp = _expected_kp(points[video][0], sources[video], threshold=True)
        params = ref.smooth_params(kp, 0.0)
        boxes = [(p[:2], p[2]) for p in params]
        plain = ref.train_keypoints(kp, WILD_W, WILD_H, False, boxes)
        flipped = not np.allclose(record["kp2d"], plain, atol=1e-4)
        want = ref.train_keypoints(kp, WILD_W, WILD_H, flipped, boxes)
        np.testing.assert_allclose(record["kp2d"], want, atol=1e-4)
        assert record["kp2d"][:, 13].max() == 0 and record["kp2d"][:, 14].max() == 0  # head, nose
        matched.append(video)
        flips.append(flipped)
    assert sorted(matched) == sorted(list(sources) * 2)
    assert any(flips) and not all(flips)


@pytest.mark.slow
def test_training_crop_shows_the_marked_ankle_where_its_label_says(wild_train):
    out, _ = wild_train
    for record in _train_records(out):
        if "clip_a" not in record["filenames"][0]:
            continue
        assert record["filenames"][0].endswith("clip_a/000003.jpg")  # frame 2
        for t in (0, 20, 42):
            left = (record["kp2d"][t, L_ANKLE, :2] + 1) * 112
            right = (record["kp2d"][t, R_ANKLE, :2] + 1) * 112
            seen = red_centroid(decode_jpeg(record["images"][t]))
            ok = [
                np.allclose(seen, left + mark_offset(record["scale_factors"][t]), atol=0.75),
                np.allclose(seen, right + mark_offset(record["scale_factors"][t], True), atol=0.75),
            ]
            assert any(ok), (seen, left, right)


@pytest.mark.slow
def test_training_records_feed_the_input_pipeline(wild_train):
    out, _ = wild_train
    records = _train_records(out)
    batch = next(
        iter(
            pipeline.make_train_dataset(out, ["insta_variety"], batch_size=3, seq_length=20, seed=1)
        )
    )
    for b in range(3):
        kp = batch["kp2d"][b].numpy()
        assert any(
            np.allclose(r["kp2d"][s : s + 20], kp) for r in records for s in range(r["N"] - 19)
        )


def test_test_records_one_file_per_video_with_crop_pixels(wild_root, tmp_path):
    root, points = wild_root
    assert (
        in_the_wild.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(tmp_path),
                "--split",
                "test",
                "--dataset_name",
                "my_videos",
                "--noprogress",
            ]
        )
        == 0
    )
    folder = tmp_path / "my_videos" / "test"
    assert sorted(p.name for p in folder.glob("*.tfrecord")) == [
        "clip_a.tfrecord",
        "clip_c.tfrecord",
        "tag_clip_b.tfrecord",
    ]
    (record,) = ref.read_records(folder / "tag_clip_b.tfrecord")
    kp = _expected_kp(points["tag/clip_b"][0], FROM_OPENPOSE18, threshold=False)
    params = ref.smooth_params(kp, 0.1)
    want = ref.eval_crop_keypoints(kp, params, WILD_W, WILD_H)
    np.testing.assert_allclose(record["kp2d"], want, atol=1e-3)
    assert list(record["time_pts"]) == [2, 45]
    assert record["filenames"][0].endswith("clip_b.avi#2")
    assert len(record["images"]) == 43


def test_video_list_selects_videos_by_split(wild_root, tmp_path):
    root, _ = wild_root
    (tmp_path / "list_val.txt").write_text("# held out\nclip_c\n\n")
    assert (
        in_the_wild.main(
            [
                "--data_directory",
                str(root),
                "--output_directory",
                str(tmp_path),
                "--split",
                "val",
                "--video_list",
                str(tmp_path / "list_{}.txt"),
                "--noprogress",
            ]
        )
        == 0
    )
    assert [p.name for p in (tmp_path / "insta_variety" / "val").iterdir()] == ["clip_c.tfrecord"]


def test_cleaning_rules_of_instavariety():
    kp = np.zeros((100, 25, 3))
    kp[..., 2] = 0.9
    kp[:3, 3:, 2] = 0.0  # 3 visible: skipped at the start
    kp[60:, 3:, 2] = 0.05  # below 0.1 from frame 60: cut there
    assert in_the_wild.clean_range(kp) == (3, 60)
    assert in_the_wild.clean_range(kp, max_frames=10) == (3, 13)
    assert in_the_wild.clean_range(kp, min_frames=58) is None
    face_only = np.zeros((50, 25, 3))
    face_only[:, [8, 9, 12, 14, 15, 16, 17, 18], 2] = 0.9  # shoulders, neck, face
    assert in_the_wild.clean_range(face_only) is None
    face_only[:31, 0, 2] = 0.9  # a body point in 62% of the frames: kept
    assert in_the_wild.clean_range(face_only) == (0, 50)


def test_broken_keypoint_json_is_named(tmp_path, capsys):
    write_wild_video(
        tmp_path / "in", "clip", 3, [WildPerson(0, 3, (30.0, 24.0), 1)], "openpose25", False
    )
    bad = sorted((tmp_path / "in" / "openpose" / "clip").glob("*.json"))[1]
    bad.write_text("{not json")
    status = in_the_wild.main(
        [
            "--data_directory",
            str(tmp_path / "in"),
            "--output_directory",
            str(tmp_path / "out"),
            "--split",
            "test",
            "--noprogress",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and str(bad) in err and len(err.strip().splitlines()) == 1


def test_missing_frames_are_named(tmp_path):
    write_wild_video(tmp_path, "clip", 3, [WildPerson(0, 3, (30.0, 24.0), 1)], "openpose25", False)
    (tmp_path / "frames" / "clip").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match=r"no frames for video 'clip'"):
        in_the_wild.locate(tmp_path, "clip")


@pytest.mark.slow
def test_command_line_run_in_a_subprocess_with_two_workers(wild_root, tmp_path):
    root, _ = wild_root
    cmd = [
        sys.executable,
        "-m",
        "tfrecords_tools.in_the_wild",
        "--data_directory",
        str(root),
        "--output_directory",
        str(tmp_path),
        "--split",
        "test",
        "--num_workers",
        "2",
        "--noprogress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(300))
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "insta_variety" / "test").glob("*.tfrecord"))) == 3
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(300))
    assert again.returncode == 0 and "wrote 0 file(s)" in again.stderr
