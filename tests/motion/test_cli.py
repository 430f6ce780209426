"""``python -m src.motion``: one clip to .npz, folder report, one-line errors, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from src.motion import cli
from tests.motion.helpers import REPO_ROOT
from tests.motion.test_bvh import SMALL_BVH
from tests.motion.test_retarget import _smpl_tree_clip
from tests.timeouts import scaled


@pytest.fixture(scope="module")
def body_rest():
    from src.motion.retarget import load_rest_joints

    return load_rest_joints("standin")


def test_retarget_writes_the_clip_npz(tmp_path, body_rest, capsys):
    clip, *_ = _smpl_tree_clip(tmp_path, body_rest, n=8, frame_time=1 / 60)
    out = tmp_path / "clip.npz"
    assert cli.run(["retarget", str(clip), str(out), "--smpl_model_path", "standin"]) == 0
    assert "4 frames at 30 fps" in capsys.readouterr().out
    with np.load(out) as npz:
        assert sorted(npz.files) == sorted(cli.NPZ_KEYS)
        assert npz["poses"].shape == (4, 72) and npz["trans"].shape == (4, 3)
        assert npz["joints"].shape == (4, 24, 3) and npz["betas"].shape == (10,)
        assert float(npz["fps"]) == 30.0


def test_report_prints_per_skeleton_and_corpus_figures(tmp_path, body_rest, capsys):
    for seed in (0, 1):
        path, *_ = _smpl_tree_clip(tmp_path, body_rest, n=5, seed=seed)
        path.rename(tmp_path / f"clip{seed}.bvh")
    out_json = tmp_path / "r.json"
    code = cli.run(
        ["report", str(tmp_path), "--json", str(out_json), "--smpl_model_path", "standin"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "smpl24" in text and "all" in text
    doc = json.loads(out_json.read_text())
    assert doc["corpus"]["clips"] == 2 and doc["corpus"]["mean_deg"] < 0.01


def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.bvh"
    bad.write_text(SMALL_BVH.replace("Frames: 2", "Frames: 9"))
    assert cli.run(["retarget", str(bad), str(tmp_path / "o.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "broken.bvh" in err
    assert cli.run(["report", str(tmp_path / "missing")]) == 1


def test_help_does_not_import_tensorflow():
    code = (
        "import sys, runpy\nsys.argv = ['x', '--help']\n"
        "try:\n    runpy.run_module('src.motion', run_name='__main__')\nexcept SystemExit:\n"
        "    pass\nassert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert result.returncode == 0, result.stderr
    assert "retarget" in result.stdout
