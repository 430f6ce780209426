"""Live video (``src.demo.live``): the streaming path gives the offline demo's predictions for the
same crops, emits each frame as soon as its window is complete (counted in frames, never
seconds), flushes the last frames at the end of the source or on Ctrl-C, and ``--realtime`` paces
a file at its fps.

The fast tests reuse ``tests/demo/test_demo.py``'s generated clip, box CSV and reduced untrained
HMMR, with a cheap fixed image encoder in place of the ResNet (the same one on both sides, so the
comparison is of the cropping, windowing and prediction, not of the encoder). The offline demo
smooths each track's boxes over the whole track (look-ahead), which a live run cannot do, so the
live run is given the offline run's per-frame boxes: equal crops, and the predictions must then
be equal. The slow test runs the shipped clip with BlazePose and the full-size model, and compares
with the offline predictor on crops cut from the boxes the live run followed.
"""

# ruff: noqa: F401, F811 - the fixtures imported from test_demo are used as arguments
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from src import constants, demo
from src.demo import live
from src.demo.cli import main as demo_main
from src.inference import models as inference_models
from src.inference.predictor import Predictor
from src.video.bbox import crop_frame
from src.video.blazepose_models import models_available
from tests.demo.test_demo import (
    SHIPPED_CLIP,
    _options,
    body_path,
    clip,
    models,
)

SEQ = 8  # window length of the fast tests: margin 2 (5-frame field), a new window every 4 frames
COMPARED = ("theta", "joints", "kps", "cams", "theta_delta", "kps_delta")  # model space
PIXEL_KEYS = ("kps_px", "trans")  # joints times ~100 px per metre: float32 rounding ~1e-5 px
TOL = 1e-5
PIXEL_TOL = 1e-4


def _cheap_encoder(weights: np.ndarray):
    def encode(images, training=False):
        pooled = tf.nn.avg_pool2d(tf.convert_to_tensor(images, tf.float32), 28, 28, "VALID")
        return tf.tanh(tf.reshape(pooled, [tf.shape(pooled)[0], -1]) @ weights)

    return encode


@pytest.fixture(scope="module")
def cheap_models(models):
    weights = np.random.default_rng(0).normal(0, 0.5, (8 * 8 * 3, models.config.phi_dim))
    return dataclasses.replace(models, resnet=_cheap_encoder(weights.astype(np.float32)))


class GivenBoxes:
    """A boxer reading the offline run's per-frame boxes (frame ``i`` -> row of frame ``i``)."""

    def __init__(self, npz) -> None:
        self.rows = {int(f): i for i, f in enumerate(npz["frame_ids"])}
        self.params = np.column_stack([npz["bbox_center"], npz["bbox_scale"]])
        self.index = -1

    def __call__(self, frame):
        self.index += 1
        row = self.rows.get(self.index)
        return None if row is None else self.params[row]


@pytest.mark.slow
def test_live_stream_equals_the_offline_demo_on_the_same_boxes(clip, body_path, cheap_models,
                                                               tmp_path):  # fmt: skip
    offline = demo.run_video(clip["video"], _options(
        tmp_path / "offline", body_path, tracks_json=str(clip["boxes"]), render=False,
        write_pkl=False, sequence_length=SEQ,
    ), cheap_models).tracks[0]  # fmt: skip
    expected = np.load(offline.npz)
    result = live.run_live(str(clip["video"]), _options(
        tmp_path / "live", body_path, render=False, sequence_length=SEQ
    ), models=cheap_models, boxer=GivenBoxes(expected))  # fmt: skip
    got = np.load(result.npz)
    assert sorted(got.files) == sorted(expected.files)  # the same npz layout
    np.testing.assert_array_equal(got["frame_ids"], expected["frame_ids"])
    np.testing.assert_array_equal(got["crop_start_pt"], expected["crop_start_pt"])
    for key in COMPARED:
        assert np.abs(got[key] - expected[key]).max() <= TOL, key
    for key in PIXEL_KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=PIXEL_TOL, err_msg=key)
    assert result.num_frames == len(clip["frames"]) and not result.interrupted


