"""Stand-in body-model files shared by the body-model tests (generated once per session)."""

from pathlib import Path

import pytest

from src.smpl.standin import DEFAULT_NUM_VERTS, write_standin_model

SMALL_NUM_VERTS = 400


@pytest.fixture(scope="session")
def standin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-size (6890-vertex) stand-in body model as an SMPL-format .pkl."""
    return write_standin_model(tmp_path_factory.mktemp("standin") / "full.pkl", DEFAULT_NUM_VERTS)


@pytest.fixture(scope="session")
def small_standin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-vertex stand-in, for tests where the size does not matter."""
    return write_standin_model(tmp_path_factory.mktemp("standin") / "small.pkl", SMALL_NUM_VERTS)
