"""Unpacking the BlazePose models from a (generated) mediapipe wheel and finding them."""

import zipfile

import pytest

from src.video import blazepose_models as bm


def make_wheel(folder, members):
    path = folder / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("mediapipe/__init__.py", "")
    return path


def test_extract_copies_exactly_the_two_members(tmp_path):
    wheel = make_wheel(tmp_path, {m: f"bytes of {f}".encode() for f, m in bm.WHEEL_MEMBERS.items()})
    out = tmp_path / "models"
    paths = bm.extract_models(tmp_path, out)  # the folder form, as the Makefile passes it
    assert paths.detector.read_bytes() == b"bytes of pose_detection.tflite"
    assert paths.landmark.read_bytes() == b"bytes of pose_landmark_full.tflite"
    assert sorted(p.name for p in out.iterdir()) == sorted(bm.WHEEL_MEMBERS)
    assert bm.find_models(out) == paths
    assert bm.extract_models(wheel, out) == paths  # the file form, idempotent


def test_missing_member_names_it(tmp_path):
    only = {bm.WHEEL_MEMBERS[bm.DETECTOR_FILE]: b"x"}
    make_wheel(tmp_path, only)
    with pytest.raises(ValueError, match="pose_landmark/pose_landmark_full.tflite"):
        bm.extract_models(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / bm.DETECTOR_FILE).exists()  # nothing half-done


def test_missing_or_bad_wheel_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such wheel"):
        bm.extract_models(tmp_path / "nope.whl", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="expected a mediapipe"):
        bm.extract_models(tmp_path, tmp_path / "out")
    bad = tmp_path / "mediapipe-bad.whl"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a wheel"):
        bm.extract_models(bad, tmp_path / "out")


def test_cli_prints_one_line_and_exits_non_zero(tmp_path, capsys):
    assert bm.main([str(tmp_path / "nope"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert bm.main([]) == 2


def test_find_models_tells_the_make_command(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="make models/blazepose/pose_landmark_full.tflite"):
        bm.find_models(tmp_path)
    monkeypatch.setenv(bm.MODEL_DIR_ENV, str(tmp_path))
    assert bm.default_model_dir() == tmp_path
    monkeypatch.delenv(bm.MODEL_DIR_ENV)
    assert bm.default_model_dir().parts[-2:] == ("models", "blazepose")