def _stream(cheap_models, frames, **kwargs):
    predictor = Predictor(cheap_models.model, cheap_models.smpl, T=SEQ, batch_size=1,
                          resnet=cheap_models.resnet)  # fmt: skip
    log = live.LatencyLog()
    box = np.array([80.0, 60.0, 1.2])
    chunks = list(live.live_predictions(frames, lambda f: box, predictor, log, **kwargs))
    return predictor, log, chunks


def test_each_frame_is_emitted_once_its_window_is_complete(clip, cheap_models):
    predictor, log, _ = _stream(cheap_models, clip["frames"])
    m, g, n = predictor.margin, predictor.good_frames, len(clip["frames"])
    # frame i is in window i // g, whose last frame is (i // g) g + g + m - 1 (or the clip's end)
    expected = [min((i // g) * g + g + m - 1, n - 1) - i for i in range(n)]
    assert log.frames_after == expected
    assert max(log.frames_after) == SEQ - m - 1  # the first frame of a window waits longest
    assert min(log.frames_after[: n - m]) == m  # the last one waits only for its context


def test_ctrl_c_flushes_the_frames_read_with_the_offline_padding(clip, cheap_models):
    def interrupted():
        yield from clip["frames"][:10]
        raise KeyboardInterrupt

    predictor, log, chunks = _stream(cheap_models, interrupted())
    got = np.concatenate([arrays["theta"] for _, arrays in chunks])
    assert len(got) == 10 and log.frames_read == 10
    crops = [crop_frame(f, np.array([80.0, 60.0]), 1.2)[0] for f in clip["frames"][:10]]
    offline = Predictor(cheap_models.model, cheap_models.smpl, T=SEQ,
                        resnet=cheap_models.resnet).predict_images(np.stack(crops))  # fmt: skip
    assert np.abs(got - offline["theta"]).max() <= TOL


def test_ctrl_c_in_run_live_keeps_the_npz_and_video(clip, body_path, cheap_models, tmp_path,
                                                     monkeypatch):  # fmt: skip
    def read_then_interrupt(*args, **kwargs):
        yield from clip["frames"][:9]
        raise KeyboardInterrupt

    monkeypatch.setattr(live, "read_frames", read_then_interrupt)
    options = _options(tmp_path, body_path, sequence_length=SEQ)
    result = live.run_live(str(clip["video"]), options, models=cheap_models,
                           boxer=lambda f: np.array([80.0, 60.0, 1.2]))  # fmt: skip
    assert result.num_predicted == 9 and result.video.is_file()
    assert len(np.load(result.npz)["theta"]) == 9


@pytest.mark.parametrize("save_verts", [False, True])
def test_live_draws_the_predictors_meshes_and_saves_them_only_when_asked(
    clip, body_path, cheap_models, tmp_path, monkeypatch, save_verts
):
    drawn = []
    real_render_frame = live.render_frame

    def recording_render_frame(visualizer, vertices, *args):
        drawn.append(None if vertices is None else np.array(vertices))
        return real_render_frame(visualizer, vertices, *args)

    monkeypatch.setattr(live, "render_frame", recording_render_frame)
    options = _options(tmp_path, body_path, sequence_length=SEQ, max_frames=9,
                       save_verts=save_verts)  # fmt: skip
    result = live.run_live(str(clip["video"]), options, models=cheap_models,
                           boxer=lambda f: np.array([80.0, 60.0, 1.2]))  # fmt: skip
    saved = np.load(result.npz)
    assert result.num_predicted == 9 and len(drawn) == 9
    smpl = cheap_models.smpl
    want = smpl(saved["theta"][:, constants.SHAPE_SLICE], saved["theta"][:, constants.POSE_SLICE])
    np.testing.assert_allclose(np.stack(drawn), want["vertices"].numpy(), rtol=0, atol=1e-5)
    assert ("verts" in saved) == save_verts and ("verts_delta" in saved) == save_verts


def test_live_without_rendering_or_a_window_draws_nothing(clip, body_path, cheap_models, tmp_path,
                                                          monkeypatch):  # fmt: skip
    def no_drawing(*args, **kwargs):
        raise AssertionError("render_frame called with nothing to draw")

    monkeypatch.setattr(live, "render_frame", no_drawing)
    options = _options(tmp_path, body_path, sequence_length=SEQ, max_frames=9, render=False)
    result = live.run_live(str(clip["video"]), options, models=cheap_models,
                           boxer=lambda f: np.array([80.0, 60.0, 1.2]))  # fmt: skip
    assert result.num_predicted == 9 and result.video is None
    assert "verts" not in np.load(result.npz)


class FakeClock:
    """``time`` for :func:`live.read_frames`: sleeping and reading advance a counter."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeCapture:
    def __init__(self, clock: FakeClock, frames: int, read_s: float) -> None:
        self.clock, self.left, self.read_s = clock, frames, read_s

    def read(self):
        self.clock.now += self.read_s
        self.left -= 1
        return (True, np.zeros((4, 4, 3), np.uint8)) if self.left >= 0 else (False, None)


@pytest.mark.parametrize("read_s, behind_s", [(0.0, 0.0), (0.3, 0.3 * 5 - 4 * 0.2)])
def test_realtime_reads_at_the_file_fps_and_reports_the_lag(monkeypatch, read_s, behind_s):
    clock = FakeClock()
    monkeypatch.setattr(live, "time", clock)
    log = live.LatencyLog()
    times = [clock.now for _ in live.read_frames(FakeCapture(clock, 5, read_s), 5.0, True, None,
                                                 log)]  # fmt: skip
    assert len(times) == 5  # nothing dropped
    if read_s == 0:
        assert times == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])  # one frame per 1 / fps
    assert log.end_behind_s == pytest.approx(behind_s)


def test_live_only_and_offline_only_flags_are_argument_errors(capsys):
    cases = {"--realtime": [["--vid_path", "x.mp4", "--realtime"], ["--camera", "0", "--realtime"]],
             "--bvh": [["--stream", "x.mp4", "--bvh"]]}  # fmt: skip
    for flag, argvs in cases.items():
        for argv in argvs:
            with pytest.raises(SystemExit):
                demo_main(argv)
            assert flag in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CLIP.is_file(), reason="assets/pexels_walking.mp4 missing")
@pytest.mark.skipif(not models_available(), reason="BlazePose models not fetched")
def test_shipped_clip_live_with_blazepose_equals_the_offline_predictor(tmp_path, monkeypatch):
    monkeypatch.setattr(inference_models, "DEFAULT_WEIGHTS_DIR", tmp_path / "no_weights")
    options = demo.DemoOptions(out_dir=tmp_path, max_frames=40, progress=False, render=False)
    full = demo.load_demo_models(options)
    result = live.run_live(str(SHIPPED_CLIP), options, models=full)
    got = np.load(result.npz)
    n = len(got["frame_ids"])
    assert n >= 30 and got["frame_ids"][-1] == 39 and result.num_frames == 40
    assert max(result.latency.frames_after) <= options.sequence_length - 6 - 1  # 13
    from src.video.io import VideoReader

    with VideoReader(SHIPPED_CLIP) as reader:
        frames = [f for i, f in zip(range(40), reader, strict=False) if i >= got["frame_ids"][0]]
    crops = [crop_frame(f, c, float(s))[0] for f, c, s in
             zip(frames, got["bbox_center"], got["bbox_scale"], strict=True)]  # fmt: skip
    offline = Predictor(full.model, full.smpl, resnet=full.resnet).predict_images(np.stack(crops))
    for key in ("theta", "joints"):
        assert np.abs(got[key] - offline[key]).max() <= TOL, key
