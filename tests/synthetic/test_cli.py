"""``python -m src.synthetic``: help without TensorFlow, one-line errors, a small world end to
end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from scipy.spatial.transform import Rotation

from src import paths
from src.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from src.motion.bvh import make_bvh, write_bvh
from src.motion.retarget import load_rest_joints
from src.synthetic import cli
from src.synthetic.clips import clip_files


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=paths.REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_help_does_not_import_tensorflow():
    probe = (
        "import sys; from src.synthetic import cli\n"
        "try:\n    cli.run(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    result = _python("-c", probe)
    assert result.returncode == 0, result.stderr
    assert "--out" in result.stdout and "--tracks_3d" in result.stdout


def test_missing_mocap_folder_is_a_one_line_error(tmp_path):
    result = _python(
        "-m",
        "src.synthetic",
        "--out",
        str(tmp_path / "w"),
        "--mocap_dir",
        str(tmp_path / "nowhere"),
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("python -m src.synthetic: error:") and "nowhere" in lines[-1]
    assert "Traceback" not in result.stderr


def test_clip_files_keeps_the_first_clips_of_each_subject(tmp_path):
    for name in ("01_01", "01_02", "01_03", "02_01", "10_04"):
        (tmp_path / f"{name}.bvh.gz").write_bytes(b"")
    (tmp_path / "MANIFEST.tsv").write_text("file\n")
    names = [p.name for p in clip_files(tmp_path, per_subject=2)]
    assert names == ["01_01.bvh.gz", "01_02.bvh.gz", "02_01.bvh.gz", "10_04.bvh.gz"]
    assert len(clip_files(tmp_path)) == 5


def test_a_small_world_from_bvh_files(tmp_path):
    rest = load_rest_joints(None)
    offsets = np.array([rest[j] - (rest[p] if p >= 0 else 0.0) for j, p in enumerate(SMPL_PARENTS)])
    rng = np.random.default_rng(0)
    mocap = tmp_path / "mocap"
    n = 40
    for subject in range(1, 5):  # 4 subjects: 1 held out, the rest split between the tiers
        swing = np.sin(np.linspace(0, 3, n))[:, None, None] * rng.normal(0, 0.3, (1, 24, 3))
        rots = Rotation.from_rotvec(swing.reshape(-1, 3)).as_matrix().reshape(n, 24, 3, 3)
        root = np.stack([np.zeros(n), np.zeros(n), np.linspace(0, 1, n)], axis=1)
        bvh = make_bvh(SMPL_JOINT_NAMES, SMPL_PARENTS, offsets, rots, root, 1 / 30)
        write_bvh(mocap / f"{subject:02d}_01.bvh", bvh)
    out = tmp_path / "world"
    code = cli.run(
        [
            "--out",
            str(out),
            "--mocap_dir",
            str(mocap),
            "--tracks_3d",
            "4",
            "--tracks_2d",
            "4",
            "--test_subjects",
            "1",
            "--mocap_samples",
            "30",
            "--track_frames",
            "20",
            "--phi_dim",
            "32",
        ]
    )
    assert code == 0
    manifest = json.loads((out / "world.json").read_text())
    assert len(manifest["split"]["test"]) == 1 and manifest["config"]["phi_dim"] == 32
    assert sorted(p.name for p in (out / "clips").glob("*.npz")) == [
        f"{s:02d}_01.npz" for s in range(1, 5)
    ]
    assert list((out / "synth_3d" / "test").glob("*.tfrecord"))
