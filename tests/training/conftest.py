"""Fixtures of the training tests: a small stand-in body model and a small quick data set."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_standin(tmp_path_factory) -> str:
    """A 300-vertex stand-in body model (fast SMPL forward)."""
    from src.smpl.standin import write_standin_model

    path = tmp_path_factory.mktemp("body") / "standin300.pkl"
    write_standin_model(path, num_verts=300)
    return str(path)


@pytest.fixture(scope="session")
def quick_data(tmp_path_factory, small_standin) -> str:
    """A small quick data set: 4 tracks of 12 frames per side in 2 shards, 200 mocap samples."""
    from src.training.make_quick_data import make_quick_data

    root = tmp_path_factory.mktemp("quick")
    make_quick_data(
        root,
        num_tracks=4,
        num_frames=12,
        num_shards=2,
        num_mocap=200,
        smpl_model_path=small_standin,
    )
    return str(root)
