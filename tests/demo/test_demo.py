"""The demo end to end on a short generated video, its outputs and its bad-input errors.

A 16-frame 160x120 clip with two drawn people (one leaves after 12 frames) and a box CSV for
their tracks, so BlazePose is not needed; the networks are the real ResNet-50 v2 at 224 px with a
reduced HMMR (one temporal block: a 5-frame field, 32-wide regressors) and a 300-vertex stand-in
body. One slow test runs the shipped clip with BlazePose and the full-size untrained model.
"""

from __future__ import annotations

import itertools
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from src import constants, demo
from src.demo import cli as demo_cli
from src.demo import models as demo_models_module
from src.demo import pipeline as demo_pipeline
from src.demo import render as demo_render
from src.demo_cli import run as demo_cli_run
from src.inference import models as inference_models
from src.inference.predictor import Predictor
from src.motion.bvh import read_bvh
from src.networks.config import ModelConfig
from src.render.draw import banner_strip_height
from src.render.views import FrameVisualizer
from src.smpl.standin import write_standin_model
from src.video.bbox import crop_frame, crop_params, smooth_bboxes_from_boxes
from src.video.blazepose_models import models_available
from src.video.io import VideoReader, write_video
from tests.timeouts import scaled

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "demo_outputs.md"
SHIPPED_CLIP = REPO / "assets" / "pexels_walking.mp4"
W, H, NUM_FRAMES, FPS = 160, 120, 16, 12.5
B_FRAMES = 12  # the second person is seen in frames 0 .. 11
NUM_VERTS = 300
SMALL = ModelConfig(num_conv_layers=1, ief_hidden=32, hallucinator_hidden=32)  # 5-frame field
MARGIN = SMALL.receptive_field // 2  # 2
P = len(constants.DELTA_T_VALUES)


def _draw_person(image: np.ndarray, x: int, y: int, color) -> tuple[int, int, int, int]:
    """A stick figure 80 px tall with its head at (x, y); returns its box."""
    skin = (230, 200, 180)
    cv2.circle(image, (x, y), 7, skin, -1)
    cv2.line(image, (x, y + 7), (x, y + 42), color, 7)
    for side in (-1, 1):
        cv2.line(image, (x, y + 14), (x + side * 14, y + 36), skin, 3)
        cv2.line(image, (x, y + 42), (x + side * 9, y + 73), (30, 30, 30), 4)
    return x - 16, y - 8, x + 16, y + 76


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clip")
    frames, rows = [], []
    for t in range(NUM_FRAMES):
        image = np.full((H, W, 3), 100, np.uint8)
        box_a = _draw_person(image, 40 + 3 * t, 20, (40, 40, 200))
        rows.append((t, 7, *box_a))
        if t < B_FRAMES:
            box_b = _draw_person(image, 125 - 2 * t, 30, (200, 60, 40))
            rows.append((t, 3, *box_b))
        frames.append(image)
    write_video(folder / "walk.mp4", frames, FPS)
    with VideoReader(folder / "walk.mp4") as reader:
        decoded = list(reader)  # what the demo sees (mp4 is lossy)
    lines = ["frame,track_id,x1,y1,x2,y2"] + [",".join(str(v) for v in row) for row in rows]
    (folder / "boxes.csv").write_text("\n".join(lines) + "\n")
    cv2.imwrite(str(folder / "still.png"), cv2.cvtColor(decoded[5], cv2.COLOR_RGB2BGR))
    (folder / "still.csv").write_text(f"0,0,{rows[10][2]},{rows[10][3]},{rows[10][4]},"
                                      f"{rows[10][5]}\n")  # fmt: skip
    return {"video": folder / "walk.mp4", "boxes": folder / "boxes.csv",
            "image": folder / "still.png", "image_box": folder / "still.csv",
            "frames": decoded, "rows": rows}  # fmt: skip


@pytest.fixture(scope="module")
def body_path(tmp_path_factory) -> Path:
    return write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", NUM_VERTS)


