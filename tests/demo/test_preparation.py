"""The demo builds its models and traces its predictor in a thread while it finds the tracks
(``src.demo.pipeline._Preparation``): the work happens in that thread, its errors reach the
caller as before, and a tracking error still wins and leaves no thread behind."""

# ruff: noqa: F401, F811 - the fixtures imported from test_demo are used as arguments
from __future__ import annotations

import threading

import numpy as np
import pytest

from src import demo
from src.demo import pipeline
from tests.demo.test_demo import _options, body_path, clip, models


def _preparing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hmmr-demo-prepare"]


def test_the_predictor_is_built_warm_in_the_preparation_thread(clip, body_path, models, tmp_path,
                                                               monkeypatch):  # fmt: skip
    built_in, tracked_in = [], []
    real_make, real_find = pipeline.make_predictor, pipeline.find_tracks

    def recording_make(*args, **kwargs):
        built_in.append(threading.current_thread().name)
        return real_make(*args, **kwargs)

    def recording_find(*args, **kwargs):
        tracked_in.append(threading.current_thread().name)
        return real_find(*args, **kwargs)

    monkeypatch.setattr(pipeline, "make_predictor", recording_make)
    monkeypatch.setattr(pipeline, "find_tracks", recording_find)
    models.predictors.clear()  # a new predictor: built (and traced) in the thread
    options = _options(tmp_path, body_path, tracks_json=str(clip["boxes"]), render=False)
    result = demo.run_video(clip["video"], options, models)
    assert built_in == ["hmmr-demo-prepare"] and tracked_in == ["MainThread"]
    predictor = next(iter(models.predictors.values()))
    assert predictor._forward.experimental_get_tracing_count() == 1  # traced once, in the thread
    assert len(result.tracks) == 1 and np.load(result.tracks[0].npz)["theta"].shape[1] == 85
    assert _preparing_threads() == []


def test_a_model_error_is_raised_in_the_caller_once_the_tracks_are_found(
    clip, body_path, tmp_path, monkeypatch
):
    found = []
    real_find = pipeline.find_tracks

    def recording_find(*args, **kwargs):
        found.append(True)
        return real_find(*args, **kwargs)

    def broken_models(options, **kwargs):
        raise demo.DemoError("weights.h5: not a weights file")

    monkeypatch.setattr(pipeline, "find_tracks", recording_find)
    monkeypatch.setattr(pipeline, "load_demo_models", broken_models)
    options = _options(tmp_path / "out", body_path, tracks_json=str(clip["boxes"]))
    with pytest.raises(demo.DemoError, match="weights.h5: not a weights file"):
        demo.run_video(clip["video"], options)
    assert found == [True] and _preparing_threads() == []
    assert not (tmp_path / "out").exists()


def test_a_tracking_error_wins_and_waits_for_the_thread(clip, body_path, tmp_path, monkeypatch):
    release = threading.Event()
    finished = []

    def slow_broken_models(options, **kwargs):
        release.wait(timeout=60)  # still building when tracking fails
        finished.append(True)
        raise demo.DemoError("never reported: the tracking error comes first")

    monkeypatch.setattr(pipeline, "load_demo_models", slow_broken_models)
    real_find = pipeline.find_tracks

    def find_then_release(*args, **kwargs):
        tracks = real_find(*args, **kwargs)
        release.set()
        return tracks

    monkeypatch.setattr(pipeline, "find_tracks", find_then_release)
    options = _options(tmp_path / "out", body_path, tracks_json=str(clip["boxes"]), track_id=5)
    with pytest.raises(demo.DemoError, match=r"--track_id 5 .* only 2 person track\(s\)"):
        demo.run_video(clip["video"], options)
    assert finished == [True] and _preparing_threads() == []
    assert not (tmp_path / "out").exists()


def test_after_a_tracking_error_the_predictor_is_not_made(clip, body_path, models, tmp_path,
                                                          monkeypatch):  # fmt: skip
    """The models still being built when the tracking fails are finished, but the predictor
    (its tracing and first call, about 2 s) is skipped: the error comes that much sooner."""
    release = threading.Event()
    made = []

    def slow_models(options, **kwargs):
        release.wait(timeout=20)  # still building when the run is cancelled
        return models

    def recording_make(*args, **kwargs):
        made.append(True)
        raise AssertionError("the predictor was made after the run had failed")

    real_cancel = pipeline._Preparation.cancel

    def cancel_then_release(self):
        self._cancelled.set()  # the models finish only once the run is known to have failed
        release.set()
        real_cancel(self)

    monkeypatch.setattr(pipeline, "load_demo_models", slow_models)
    monkeypatch.setattr(pipeline, "make_predictor", recording_make)
    monkeypatch.setattr(pipeline._Preparation, "cancel", cancel_then_release)
    options = _options(tmp_path / "out", body_path, tracks_json=str(clip["boxes"]), track_id=5)
    with pytest.raises(demo.DemoError, match=r"--track_id 5 .* only 2 person track\(s\)"):
        demo.run_video(clip["video"], options)
    assert made == [] and _preparing_threads() == []
