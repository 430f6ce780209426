import logging

import pytest

from src import paths
from src.smpl import resolve
from src.smpl.standin import default_standin_path, write_standin_model


@pytest.fixture
def no_default_smpl(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "SMPL_MODEL_PATH", tmp_path / "models" / "absent_smpl.pkl")
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    return paths.SMPL_MODEL_PATH


def test_default_path_absent_falls_back_to_standin_with_a_loud_warning(no_default_smpl, caplog):
    for flag in (None, "", str(no_default_smpl), "models/absent_smpl.pkl"):
        with caplog.at_level(logging.WARNING):
            choice = resolve.resolve_body_model(flag)
        assert choice.standin and choice.path == default_standin_path()
        assert "STAND-IN" in caplog.text and str(no_default_smpl) in caplog.text
        caplog.clear()


def test_standin_name_selects_the_standin_without_warning(caplog):
    with caplog.at_level(logging.WARNING):
        choice = resolve.resolve_body_model(paths.STANDIN_NAME)
    assert choice.standin and choice.mean_params is None and not caplog.text


def test_other_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pkl"):
        resolve.resolve_body_model(tmp_path / "nowhere.pkl")


def test_given_file_is_used_and_its_mean_params_found(tmp_path):
    body = write_standin_model(tmp_path / "body.pkl", 300)
    assert resolve.resolve_body_model(body).mean_params is None
    (tmp_path / paths.MEAN_PARAMS_FILENAME).write_bytes(b"")
    choice = resolve.resolve_body_model(str(body))
    assert choice.path == body and choice.standin
    assert choice.mean_params == tmp_path / paths.MEAN_PARAMS_FILENAME