def _options(tmp: Path, body: Path, **kwargs) -> demo.DemoOptions:
    base = dict(out_dir=tmp, smpl_model_path=str(body), model_config=SMALL, progress=False)
    return demo.DemoOptions(**{**base, **kwargs})


@pytest.fixture(scope="module")
def models(body_path, tmp_path_factory):
    built = demo.load_demo_models(_options(tmp_path_factory.mktemp("m"), body_path))
    for weight in built.model.weights:  # tiny last-layer inits: make outputs vary per frame
        if "kernel" in weight.path and float(tf.math.reduce_std(weight)) < 1e-2:
            weight.assign(weight * 30.0)
    return built


@pytest.fixture(scope="module")
def run(clip, body_path, models, tmp_path_factory) -> demo.DemoResult:
    out = tmp_path_factory.mktemp("out")
    options = _options(
        out, body_path, tracks_json=str(clip["boxes"]), all_tracks=True, crop_grid=True,
        save_verts=True,
    )  # fmt: skip
    return demo.run_video(clip["video"], options, models)


def _documented_keys() -> set[str]:
    text = DOC.read_text()
    section = text.split("## `hmmr_output.npz`")[1].split("## `hmmr_output.pkl`")[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))


# ------------------------------------------------------------------------------------------------
# Outputs


@pytest.mark.slow
def test_every_track_gets_npz_pkl_and_videos(run, clip):
    assert [t.rank for t in run.tracks] == [0, 1]
    assert [t.track_id for t in run.tracks] == [7, 3]  # longest first
    for track, name in zip(run.tracks, ("hmmr_output", "hmmr_output_1"), strict=True):
        assert track.out_dir == run.tracks[0].out_dir.parent / name
        names = sorted(p.name for p in track.out_dir.iterdir())
        assert names == ["hmmr_output.mp4", "hmmr_output.npz", "hmmr_output.pkl",
                         "hmmr_output_crop.mp4"]  # fmt: skip
    video_dir = run.tracks[0].out_dir.parent
    assert sorted(p.name for p in video_dir.iterdir()) == ["hmmr_output", "hmmr_output_1"]


def test_npz_holds_exactly_the_documented_keys_with_their_shapes(run):
    data = np.load(run.tracks[0].npz)  # no pickle needed
    assert set(data.files) == _documented_keys()
    n, k, v = NUM_FRAMES, constants.NUM_KPS, NUM_VERTS
    shapes = {
        "frame_ids": (n,), "theta": (n, 85), "cams": (n, 3), "poses": (n, 24, 3, 3),
        "shapes": (n, 10), "joints": (n, k, 3), "kps": (n, k, 2), "kps_px": (n, k, 2),
        "cams_orig": (n, 3), "cams_orig_norm": (n, 3), "trans": (n, 3), "bbox_center": (n, 2),
        "bbox_scale": (n,), "crop_start_pt": (n, 2), "theta_delta": (n, P, 85),
        "cams_delta": (n, P, 3), "poses_delta": (n, P, 24, 3, 3), "shapes_delta": (n, P, 10),
        "joints_delta": (n, P, k, 3), "kps_delta": (n, P, k, 2), "verts": (n, v, 3),
        "verts_delta": (n, P, v, 3), "img_size": (2,), "delta_t": (P,), "joint_names": (k,),
        "smpl_joint_names": (24,),
    }  # fmt: skip
    for key, shape in shapes.items():
        assert data[key].shape == shape, key
    np.testing.assert_array_equal(data["img_size"], [H, W])
    assert float(data["fps"]) == pytest.approx(FPS, rel=1e-3)
    np.testing.assert_array_equal(data["delta_t"], [-5, 5])
    assert bool(data["untrained"]) and bool(data["standin_body"])
    assert str(data["pred_mode"]) == "pred" and int(data["track_id"]) == 7
    assert str(data["precision"]) == "float32"  # the default


def test_frame_ids_follow_each_track(run):
    np.testing.assert_array_equal(np.load(run.tracks[0].npz)["frame_ids"], np.arange(NUM_FRAMES))
    np.testing.assert_array_equal(np.load(run.tracks[1].npz)["frame_ids"], np.arange(B_FRAMES))


