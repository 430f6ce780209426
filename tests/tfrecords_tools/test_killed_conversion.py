"""``python -m tfrecords_tools.penn_action`` SIGKILLed midway (a record file complete under its
temp name, not yet renamed) resumes, run again with the same command, to byte-identical files
of an uninterrupted conversion: finished files are skipped, the unfinished one is rewritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tfrecords_tools.fixtures import write_penn_video
from tests.timeouts import scaled

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ENCODER = "tests.tfrecords_tools.fixtures:tiny_encoder"


def _convert(prefix: list[str], root: Path, out: Path) -> subprocess.CompletedProcess:
    argv = ["--data_directory", str(root), "--output_directory", str(out), "--split", "train",
            "--num_copy", "2", "--num_shards", "1", "--encoder_factory", ENCODER, "--seed", "3",
            "--num_workers", "1", "--noprogress"]  # fmt: skip
    return subprocess.run(
        [sys.executable, *prefix, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def test_conversion_killed_midway_resumes_to_the_same_record_bytes(tmp_path):
    root = tmp_path / "penn"
    write_penn_video(root, "0001", 45, True, seed=1)
    write_penn_video(root, "0002", 42, True, seed=2)
    module = ["-m", "tfrecords_tools.penn_action"]
    whole = _convert(module, root, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    expected = _files(tmp_path / "whole")
    assert len(expected) == 4

    out = tmp_path / "killed"
    killed = _convert(
        [str(REPO / "tests/killable.py"), "replace:3", "tfrecords_tools.penn_action"], root, out
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    partial = _files(out)
    assert sum(name.endswith(".tfrecord") for name in partial) == 2
    assert sum(".tfrecord." in name and name.endswith(".tmp") for name in partial) == 1

    resumed = _convert(module, root, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipped 2 already complete" in resumed.stderr
    assert _files(out) == expected  # the temp file is gone, every file byte for byte
