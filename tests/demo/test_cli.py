"""The demo's command line without the networks: what it imports before parsing, how it checks
the output folder and the inputs, and that it says each warning once.

The tests that run the networks on a clip are in ``test_demo.py``.
"""

from __future__ import annotations

import configparser
import errno
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from src import constants, paths
from src.demo import cli as demo_cli
from src.demo import models as demo_models
from src.demo import options as demo_options
from tests.timeouts import scaled

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "scipy")


def _imports_of(args: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``python -X importtime ARGS`` in the repository; returns the process and the modules
    it imported (from the import-time log on stderr)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True, text=True, cwd=REPO, timeout=scaled(120),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    imported = " ".join(
        line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line
    )
    return proc, imported


def _top_level(imported: str) -> set[str]:
    return {name.split(".")[0] for name in imported.split()}


@pytest.mark.parametrize(
    "args",
    [
        ["demo.py", "--help"],
        ["demo.py", "--vid_path", "a.mp4", "--img_path", "b.png"],  # argument error
        ["-m", "src.demo_cli", "--help"],
        ["-c", "import src.demo.cli; src.demo.cli.build_parser().parse_args(['-h'])"],
    ],
    ids=["demo.py --help", "argument error", "hmmr-demo --help", "src.demo.cli"],
)
def test_help_and_argument_errors_import_no_tensorflow(args):
    """What made --help take 18 s under load: every command imported TensorFlow first."""
    proc, imported = _imports_of(args)
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    assert "usage:" in proc.stdout + proc.stderr
    assert not _top_level(imported) & set(HEAVY), sorted(_top_level(imported) & set(HEAVY))


def test_importing_the_demo_package_is_cheap_and_its_names_still_resolve():
    code = (
        "import sys, src.demo as d; assert 'tensorflow' not in sys.modules; "
        "print(d.DemoOptions.__name__, d.DemoError.__name__, d.build_parser.__name__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        timeout=scaled(120), env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["DemoOptions", "DemoError", "build_parser"]


def test_the_light_copies_of_constants_agree_with_their_sources():
    from src.inference import models as inference_models
    from src.inference import predictor
    from src.video import blazepose, tracks

    assert demo_options.PRED_MODES == predictor.PRED_MODES
    assert demo_options.DEFAULT_SEED == inference_models.DEFAULT_SEED
    assert demo_options.MIN_TRACK_FRAMES == tracks.MIN_TRACK_FRAMES
    assert demo_options.DETECT_EVERY == blazepose.DETECT_EVERY


@pytest.mark.slow
def test_tensorflow_start_up_lines_are_printed_once(tmp_path):
    """TensorFlow's libraries each logged "oneDNN custom operations are on" (and absl's notice)
    while it was imported: every line came twice."""
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    proc = subprocess.run(
        [sys.executable, str(REPO / "demo.py"), "--vid_path", str(notes), "--out_dir",
         str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=scaled(300),
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )  # fmt: skip
    assert proc.returncode == 1
    lines = [demo_cli._TF_LOG_PREFIX.sub("", line) for line in proc.stderr.splitlines()]
    assert len(lines) == len(set(lines)), proc.stderr
    assert lines[-1].startswith("demo.py: error:") and "notes.mp4: not a video" in lines[-1]
    assert not (tmp_path / "out").exists()  # the run made it and removed it again


def test_the_stand_in_warning_is_said_once(tmp_path, monkeypatch, capsys, caplog):
    """It came twice: logged by src.smpl.resolve and printed by the demo."""
    from src.smpl import resolve

    monkeypatch.setattr(paths, "SMPL_MODEL_PATH", tmp_path / "no_smpl.pkl")

    def build(load_path, smpl_model_path, config, seed, precision):
        resolve.resolve_body_model(smpl_model_path)  # logs the stand-in warning
        return types.SimpleNamespace(
            config=types.SimpleNamespace(img_size=constants.IMG_SIZE), untrained=False,
            standin_body=True, body_model=tmp_path / "standin.pkl",
        )  # fmt: skip

    monkeypatch.setattr(demo_models.inference_models, "build_inference_models", build)
    monkeypatch.setattr(resolve, "_standin", lambda: None)
    with caplog.at_level(logging.WARNING):
        demo_models.load_demo_models(demo_options.DemoOptions(out_dir=tmp_path))
    said = capsys.readouterr().err + "".join(r.getMessage() for r in caplog.records)
    assert said.lower().count("stand-in") == 1, said
    assert logging.getLogger("src.smpl.resolve").filters == []  # the filter is removed


def test_setup_cfg_gives_the_licence_once_as_spdx():
    """setuptools warned about the licence classifier beside the SPDX ``license`` field."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert config["metadata"]["license"].strip() == "BSD-2-Clause"
    assert "License ::" not in config["metadata"].get("classifiers", "")
    assert "hypothesis" in config["options.extras_require"]["test"]


# ------------------------------------------------------------------------------------------------
# The output folder, checked before any work


def test_out_dir_under_a_regular_file_names_the_folder_and_the_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    folder = tmp_path / "notes.txt" / "out"
    with pytest.raises(demo_options.DemoError) as err:
        demo_options.prepare_out_dir(folder)
    message = str(err.value)
    assert message.startswith(f"{folder}: cannot write the output folder (--out_dir)")
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in message
    assert "\n" not in message


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_dir_in_proc_is_not_called_a_missing_file():
    with pytest.raises(demo_options.DemoError) as err:
        demo_options.prepare_out_dir(Path("/proc/hmmr_demo_out"))
    message = str(err.value)
    assert message.startswith("/proc/hmmr_demo_out: cannot write the output folder")
    assert "No such file" not in message and "does not allow" in message


def test_out_dir_that_refuses_writing_names_the_reason_and_leaves_the_folder(tmp_path, monkeypatch):
    folder = tmp_path / "existing"
    folder.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(demo_options.tempfile, "mkstemp", refuse)
    with pytest.raises(demo_options.DemoError, match="existing: .*: permission denied"):
        demo_options.prepare_out_dir(folder)
    assert folder.is_dir()  # the user's folder: never removed
    with pytest.raises(demo_options.DemoError, match="permission denied"):
        demo_options.prepare_out_dir(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # made by the check, removed again


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_dir_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(demo_options.DemoError, match="ro: cannot write the output folder"):
            demo_options.prepare_out_dir(folder)
    finally:
        folder.chmod(0o700)


def test_prepare_out_dir_returns_what_it_made_and_leaves_no_probe(tmp_path):
    made = demo_options.prepare_out_dir(tmp_path / "a" / "b")
    assert made == [tmp_path / "a", tmp_path / "a" / "b"]
    assert list((tmp_path / "a" / "b").iterdir()) == []
    assert demo_options.prepare_out_dir(tmp_path / "a" / "b") == []


def _main_error(argv: list[str], capsys) -> str:
    status = demo_cli.main(argv)
    err = capsys.readouterr().err
    assert status == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_command_line_reports_a_bad_out_dir_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    line = _main_error(["--vid_path", "x.mp4", "--out_dir", str(tmp_path / "file" / "o")], capsys)
    assert line.startswith("demo.py: error:") and "is a file, not a folder" in line


# ------------------------------------------------------------------------------------------------
# Inputs


def test_zero_byte_input_is_called_empty(tmp_path, capsys):
    empty = tmp_path / "clip.mp4"
    empty.touch()
    line = _main_error(["--vid_path", str(empty), "--out_dir", str(tmp_path / "o")], capsys)
    assert "clip.mp4: empty file (0 bytes)" in line
    picture = tmp_path / "still.png"
    picture.touch()
    line = _main_error(["--img_path", str(picture), "--out_dir", str(tmp_path / "o")], capsys)
    assert "still.png: empty file (0 bytes)" in line
    assert not (tmp_path / "o").exists()


def test_folder_of_videos_as_vid_path_gets_a_hint_to_use_vid_dir(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "walk.mp4").write_bytes(b"\0" * 16)
    line = _main_error(["--vid_path", str(videos), "--out_dir", str(tmp_path / "o")], capsys)
    assert f"use --vid_dir {videos}" in line