def test_predictions_equal_the_predictor_on_the_same_crops(run, clip, models):
    """Reference: the original's smoothing of the CSV boxes, crops, one whole-sequence predict."""
    boxes = [np.array(r[2:], float) for r in clip["rows"] if r[1] == 3]
    smooth = smooth_bboxes_from_boxes(boxes)
    crops = [crop_frame(clip["frames"][i], p[:2], p[2])[0] for i, p in enumerate(smooth.params)]
    predictor = Predictor(models.model, models.smpl, resnet=models.resnet)
    expected = predictor.predict_images(np.stack(crops))
    data = np.load(run.tracks[1].npz)
    np.testing.assert_allclose(data["bbox_center"], smooth.params[:, :2], atol=1e-9)
    for key in ("theta", "theta_delta", "joints", "kps_delta"):
        np.testing.assert_allclose(data[key], expected[key], rtol=1e-4, atol=1e-4, err_msg=key)
    assert np.abs(data["theta"][0] - data["theta"][-1]).max() > 1e-3  # frames differ


def test_frame_keypoints_are_crop_keypoints_mapped_back(run):
    data = np.load(run.tracks[0].npz)
    for i in (0, 7, NUM_FRAMES - 1):
        params = crop_params((H, W), data["bbox_center"][i], float(data["bbox_scale"][i]))
        np.testing.assert_array_equal(params.start_pt, data["crop_start_pt"][i])
        crop_px = (data["kps"][i].astype(np.float64) + 1.0) * constants.IMG_SIZE / 2
        # the crop's sizes are floored, the camera uses the exact scale: under a pixel apart
        np.testing.assert_allclose(data["kps_px"][i], params.crop_to_image(crop_px), atol=1.0)


def test_translation_reprojects_onto_frame_keypoints_with_a_pinhole(run):
    data = np.load(run.tracks[0].npz)
    focal, (h, w) = float(data["focal_px"]), data["img_size"]
    assert focal == max(h, w)
    trans = data["trans"].astype(np.float64)[:, None]
    xy = data["joints"][..., :2] + trans[..., :2]
    pinhole = focal * xy / trans[..., 2:] + np.array([w / 2.0, h / 2.0])
    np.testing.assert_allclose(pinhole, data["kps_px"], rtol=1e-4, atol=1e-3)


def test_pickle_has_the_original_keys(run):
    with open(run.tracks[0].pkl, "rb") as f:
        out = pickle.load(f)
    base = ("cams", "joints", "kps", "poses", "shapes", "verts", "omegas")
    assert set(out) == {*base, *(f"{k}_delta" for k in base), "frame_ids"}
    data = np.load(run.tracks[0].npz)
    np.testing.assert_array_equal(out["omegas"], data["theta"])
    np.testing.assert_array_equal(out["verts_delta"], data["verts_delta"])


def _read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_video_covers_every_input_frame_below_a_banner_strip(run, clip):
    """The banner hid the top ~32 px of the video and the video held the track's frames only
    (173 of 178 on a real clip): now a strip above the frame, and every input frame."""
    capture = cv2.VideoCapture(str(run.tracks[1].video))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS, rel=1e-3)
    capture.release()
    frames = _read_video(run.tracks[1].video)  # track 1 is seen in frames 0 .. 11 of 16
    assert len(frames) == NUM_FRAMES
    strip = banner_strip_height(H)
    assert frames[0].shape == (strip + H, 2 * W, 3)  # banner strip over frame | side view
    red = frames[0][2 : strip - 2].reshape(-1, 3).mean(axis=0)
    assert red[0] > 150 and red[1] < 60 and red[2] < 60  # the untrained banner
    for t in (0, B_FRAMES - 1):  # the top rows of the frame show the frame, not the banner
        top = frames[t][strip : strip + 12, :W].astype(float)
        assert np.abs(top - clip["frames"][t][:12].astype(float)).mean() < 12
    for t in range(B_FRAMES):  # a body in the side view while the person is tracked
        side = frames[t][strip + 4 : -4, W + 4 : -4]
        assert (side.min(axis=2) < 200).any()
    for t in range(B_FRAMES, NUM_FRAMES):  # later: the frame as it is, no body anywhere
        assert (frames[t][strip:, W:].min(axis=2) > 235).all()
        shown = frames[t][strip:, :W].astype(float)
        assert np.abs(shown - clip["frames"][t].astype(float)).mean() < 6


