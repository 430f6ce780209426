"""The evaluator's mesh vertices come from the one theta -> body function and equal the body
model's own vertices for the same pose and shape."""

from __future__ import annotations

import numpy as np

from src.evaluation.predictions import BodyModel
from src.smpl.layer import SMPL
from src.smpl.standin import write_standin_model


def test_vertices_equal_the_body_model_on_the_same_pose_and_shape(tmp_path):
    path = write_standin_model(tmp_path / "body.pkl", 300)
    rng = np.random.default_rng(0)
    betas = rng.normal(size=(3, 10))
    poses = rng.normal(scale=0.3, size=(3, 72))
    got = BodyModel(path).vertices(betas, poses)
    want = SMPL(path)(betas.astype(np.float32), poses.astype(np.float32))["vertices"]
    assert got.dtype == np.float64 and got.shape == (3, 300, 3)
    np.testing.assert_array_equal(got, np.asarray(want, np.float64))
