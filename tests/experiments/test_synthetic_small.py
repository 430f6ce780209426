"""The learning proof in CI: the small synthetic experiment, trained and scored with the real
trainer and evaluator, shows the paper's effects (with margins, not exact numbers).

A regression in the losses, the discriminator, the past/future regressors, the hallucinator or the
evaluator that stops the model from learning what the paper claims turns this red.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from src import paths
from src.synthetic.cli import DEFAULT_MOCAP_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory):
    if not DEFAULT_MOCAP_DIR.is_dir():
        pytest.skip(f"{DEFAULT_MOCAP_DIR}: the CMU clips (shared/data/mocap/cmu) are not here")
    out = tmp_path_factory.mktemp("synth_small")
    result = subprocess.run(
        [sys.executable, "-m", "src.experiments.synthetic", "--out", str(out), "--preset", "small"],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((out / "report" / "results_synthetic.json").read_text())


# Margins: two runs of the small world (240 tracks per tier, 800 steps) on a 2-core Xeon measured
# accel error ratios 0.52 and 0.44; learned past/future 0.92-0.94 x the constant baseline
# (temporal and hallucinator; a later run 0.99-1.0 for temporal); temporal PA-MPJPE 1.02-1.03 x
# single-frame (the present-frame gain does not appear at this budget, nor at the full one:
# docs/results_synthetic.md). Each bound sits between those and "no effect" (1.0): training is
# not bit-reproducible across runs.


def test_temporal_context_removes_most_of_the_single_frame_jitter(small_experiment):
    single = small_experiment["table2"]["single"]
    temporal = small_experiment["table2"]["temporal"]
    assert temporal["accel_error_mm_per_frame2"] <= 0.65 * single["accel_error_mm_per_frame2"]
    # and it is not bought with a collapse of the present-frame accuracy
    assert temporal["pa_mpjpe_mm"] <= 1.1 * single["pa_mpjpe_mm"]


def test_learned_past_and_future_beat_the_constant_baseline(small_experiment):
    # At 800 steps one offset of one source can land at the baseline (a CI run measured temporal
    # t-5 at 1.0004 x, t+5 at 0.988 x, where two earlier runs gave 0.92-0.94): each offset must
    # not be worse than the baseline by more than 2 %, and the four together must beat it.
    ratios = {}
    for source in ("temporal", "hallucinator"):
        row = small_experiment["table5"][source]
        for when in ("past", "future"):
            ratios[source, when] = row[f"{when}_learned"] / row[f"{when}_constant"]
    assert all(r <= 1.02 for r in ratios.values()), ratios
    assert sum(ratios.values()) / len(ratios) <= 0.98, ratios


def test_the_report_is_complete(small_experiment):
    meta = small_experiment["meta"]
    assert meta["preset"] == "small" and meta["test_subjects"]
    assert set(small_experiment["checks"]) and all(
        isinstance(v, bool) for v in small_experiment["checks"].values()
    )
