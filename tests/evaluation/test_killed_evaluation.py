"""``python -m src.evaluation.evaluate`` SIGKILLed midway (inside a prediction-cache write)
resumes, run again with the same command, to the results of an uninterrupted run: finished
predictions are kept, the half-written one is not trusted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from src import constants
from src.data import schema, tfrecord_lib
from src.networks.config import ModelConfig
from tests.evaluation import _records as R
from tests.timeouts import scaled

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NUM_FILES, TUBES_PER_FILE = 3, 2


def _world(tmp: Path) -> tuple[Path, Path, Path]:
    import keras

    from src.checkpoints.weights_dir import save_models
    from src.networks.hmmr import HMMR

    rng = np.random.default_rng(5)
    keras.utils.set_random_seed(5)
    config = ModelConfig(num_conv_layers=1, ief_hidden=32, hallucinator_hidden=32)
    model = HMMR(config)
    model.build((None, None, config.phi_dim))
    weights = save_models(tmp / "weights", model=model)
    body, _ = R.write_body_model(tmp / "body.npz", rng)
    for index in range(NUM_FILES):
        tubes = []
        for n in rng.integers(8, 16, TUBES_PER_FILE):
            kp = np.ones((n, constants.NUM_KPS, 3))
            kp[..., :2] = rng.uniform(20, 200, (n, constants.NUM_KPS, 2))
            tubes.append(
                {
                    "kp2d": kp,
                    "phi": rng.normal(size=(n, constants.PHI_DIM)).astype(np.float32),
                    "joints3d": rng.normal(0, 0.3, (n, constants.NUM_LSP_JOINTS, 3)),
                }
            )
        tfrecord_lib.write_records(
            tmp / "rec" / "h36m" / "val" / f"S9_Act{index}_cam03.tfrecord",
            [schema.serialize_sequence_example(t) for t in tubes],
        )
    return weights, body, tmp / "rec"


def _evaluate(prefix: list[str], weights, body, records, out: Path) -> subprocess.CompletedProcess:
    argv = ["--load_path", str(weights), "--data_dir", str(records), "--test_datasets", "h36m",
            "--use_phi", "--smpl_model_path", str(body), "--batch_size", "2",
            "--pred_dir", str(out / "cache"), "--out_dir", str(out / "results")]  # fmt: skip
    return subprocess.run(
        [sys.executable, *prefix, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )


def test_evaluation_killed_midway_resumes_to_the_uninterrupted_results(tmp_path):
    weights, body, records = _world(tmp_path)
    module = ["-m", "src.evaluation.evaluate"]
    whole = _evaluate(module, weights, body, records, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    third = [str(REPO / "tests/killable.py"), "savez:3", "src.evaluation.evaluate"]
    killed = _evaluate(third, weights, body, records, killed_dir)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert len(list(killed_dir.glob("cache/*/*.npz"))) == 2  # the third is only a temp file
    assert len(list(killed_dir.glob("cache/*/*.npz.*.tmp"))) == 1
    assert not (killed_dir / "results").exists()

    resumed = _evaluate(module, weights, body, records, killed_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    name = "results_val_pred_h36m.json"
    expected = json.loads((tmp_path / "whole" / "results" / name).read_text())
    got = json.loads((killed_dir / "results" / name).read_text())
    assert got["results"] == expected["results"] and got["units"] == expected["units"]
    counts = got["metadata"]["counts"]["h36m"]
    assert (counts["cached"], counts["predicted"]) == (2, NUM_FILES * TUBES_PER_FILE - 2)
    assert resumed.stdout == whole.stdout.replace(str(tmp_path / "whole"), str(killed_dir))