def test_side_view_frames_the_whole_body_whatever_the_camera(models):
    """The side view used the frame's camera and cut the head of a person near the top."""
    theta = np.zeros((1, 85), np.float32)
    theta[0, 3] = np.pi  # the mean pose's root rotation: upright in the image
    verts = demo_render.body_vertices(models.smpl, theta)[0]
    frame = np.full((H, W, 3), 90, np.uint8)
    visualizer = FrameVisualizer(models.smpl.faces)
    for cam in ([1.6, 0.0, -0.75], [0.4, 0.9, 0.9], [3.0, 0.0, 0.0]):  # head out, tiny, huge
        panel, _ = demo_render.render_frame(
            visualizer, verts, np.array(cam), frame, 720, "UNTRAINED WEIGHTS"
        )
        strip = banner_strip_height(H)
        side = panel[strip:, W:]
        body = np.argwhere(side.min(axis=2) < 245)
        assert len(body), cam
        (top, left), (bottom, right) = body.min(axis=0), body.max(axis=0)
        assert top >= 2 and left >= 2 and bottom <= H - 3 and right <= W - 3, cam  # all inside
        assert bottom - top >= 0.8 * H or right - left >= 0.8 * W, cam  # and filling the view


def test_nothing_is_left_behind_but_the_outputs(run):
    root = run.tracks[0].out_dir.parent.parent
    hidden = [p for p in root.rglob("*") if p.name.startswith(".")]
    assert hidden == []


def test_rendering_failure_keeps_the_outputs(clip, body_path, models, tmp_path, monkeypatch,
                                             capsys):  # fmt: skip
    def broken(*args, **kwargs):
        raise RuntimeError("no renderer here")

    monkeypatch.setattr(demo_render, "render_frame", broken)
    options = _options(tmp_path, body_path, tracks_json=str(clip["boxes"]), max_frames=10)
    result = demo.run_video(clip["video"], options, models)
    track = result.tracks[0]
    assert track.video is None and track.npz.is_file() and track.pkl.is_file()
    assert "rendering failed" in capsys.readouterr().err
    assert sorted(p.name for p in track.out_dir.iterdir()) == ["hmmr_output.npz",
                                                               "hmmr_output.pkl"]  # fmt: skip
    np.testing.assert_array_equal(np.load(track.npz)["frame_ids"], np.arange(10))


def test_frames_drawn_in_threads_are_written_in_frame_order(
    clip, body_path, models, tmp_path, monkeypatch
):
    """Frames are drawn RENDER_THREADS at a time; the video gets them in frame order, each the
    picture of its own frame drawn alone, even when a later frame finishes first."""
    real_write, real_render = demo_render._write, demo_render.render_frame
    calls = itertools.count()

    def uneven_render(*args, **kwargs):
        if next(calls) % 3 == 0:
            time.sleep(0.05)  # every third frame finishes after the next ones
        return real_render(*args, **kwargs)

    written: list[tuple[str, np.ndarray]] = []

    def recording_write(writers, key, path, fps, image):
        written.append((key, image.copy()))
        real_write(writers, key, path, fps, image)

    monkeypatch.setattr(demo_render, "render_frame", uneven_render)
    monkeypatch.setattr(demo_render, "_write", recording_write)
    monkeypatch.setattr(demo_render, "RENDER_THREADS", 3)
    options = _options(tmp_path, body_path, tracks_json=str(clip["boxes"]), crop_grid=True,
                       save_verts=True, write_pkl=False)  # fmt: skip
    track = demo.run_video(clip["video"], options, models).tracks[0]
    saved = np.load(track.npz)
    assert list(saved["frame_ids"]) == list(range(NUM_FRAMES))  # track 7: every frame
    visualizer = FrameVisualizer(models.smpl.faces, color=options.mesh_color)
    want = [
        real_render(visualizer, saved["verts"][i], saved["cams_orig_norm"][i], frame,
                    options.render_max_side, demo_models_module.banner_text(models))[0]
        for i, frame in enumerate(clip["frames"])
    ]  # fmt: skip
    keys = [key for key, _ in written]
    assert keys.count("video") == NUM_FRAMES and keys.count("crop") == NUM_FRAMES
    got = [image for key, image in written if key == "video"]
    for i, (image, expected) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(image, expected, err_msg=f"frame {i}")


