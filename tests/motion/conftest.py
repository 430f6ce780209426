"""Fixtures of the motion-export tests: a 300-vertex generated stand-in body model (not SMPL),
its arrays, and the Keras body-model layer on it (float64)."""

from __future__ import annotations

import pytest

from src.smpl import load_smpl_params
from src.smpl.standin import write_standin_model

NUM_VERTS = 300


@pytest.fixture(scope="module")
def body_path(tmp_path_factory):
    return write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", NUM_VERTS)


@pytest.fixture(scope="module")
def params(body_path):
    return load_smpl_params(body_path)


@pytest.fixture(scope="module")
def smpl(body_path):
    from src.smpl.layer import SMPL

    return SMPL(body_path, dtype="float64")
