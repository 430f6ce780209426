"""Summaries: the keypoint panel draws GT and predictions where (x + 1) * 112 puts them; scalars
and images reach the event file; the console line."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from src.training import summaries


def test_centred_window():
    assert summaries.centred_window(20, 10) == slice(5, 15)
    assert summaries.centred_window(6, 10) == slice(0, 6)
    assert summaries.centred_window(7, 2) == slice(2, 4)


def _one_joint(t: int, x: float, y: float, vis: float = 1.0) -> np.ndarray:
    kp = np.zeros((t, 25, 3), np.float32)
    kp[:, 0] = (x, y, vis)
    return kp


def test_panel_draws_each_row_at_the_pixel_of_its_keypoints():
    gt = _one_joint(4, -0.5, 0.25)  # pixel (56, 140)
    pred = _one_joint(4, 0.5, -0.5)[..., :2]  # pixel (168, 56)
    panel = summaries.keypoint_panel(gt, [pred], None, count=2)
    assert panel.shape == (2 * 224, 2 * 224, 3) and panel.dtype == np.uint8
    grey = summaries.BLANK_GREY
    for col in range(2):
        assert np.any(panel[140, col * 224 + 56] != grey)  # GT on the first row
        assert np.all(panel[224 + 140, col * 224 + 56] == grey)
        assert np.any(panel[224 + 56, col * 224 + 168] != grey)  # prediction on the second
        assert np.all(panel[56, col * 224 + 168] == grey)


def test_invisible_gt_is_not_drawn_and_crops_are_the_background():
    gt = _one_joint(2, 0.0, 0.0, vis=0.0)
    images = np.full((2, 224, 224, 3), 1.0, np.float32)  # white crops in [-1, 1]
    panel = summaries.keypoint_panel(gt, [], images, count=2)
    assert panel.shape == (224, 448, 3)
    assert np.all(panel == 255)


def test_scalars_and_images_reach_the_event_file(tmp_path):
    writer = summaries.Summaries(tmp_path)
    writer.scalars(
        {"e_kp": 0.5, "e_loss": 30.0}, step=3, learning_rates={"e_lr": 1e-5}, steps_per_sec=2.0
    )
    batch = {"kp2d": _one_joint(1, 0.0, 0.0)[None].repeat(2, 0)}
    extras = {"kp2d_pred": np.zeros((2, 1, 25, 2), np.float32)}
    writer.keypoints(batch, extras, step=3, count=1)
    writer.flush()
    seen = {}
    for path in tmp_path.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                seen[value.tag] = (event.step, value)
    assert {
        "loss/e_kp",
        "loss/e_loss",
        "lr/e_lr",
        "perf/steps_per_sec",
        "keypoints/gt_pred",
    } <= set(seen)
    assert seen["loss/e_kp"][0] == 3
    assert float(tf.make_ndarray(seen["loss/e_loss"][1].tensor)) == 30.0


def test_disabled_writer_writes_nothing(tmp_path):
    writer = summaries.Summaries(tmp_path, enabled=False)
    writer.scalars({"e_kp": 1.0}, step=1)
    writer.flush()
    assert not list(tmp_path.iterdir())


def test_console_line_shows_totals_largest_terms_and_speed():
    line = summaries.format_console(
        12,
        {
            "e_loss": 10.0,
            "d_loss": 2.0,
            "e_kp": 0.1,
            "e_pose": 5.0,
            "e_shape": 0.01,
            "e_const": 0.2,
        },
        3.5,
    )
    assert line == ("step 12  e_loss 10  d_loss 2  [e_pose 5 e_const 0.2 e_kp 0.1]  3.50 steps/s")