def test_rendered_vertices_are_the_body_models_vertices(models):
    theta = np.random.default_rng(3).normal(scale=0.3, size=(21, 85)).astype(np.float32)
    got = demo_render.body_vertices(models.smpl, theta)  # two chunks, the second padded
    want = models.smpl(theta[:, constants.SHAPE_SLICE], theta[:, constants.POSE_SLICE])
    assert got.shape == (21, models.smpl.num_verts, 3)
    np.testing.assert_allclose(got, want["vertices"].numpy(), rtol=0, atol=1e-6)  # traced, eager
    assert demo_render.body_vertices(models.smpl, theta[:0]).shape == (0, models.smpl.num_verts, 3)


@pytest.mark.slow
def test_trim_drops_the_frames_with_padded_context_from_the_video(
    clip, body_path, models, tmp_path
):
    options = _options(tmp_path, body_path, tracks_json=str(clip["boxes"]), trim=True,
                       max_frames=10, write_pkl=False)  # fmt: skip
    track = demo.run_video(clip["video"], options, models).tracks[0]
    assert track.video.name == "hmmr_output_trim.mp4"
    capture = cv2.VideoCapture(str(track.video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10 - 2 * MARGIN
    capture.release()
    assert len(np.load(track.npz)["frame_ids"]) == 10  # the npz keeps every frame


@pytest.mark.slow
def test_no_render_and_hal_mode(clip, body_path, models, tmp_path):
    options = _options(tmp_path, body_path, tracks_json=str(clip["boxes"]), pred_mode="hal",
                       render=False, write_pkl=False)  # fmt: skip
    track = demo.run_video(clip["video"], options, models).tracks[0]
    assert [p.name for p in track.out_dir.iterdir()] == ["hmmr_output.npz"]
    data = np.load(track.npz)
    assert str(data["pred_mode"]) == "hal"
    # the hallucinator sees one frame: frame 3's output equals predict_single on its crop alone
    crop, _ = crop_frame(clip["frames"][3], data["bbox_center"][3], float(data["bbox_scale"][3]))
    single = models.model.predict_single(models.resnet(crop[None], training=False))
    np.testing.assert_allclose(data["theta"][3], single["theta"][0], rtol=1e-4, atol=1e-4)


def test_image_mode_hallucinates_past_present_future(clip, body_path, models, tmp_path):
    options = _options(tmp_path, body_path, tracks_json=str(clip["image_box"]))
    result = demo.run_image(clip["image"], options, models)
    data = np.load(result.tracks[0].npz)
    assert data["theta"].shape == (1, 85) and data["joints_delta"].shape == (1, P, 25, 3)
    assert set(data.files) == _documented_keys() - {"verts", "verts_delta"}
    picture = cv2.imread(str(result.image))
    strip = banner_strip_height(2 * constants.IMG_SIZE)  # the banner is above, covering nothing
    assert picture.shape == (strip + 2 * constants.IMG_SIZE, 3 * constants.IMG_SIZE, 3)
    crop, _ = crop_frame(clip["frames"][5], data["bbox_center"][0], float(data["bbox_scale"][0]))
    single = models.model.predict_single(models.resnet(crop[None], training=False))
    np.testing.assert_allclose(data["theta_delta"], single["theta_delta"], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_vid_dir_processes_each_video_and_reports_the_bad_one(
    clip, models, tmp_path, monkeypatch, capsys
):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "walk.mp4").write_bytes(clip["video"].read_bytes())
    (videos / "broken.mp4").write_text("not a video")
    monkeypatch.setattr(demo_models_module, "load_demo_models", lambda options: models)
    out = tmp_path / "out"
    argv = ["--vid_dir", str(videos), "--out_dir", str(out), "--tracks_json", str(clip["boxes"]),
            "--track_id", "1", "--no_render", "--no_progress"]  # fmt: skip
    assert demo.main(argv) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "broken.mp4: not a video" in err[0]
    assert [p.name for p in out.iterdir()] == ["walk"]
    assert [p.name for p in (out / "walk").iterdir()] == ["hmmr_output_1"]  # --track_id 1
    data = np.load(out / "walk" / "hmmr_output_1" / "hmmr_output.npz")
    assert int(data["track_id"]) == 3 and int(data["track_rank"]) == 1


# ------------------------------------------------------------------------------------------------
# What the console says, and what a failed or interrupted run leaves


@pytest.mark.slow
def test_console_reports_the_tracks_found_the_chosen_one_and_its_frames(
    clip, models, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(demo_models_module, "load_demo_models", lambda options: models)
    argv = ["--vid_path", str(clip["video"]), "--out_dir", str(tmp_path), "--tracks_json",
            str(clip["boxes"]), "--track_id", "1", "--no_render", "--no_progress"]  # fmt: skip
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "walk.mp4: 2 person track(s) found in 16 frames; processing track 1" in out
    assert "walk.mp4: track 1 (id 3), frames 0-11 (12 of 16):" in out


def test_track_id_beyond_the_tracks_found_is_an_error_naming_how_many(
    clip, body_path, models, tmp_path
):
    options = _options(tmp_path / "out", body_path, tracks_json=str(clip["boxes"]), track_id=5)
    with pytest.raises(demo.DemoError, match=r"--track_id 5 .* only 2 person track\(s\)"):
        demo.run_video(clip["video"], options, models)
    assert not (tmp_path / "out").exists()


def test_single_image_report_names_the_person_box_not_a_track(clip, body_path, models, tmp_path,
                                                              capsys):  # fmt: skip
    options = _options(tmp_path, body_path, tracks_json=str(clip["image_box"]), render=False)
    result = demo.run_image(clip["image"], options, models)
    demo_cli._report(result)
    out = capsys.readouterr().out
    assert "still.png: person at box centre (" in out
    assert "track 0" not in out and "frames 0-0" not in out


@pytest.mark.slow
def test_ctrl_c_while_rendering_says_the_saved_outputs_were_kept(
    clip, models, tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_render, "render_frame", interrupted)
    monkeypatch.setattr(demo_models_module, "load_demo_models", lambda options: models)
    argv = ["--vid_path", str(clip["video"]), "--out_dir", str(tmp_path), "--tracks_json",
            str(clip["boxes"]), "--no_progress"]  # fmt: skip
    assert demo.main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    track_dir = tmp_path / "walk" / "hmmr_output"
    assert err.startswith("demo.py: interrupted while rendering; kept ")
    assert str(track_dir / "hmmr_output.npz") in err and str(track_dir / "hmmr_output.pkl") in err
    assert sorted(p.name for p in track_dir.iterdir()) == ["hmmr_output.npz", "hmmr_output.pkl"]
    assert len(np.load(track_dir / "hmmr_output.npz")["frame_ids"]) == NUM_FRAMES


def test_failed_run_removes_only_the_empty_folders_it_made(
    clip, body_path, models, tmp_path, monkeypatch
):
    """An existing empty output folder was removed when a run failed."""

    def broken(*args, **kwargs):
        raise RuntimeError("prediction failed")

    monkeypatch.setattr(demo_pipeline, "predict_track", broken)
    mine = tmp_path / "mine" / "walk" / "hmmr_output"
    mine.mkdir(parents=True)  # the user's (empty) folders, exactly where the outputs would go
    for out_dir in (tmp_path / "mine", tmp_path / "new" / "deeper"):
        options = _options(out_dir, body_path, tracks_json=str(clip["boxes"]))
        with pytest.raises(RuntimeError, match="prediction failed"):
            demo.run_video(clip["video"], options, models)
        assert mine.is_dir()
        assert (tmp_path / "new").exists() is False
        assert sorted(p.name for p in mine.iterdir()) == []  # no spool left behind


def test_output_folder_problems_are_reported_before_any_work(clip, tmp_path, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("tracking ran before the output folder was checked")

    monkeypatch.setattr(demo_pipeline, "find_tracks", no_work)
    (tmp_path / "notes.txt").write_text("x")
    for out_dir, reason in (
        (tmp_path / "notes.txt" / "out", "is a file, not a folder"),
        (Path("/proc/hmmr_demo_out"), "does not allow creating"),
    ):
        for argv in (
            ["--vid_path", str(clip["video"])],
            ["--vid_path", str(clip["video"]), "--tracks_json", str(clip["boxes"])],
        ):
            status = demo.main([*argv, "--out_dir", str(out_dir), "--no_progress"])
            err = capsys.readouterr().err.strip().splitlines()
            assert status == 1 and len(err) == 1, err
            assert f"{out_dir}: cannot write the output folder (--out_dir)" in err[0]
            assert reason in err[0]
        with pytest.raises(demo.DemoError, match=reason):  # the library checks it too
            demo.run_video(clip["video"], demo.DemoOptions(out_dir=out_dir, progress=False))


# ------------------------------------------------------------------------------------------------
# Bad inputs


def _main_error(argv: list[str], capsys, entry=demo.main) -> str:
    status = entry(argv)
    err = capsys.readouterr().err
    assert status == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_missing_video_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    line = _main_error(["--vid_path", str(tmp_path / "nope.mp4"), "--out_dir", str(out)], capsys)
    assert "nope.mp4" in line and "not found" in line
    assert not out.exists()


def test_unreadable_and_zero_length_videos_are_one_line_errors(tmp_path, capsys):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    assert "notes.mp4: not a video" in _main_error(["--vid_path", str(notes)], capsys)
    empty = tmp_path / "empty.mp4"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48)).release()
    line = _main_error(["--vid_path", str(empty)], capsys, entry=demo_cli_run)
    assert re.search(r"empty\.mp4: (video has zero frames|not a video)", line)
    (tmp_path / "frames").mkdir()
    assert "expected image files" in _main_error(["--vid_path", str(tmp_path / "frames")], capsys)


def test_missing_tracks_file_and_bad_flags_are_one_line_errors(clip, tmp_path, capsys):
    argv = ["--vid_path", str(clip["video"]), "--tracks_json", str(tmp_path / "t.csv")]
    assert "t.csv: tracks file not found" in _main_error(argv, capsys)
    argv = ["--vid_path", str(clip["video"]), "--max_frames", "-3"]
    assert "--max_frames" in _main_error(argv, capsys)


def test_no_person_found_is_a_clear_error(clip, body_path, models, tmp_path):
    far = tmp_path / "late.csv"
    far.write_text(f"{NUM_FRAMES + 50},0,10,10,50,90\n")  # only after the video ends
    options = _options(tmp_path / "out", body_path, tracks_json=str(far))
    with pytest.raises(demo.DemoError, match=r"walk\.mp4: no person found in any of the 16"):
        demo.run_video(clip["video"], options, models)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_command_line_exits_non_zero_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "demo.py"), "--vid_path", str(tmp_path / "missing.mp4")],
        capture_output=True, text=True, timeout=scaled(300), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("demo.py: error:")
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------
# The shipped clip, out of the box


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CLIP.is_file(), reason="assets/pexels_walking.mp4 missing")
@pytest.mark.skipif(not models_available(), reason="BlazePose models not fetched")
def test_shipped_clip_runs_end_to_end_with_blazepose_and_full_size_untrained_model(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(inference_models, "DEFAULT_WEIGHTS_DIR", tmp_path / "no_weights")
    out = tmp_path / "out"
    argv = ["--vid_path", str(SHIPPED_CLIP), "--out_dir", str(out), "--max_frames", "30",
            "--no_progress", "--bvh"]  # fmt: skip
    assert demo.main(argv) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED WEIGHTS" in captured.err and "UNTRAINED" in captured.out
    track_dir = out / "pexels_walking" / "hmmr_output"
    data = np.load(track_dir / "hmmr_output.npz")
    n = len(data["frame_ids"])
    assert n >= 15 and data["frame_ids"][-1] <= 29
    assert data["theta"].shape == (n, 85) and bool(data["untrained"])
    capture = cv2.VideoCapture(str(track_dir / "hmmr_output.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 30  # every input frame
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(23.976, rel=1e-3)
    capture.release()
    # the person walks down the middle of the road: the crop centres stay in the frame
    centers = data["bbox_center"]
    assert ((centers > 0) & (centers < [960, 540])).all()
    bvh = read_bvh(track_dir / "hmmr_output.bvh")
    assert bvh.motion.shape[0] == n and bvh.frame_time == pytest.approx(1 / 23.976, rel=1e-3)
    # CI keeps this predicted BVH among its artefacts (.ci/run sets the folder)
    artifacts = os.environ.get("HMMR_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(track_dir / "hmmr_output.bvh", Path(artifacts) / "pexels_walking_untrained.bvh")


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CLIP.is_file(), reason="assets/pexels_walking.mp4 missing")
@pytest.mark.skipif(not models_available(), reason="BlazePose models not fetched")
def test_shipped_clip_is_decoded_once_and_its_spooled_crops_give_the_second_pass_outputs(
    tmp_path, monkeypatch
):
    """The tracking pass's spooled crops against crops cut in a second decode pass (the path a
    tracks file takes): same frames and crop boxes, predictions within the float16 spool's
    rounding."""
    options = demo.DemoOptions(out_dir=tmp_path / "once", max_frames=40, render=False,
                               progress=False, write_pkl=False)  # fmt: skip
    models = demo.load_demo_models(options)
    once = demo.run_video(SHIPPED_CLIP, options, models)
    assert once.timer.frames["decode"] == 40  # one pass: tracking, crops and predictions
    monkeypatch.setattr(demo_pipeline.CropSpool, "matches", lambda self, *args: False)
    options.out_dir = tmp_path / "twice"
    twice = demo.run_video(SHIPPED_CLIP, options, models)
    assert twice.timer.frames["decode"] >= 40 + twice.tracks[0].num_frames  # a second pass
    a, b = np.load(once.tracks[0].npz), np.load(twice.tracks[0].npz)
    np.testing.assert_array_equal(a["frame_ids"], b["frame_ids"])
    np.testing.assert_array_equal(a["bbox_center"], b["bbox_center"])
    np.testing.assert_array_equal(a["bbox_scale"], b["bbox_scale"])
    diff = np.abs(a["theta"] - b["theta"]).max()
    print(f"theta: max difference {diff:.2e}, spread {np.ptp(a['theta'], axis=0).max():.2e}")
    np.testing.assert_allclose(a["theta"], b["theta"], atol=1e-4)


def test_the_predictor_is_traced_once_per_models_and_settings(models, body_path, tmp_path):
    """--vid_dir runs many videos on one set of models: the second video reuses the first's
    traced predictor (about 1.4 s of tracing and set-up), timed by its own timer."""
    import dataclasses

    from src.demo.timing import StageTimer

    options = _options(tmp_path, body_path)
    first, second = StageTimer(), StageTimer()
    predictor = demo_pipeline.make_predictor(models, options, first)
    again = demo_pipeline.make_predictor(models, options, second)
    assert again is predictor and again.resnet.timer is second
    hal = demo_pipeline.make_predictor(models, dataclasses.replace(options, pred_mode="hal"), first)
    assert hal is not predictor and hal.pred_mode == "hal"
