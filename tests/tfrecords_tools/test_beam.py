"""``--runner DirectRunner`` (Apache Beam, two workers) writes what the single-process path
writes, byte for byte, for every converter; a bad input goes to the dead-letter file while the
rest completes; a killed run resumed skips the finished files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfrecords_tools
from src.smpl.standin import write_standin_model
from src.video.blazepose_models import models_available
from tests.tfrecords_tools.fixtures import (
    WildPerson,
    write_3dpw_sequence,
    write_h36m_sequence,
    write_penn_video,
    write_py2_pickle,
    write_wild_video,
)
from tests.timeouts import scaled
from tfrecords_tools import h36m, in_the_wild, mocap, penn_action, threedpw

pytest.importorskip("apache_beam")

REPO = Path(__file__).resolve().parents[2]
ENCODER = "tests.tfrecords_tools.fixtures:tiny_encoder"
# two workers in this process (threads); the subprocess test below uses worker processes
TWO_WORKERS = [
    "--runner", "DirectRunner", "--direct_num_workers", "2",
    "--direct_running_mode", "multi_threading",
]  # fmt: skip


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*.tfrecord"))
        if p.is_file()
    }


def _both_paths(main, argv: list[str], tmp_path: Path) -> tuple[dict, dict]:
    """The files of one run in this process and of one Beam run, same inputs and flags."""
    single, beam = tmp_path / "single", tmp_path / "beam"
    assert main([*argv, "--output_directory", str(single), "--noprogress"]) == 0
    assert main([*argv, "--output_directory", str(beam), "--noprogress", *TWO_WORKERS]) == 0
    return _files(single), _files(beam)


@pytest.fixture(scope="module")
def penn_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("penn")
    for i, (n, train) in enumerate([(45, True), (42, True), (44, True), (12, False), (12, False)]):
        write_penn_video(root, f"{i + 1:04d}", n, train, seed=i)
    return root


@pytest.mark.parametrize("split", [pytest.param("train", marks=pytest.mark.slow), "val"])
def test_penn_action(penn_root, tmp_path, split):
    argv = ["--data_directory", str(penn_root), "--split", split, "--num_copy", "2",
            "--num_shards", "2", "--encoder_factory", ENCODER, "--seed", "5"]  # fmt: skip
    single, beam = _both_paths(penn_action.main, argv, tmp_path)
    assert single and beam == single
    assert len(single) == (4 if split == "train" else 1)


@pytest.mark.slow
def test_h36m(tmp_path):
    root = tmp_path / "h36m"
    write_h36m_sequence(root, 1, "Walking", 0, 0, 12, seed=1)
    write_h36m_sequence(root, 1, "Eating", 1, 2, 9, seed=2)
    argv = ["--data_directory", str(root), "--split", "train", "--num_copy", "2",
            "--max_sequence_length", "5", "--encoder_factory", ENCODER]  # fmt: skip
    single, beam = _both_paths(h36m.main, argv, tmp_path)
    assert len(single) == 4 and beam == single


@pytest.mark.slow
def test_threedpw(tmp_path):
    root = tmp_path / "3dpw"
    rng = np.random.default_rng(0)
    for name, n in (("courtyard_a_00", 8), ("courtyard_b_01", 6)):
        poses = [rng.normal(scale=0.2, size=(n, 72)), rng.normal(scale=0.2, size=(n, 72))]
        write_3dpw_sequence(root, "validation", name, n, poses, [rng.normal(size=10)] * 2)
    model = write_standin_model(tmp_path / "standin.pkl", 400)
    argv = ["--data_directory", str(root), "--split", "val", "--smpl_model_path", str(model)]
    single, beam = _both_paths(threedpw.main, argv, tmp_path)
    assert len(single) == 2 and beam == single


def _wild_people(seed: int) -> list[WildPerson]:
    return [WildPerson(0, 45, (20.0, 24.0), seed), WildPerson(2, 44, (46.0, 24.0), seed + 1)]


@pytest.mark.slow
def test_in_the_wild(tmp_path):
    root = tmp_path / "wild"
    write_wild_video(root, "clip_a", 45, _wild_people(1), "openpose25", False)
    write_wild_video(root, "tag/clip_b", 45, _wild_people(3), "openpose18", True)
    write_wild_video(root, "clip_c", 45, _wild_people(5), "coco17", False)
    argv = ["--data_directory", str(root), "--split", "train", "--num_copy", "2",
            "--num_shards", "2", "--encoder_factory", ENCODER]  # fmt: skip
    single, beam = _both_paths(in_the_wild.main, argv, tmp_path)
    assert len(single) == 6 and beam == single


@pytest.mark.parametrize("temporal", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mocap(tmp_path, temporal):
    root = tmp_path / "mosh" / "neutrSMPL_CMU"
    rng = np.random.default_rng(1)
    for subject, n in (("01", 9), ("02", 7), ("03", 12)):
        write_py2_pickle(
            root / subject / f"{subject}_01.pkl",
            {"poses": rng.normal(size=(n, 72)), "betas": rng.normal(size=10)},
        )
    argv = ["--data_directory", str(tmp_path / "mosh"), "--dataset_name", "neutrSMPL_CMU",
            "--num_shards", "4", "--seed", "2"]  # fmt: skip
    if temporal:
        argv += ["--temporal", "--length", "3", "--max_subsample_rate", "2"]
    single, beam = _both_paths(mocap.main, argv, tmp_path)
    assert len(single) >= 2 and beam == single


@pytest.mark.slow
def test_bad_inputs_go_to_the_dead_letter_and_the_rest_is_written(penn_root, tmp_path, capsys):
    root = tmp_path / "penn"
    for i in range(3):
        write_penn_video(root, f"{i + 1:04d}", 45, True, seed=i)
    (root / "labels" / "0002.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")  # bad label
    (root / "frames" / "0003" / "000007.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # bad frame
    out = tmp_path / "out"
    argv = ["--data_directory", str(root), "--output_directory", str(out), "--split", "train",
            "--num_shards", "1", "--encoder_factory", ENCODER, "--noprogress"]  # fmt: skip
    assert penn_action.main([*argv, *TWO_WORKERS]) == 1
    assert "failed, the rest was written" in capsys.readouterr().err
    letters = [json.loads(line) for line in (out / "penn_action" / "train.dead_letter.jsonl")
               .read_text().splitlines()]  # fmt: skip
    by_stage = {letter["stage"]: letter for letter in letters}
    assert sorted(by_stage) == ["read", "write"], letters
    assert by_stage["read"]["input"] == "0002"
    assert "0002.mat" in by_stage["read"]["reason"]
    assert "000007.jpg" in by_stage["write"]["reason"]
    written = _files(out)
    assert len(written) == 1  # 0001's file; 0003's failed and left no file, temporary or not
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_killed_beam_run_resumes_and_skips_the_finished_files(penn_root, tmp_path):
    argv = ["--data_directory", str(penn_root), "--split", "train", "--num_copy", "2",
            "--num_shards", "1", "--encoder_factory", ENCODER, "--seed", "1", "--noprogress",
            *TWO_WORKERS]  # fmt: skip
    whole = tmp_path / "whole"
    assert penn_action.main([*argv, "--output_directory", str(whole)]) == 0
    expected = _files(whole)
    assert len(expected) == 6

    out = tmp_path / "killed"
    command = [sys.executable, str(REPO / "tests/killable.py"), "replace:4",
               "tfrecords_tools.penn_action", *argv, "--output_directory", str(out)]  # fmt: skip
    killed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=scaled(600))
    assert killed.returncode == -9, killed.stderr[-3000:]
    finished = _files(out)
    assert len(finished) == 3, sorted(finished)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.tfrecord")}

    command = [sys.executable, "-m", "tfrecords_tools.penn_action", *argv,
               "--output_directory", str(out)]  # fmt: skip
    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=scaled(600))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "files_skipped_complete = 3" in resumed.stderr
    assert "files_written = 3" in resumed.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not rewritten
    assert _files(out) == expected
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_command_line_with_worker_processes(tmp_path):
    """The real command line, two worker processes (the classes travel pickled by module)."""
    root = tmp_path / "wild"
    write_wild_video(root, "clip_a", 45, _wild_people(1), "openpose25", False)
    write_wild_video(root, "clip_b", 45, _wild_people(3), "coco17", False)
    base = [sys.executable, "-m", "tfrecords_tools.in_the_wild", "--data_directory", str(root),
            "--split", "train", "--num_shards", "1", "--encoder_factory", ENCODER,
            "--noprogress"]  # fmt: skip
    runs = {}
    for name, extra in (
        ("single", []),
        ("beam", ["--runner", "DirectRunner", "--direct_num_workers", "2",
                  "--direct_running_mode", "multi_processing"]),
    ):  # fmt: skip
        done = subprocess.run(
            [*base, "--output_directory", str(tmp_path / name), *extra],
            cwd=REPO, capture_output=True, text=True, timeout=scaled(600),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = _files(tmp_path / name)
    assert len(runs["single"]) == 4 and runs["beam"] == runs["single"]


def test_runner_options_need_a_runner(tmp_path, capsys):
    with pytest.raises(SystemExit):
        penn_action.main(["--data_directory", str(tmp_path), "--output_directory",
                          str(tmp_path), "--direct_num_workers", "2"])  # fmt: skip
    assert "runner options need --runner" in capsys.readouterr().err


SHIPPED_CLIP = REPO / "assets" / "pexels_walking.mp4"


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CLIP.is_file(), reason="assets/pexels_walking.mp4 missing")
@pytest.mark.skipif(not models_available(), reason="BlazePose models not fetched")
def test_pseudo_labelling_the_shipped_clip_with_beam_equals_the_single_process_tool(tmp_path):
    """Own videos without keypoints: BlazePose -> tracks -> cleaning -> crops -> phi -> records,
    as two Beam inputs (the clip itself, and 60 of its frames as a frame folder), equal to
    ``in_the_wild --blazepose``."""
    import cv2

    root = tmp_path / "mine"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "walk.mp4").symlink_to(SHIPPED_CLIP)
    frames = root / "frames" / "tag" / "walk_part"
    frames.mkdir(parents=True)
    capture = cv2.VideoCapture(str(SHIPPED_CLIP))
    for index in range(60):
        ok, bgr = capture.read()
        assert ok
        cv2.imwrite(str(frames / f"{index:06d}.png"), bgr)
    capture.release()
    argv = ["--data_directory", str(root), "--dataset_name", "my_videos", "--split", "train",
            "--blazepose", "--num_shards", "1", "--encoder_factory", ENCODER]  # fmt: skip
    single, beam = _both_paths(in_the_wild.main, argv, tmp_path)
    assert len(single) == 2 and beam == single
    records = _records(tmp_path / "beam" / "my_videos" / "train")
    assert sorted(r["N"] for r in records)[0] >= in_the_wild.MIN_TRACK_FRAMES  # the walker, twice
    sources = sorted(Path(r["filenames"][0]).parent.name for r in records)
    assert sources == ["videos", "walk_part"]
    for record in records:
        assert (record["kp2d"][..., 2] > 0).sum(axis=1).min() > in_the_wild.MAX_BAD_VISIBLE


def _records(folder: Path) -> list[dict]:
    import tensorflow as tf

    from src.data import schema

    out = []
    for path in sorted(folder.glob("*.tfrecord")):
        for raw in tf.data.TFRecordDataset(str(path)):
            out.append(schema.parse_example_np(raw.numpy(), str(path)))
    return out


def test_num_workers_goes_to_the_runner(penn_root, tmp_path, monkeypatch):
    # Dataflow's worker count has the converters' flag name: with --runner it is passed on
    from tfrecords_tools import beam

    seen = {}

    def fake_run(conversion, args, beam_args):
        seen["beam_args"] = list(beam_args)
        return 0

    monkeypatch.setattr(beam, "run", fake_run)
    argv = ["--data_directory", str(penn_root), "--output_directory", str(tmp_path),
            "--split", "val", "--runner", "DataflowRunner", "--num_workers", "8",
            "--region", "r1"]  # fmt: skip
    assert penn_action.main(argv) == 0
    assert seen["beam_args"] == ["--region", "r1", "--num_workers=8"]


def test_without_apache_beam_the_runner_flag_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam fails
    monkeypatch.delitem(sys.modules, "tfrecords_tools.beam", raising=False)
    monkeypatch.delattr(tfrecords_tools, "beam", raising=False)  # imported by earlier tests
    root = tmp_path / "penn"
    write_penn_video(root, "0001", 12, False, seed=1)
    argv = ["--data_directory", str(root), "--output_directory", str(tmp_path / "out"),
            "--split", "val", "--runner", "DirectRunner"]  # fmt: skip
    assert penn_action.main(argv) == 1
    err = capsys.readouterr().err
    assert "pip install -e '.[beam]'" in err and "Traceback" not in err
