"""src.smpl.cli (hmmr-smpl): convert and standin commands, one-line errors."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

from src.smpl import load_smpl_params
from src.smpl.cli import run
from tests.timeouts import scaled

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_convert_round_trips_to_a_clean_npz(tmp_path, small_standin_path, capsys):
    out = tmp_path / "model.npz"
    assert run(["convert", str(small_standin_path), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    expected = load_smpl_params(small_standin_path)
    got = load_smpl_params(out)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    with np.load(out, allow_pickle=False) as npz:
        assert "joint_regressor" in npz.files


def test_standin_command_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "dir" / "body.pkl"
    assert run(["standin", str(out), "--num-verts", "500"]) == 0
    assert "stand-in" in capsys.readouterr().out
    assert load_smpl_params(out)["v_template"].shape == (500, 3)


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def test_missing_input_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.pkl"
    assert run(["convert", str(missing), str(tmp_path / "o.npz")]) == 1
    assert str(missing) in _one_line_error(capsys)


def test_unsafe_pickle_is_one_line_error(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    assert run(["convert", str(evil), str(tmp_path / "o.npz")]) == 1
    assert "refusing" in _one_line_error(capsys)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "o.npz").exists()


def test_output_must_be_npz_and_small_standin_refused(tmp_path, small_standin_path, capsys):
    assert run(["convert", str(small_standin_path), str(tmp_path / "o.txt")]) == 1
    assert ".npz" in _one_line_error(capsys)
    assert run(["standin", str(tmp_path / "s.pkl"), "--num-verts", "10"]) == 1
    assert "at least" in _one_line_error(capsys)


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "src.smpl", "convert", str(tmp_path / "x.pkl"), "y.npz"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=scaled(120),
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("hmmr-smpl convert: error:")
    assert len(proc.stderr.strip().splitlines()) == 1
