"""bbox smoothing and crops vs independent float64 NumPy references (docs/original_release.md §8
steps 5-6)."""

import warnings

import cv2
import numpy as np
import pytest

from src.constants import IMG_SIZE
from src.video import bbox

# ---------------------------------------------------------------------------------------------
# Independent references, written from the spec (not from src.video.bbox).


def ref_param(kp, vis_thresh=0.1):
    """The original's kp_to_bbox_param."""
    if kp is None:
        return None
    vis = kp[:, 2] > vis_thresh
    if not vis.any():
        return None
    lo, hi = kp[vis, :2].min(0), kp[vis, :2].max(0)
    diag = np.sqrt(((hi - lo) ** 2).sum())
    if diag < 0.5:
        return None
    return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 150.0 / diag])


def ref_all_params(kps):
    """The original's get_all_bbox_params loop: np.linspace between neighbours of each gap."""
    params, start, missing, last = [], -1, 0, -1
    for i, kp in enumerate(kps):
        p = ref_param(kp)
        if p is None:
            missing += 1
            continue
        if start == -1:
            start, missing = i, 0
        if missing:
            pairs = zip(params[-1], p, strict=True)
            lin = np.array([np.linspace(a, b, missing + 2) for a, b in pairs])
            params.extend(lin.T[1:-1])
            missing = 0
        params.append(p)
        last = i
    return np.array(params), start, last + 1


def ref_medfilt_zero_pad(x, k):
    m = k // 2
    padded = np.concatenate([np.zeros(m), x, np.zeros(m)])
    return np.array([np.median(padded[i : i + k]) for i in range(len(x))])


def ref_gaussian_reflect(x, sigma):
    radius = int(4.0 * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * t**2 / sigma**2)
    w /= w.sum()
    padded = np.pad(x, radius, mode="symmetric")  # scipy 'reflect' = numpy 'symmetric'
    return np.array([(padded[i : i + 2 * radius + 1] * w).sum() for i in range(len(x))])


def ref_smooth(params, k=11, sigma=3.0):
    return np.stack(
        [ref_gaussian_reflect(ref_medfilt_zero_pad(params[:, c], k), sigma) for c in range(3)], 1
    )


def make_track_keypoints(rng, n=60):
    """A walking person: 25 joints drifting, with empty ends, gaps and unusable frames."""
    base = rng.uniform([200, 100], [320, 400], size=(25, 2))
    kps = []
    for t in range(n):
        xy = base + [2.0 * t, 0.5 * t] + rng.normal(0, 3, (25, 2))
        conf = rng.uniform(0, 1, 25)
        kps.append(np.concatenate([xy, conf[:, None]], 1))
    for t in (0, 1, 2, n - 1, n - 2, n - 3, n - 4, 20, 21, 22, 40):
        kps[t] = None
    kps[30] = kps[30].copy()
    kps[30][:, 2] = 0.1  # not strictly above the threshold: no box
    kps[35] = kps[35].copy()
    kps[35][:, :2] = kps[35][0, :2] + rng.uniform(0, 0.2, (25, 2))  # diagonal < 0.5 px
    return kps


# ---------------------------------------------------------------------------------------------


def test_keypoint_param_matches_closed_form():
    kp = np.array([[10.0, 20.0, 0.9], [40.0, 60.0, 0.5], [500.0, 500.0, 0.1], [25.0, 30.0, 0.2]])
    param = bbox.keypoints_to_bbox_param(kp)
    np.testing.assert_allclose(param, [25.0, 40.0, 150.0 / 50.0])  # the 0.1 point is excluded


def test_keypoint_param_is_none_without_usable_points():
    assert bbox.keypoints_to_bbox_param(None) is None
    assert bbox.keypoints_to_bbox_param(np.zeros((25, 3))) is None
    tiny = np.array([[5.0, 5.0, 1.0], [5.3, 5.3, 1.0]])  # diagonal 0.42 < 0.5
    assert bbox.keypoints_to_bbox_param(tiny) is None


def test_smoothing_matches_numpy_reference_with_gaps_and_empty_ends():
    kps = make_track_keypoints(np.random.default_rng(0))
    raw, start, end = ref_all_params(kps)
    expected = ref_smooth(raw)
    got = bbox.smooth_bboxes_from_keypoints(kps)
    assert (got.start, got.end) == (start, end) == (3, 56)
    np.testing.assert_allclose(got.params, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(got.frame_ids, np.arange(3, 56))


def test_interpolation_fills_gaps_linearly():
    per_frame = [None, np.array([0.0, 0.0, 1.0]), None, None, np.array([3.0, 6.0, 4.0]), None]
    params, start, end = bbox.interpolate_bbox_params(per_frame)
    assert (start, end) == (1, 5)
    np.testing.assert_allclose(params, [[0, 0, 1], [1, 2, 2], [2, 4, 3], [3, 6, 4]])


def test_constant_track_is_unchanged_including_short_tracks():
    for n in (1, 2, 3, 5, 6, 30):
        params = np.tile([100.0, 50.0, 1.5], (n, 1))
        np.testing.assert_allclose(bbox.smooth_bbox_params(params), params, rtol=1e-12)


def test_smoothing_with_six_frames_equals_the_original_kernel():
    params = np.random.default_rng(1).uniform(1, 2, (6, 3))
    np.testing.assert_allclose(bbox.smooth_bbox_params(params), ref_smooth(params), rtol=1e-12)


@pytest.mark.filterwarnings("error")
def test_zero_padded_medfilt_is_the_zero_padded_median_at_any_length():
    rng = np.random.default_rng(4)
    for n, k in ((1, 11), (4, 11), (11, 11), (30, 11), (7, 3), (2, 13)):
        x = rng.integers(0, 25, n).astype(float)
        np.testing.assert_array_equal(bbox.zero_padded_medfilt(x, k), ref_medfilt_zero_pad(x, k))


@pytest.mark.filterwarnings("error")  # medfilt warns when its kernel exceeds the track
def test_short_tracks_use_the_capped_kernel_without_a_warning(monkeypatch):
    def process_wide(*args, **kwargs):  # the filters are global: not safe in Beam's threads
        raise AssertionError("smooth_bbox_params changed the process's warning filters")

    monkeypatch.setattr(warnings, "catch_warnings", process_wide)
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 5, 10):
        params = rng.uniform(1, 2, (n, 3))
        got = bbox.smooth_bbox_params(params)
        np.testing.assert_allclose(got, ref_smooth(params, k=min(11, 2 * n - 1)), rtol=1e-12)


def test_smoothing_raises_when_no_frame_has_a_person():
    with pytest.raises(ValueError, match="no frame"):
        bbox.smooth_bboxes_from_keypoints([None, np.zeros((25, 3))])


def test_box_track_uses_box_diagonal():
    boxes = [None, np.array([0.0, 0.0, 30.0, 40.0])] * 4
    got = bbox.smooth_bboxes_from_boxes(boxes)
    assert got.start == 1 and got.end == 8
    np.testing.assert_allclose(got.params, np.tile([15.0, 20.0, 3.0], (7, 1)), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Crops


def literal_crop(frame, center, scale):
    """The original's crop: [-1, 1], cv2.resize by floor(shape * scale), edge pad 224, slice."""
    h, w = frame.shape[:2]
    image = frame.astype(np.float32) / 255.0 * 2.0 - 1.0
    new_h, new_w = int(np.floor(h * scale)), int(np.floor(w * scale))
    resized = cv2.resize(image, (new_w, new_h))
    factors = np.array([new_w / w, new_h / h])
    center_scaled = np.round(np.asarray(center) * factors).astype(int) + IMG_SIZE
    padded = np.pad(resized, ((IMG_SIZE,), (IMG_SIZE,), (0,)), mode="edge")
    start = center_scaled - IMG_SIZE // 2
    return padded[start[1] : start[1] + IMG_SIZE, start[0] : start[0] + IMG_SIZE], start


@pytest.mark.parametrize(
    "shape, center, scale",
    [
        ((540, 960), (480.3, 270.9), 1.37),  # up-scaling
        ((1200, 801), (400.0, 600.0), 0.43),  # down-scaling
        ((100, 60), (30.0, 50.0), 0.5),  # exact 2x down (cv2 switches to area averaging)
        ((64, 48), (3.0, 60.0), 2.6),  # near a corner: edge padding shows
    ],
)
def test_crop_equals_literal_resize_pad_slice(shape, center, scale):
    frame = np.random.default_rng(2).integers(0, 256, shape + (3,), dtype=np.uint8)
    crop, params = bbox.crop_frame(frame, np.array(center), scale)
    expected, start = literal_crop(frame, center, scale)
    assert crop.shape == (IMG_SIZE, IMG_SIZE, 3) and crop.dtype == np.float32
    np.testing.assert_array_equal(params.start_pt, start)
    np.testing.assert_allclose(crop, expected, atol=2e-6)
    assert crop.min() >= -1.0 and crop.max() <= 1.0


def test_crop_maps_a_known_point_to_the_expected_crop_pixel():
    frame = np.zeros((400, 300, 3), np.uint8)
    point = np.array([210.0, 130.0])
    frame[130, 210] = 255
    scale, center = 2.0, np.array([190.0, 150.0])
    crop, params = bbox.crop_frame(frame, center, scale)
    # Closed form: centre 190 -> 380 in the 2x image, the crop starts 112 before it, so the
    # original's keypoint rule gives crop x = 2 * 210 - 380 + 112 = 152, y = 2 * 130 - 300 + 112.
    np.testing.assert_allclose(params.image_to_crop(point), [152.0, 72.0])
    # The bilinear 2x resize spreads the dot over 4x4 pixels centred on the pixel-centre image of
    # (210, 130): (2 * 210.5 - 0.5) - 380 + 112 = 152.5 (the half pixel the original ignores).
    weight = crop[..., 0] + 1.0
    ys, xs = np.mgrid[: crop.shape[0], : crop.shape[1]]
    centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()
    np.testing.assert_allclose(centroid, [152.5, 72.5], atol=1e-4)
    lit_ys, lit_xs = np.nonzero(weight > 0)
    assert (lit_xs.min(), lit_xs.max(), lit_ys.min(), lit_ys.max()) == (151, 154, 71, 74)
    np.testing.assert_allclose(params.crop_to_image(params.image_to_crop(point)), point)
    assert params.im_shape == (400, 300) and params.scale == 2.0


def test_crop_far_outside_the_frame_is_edge_colour():
    frame = np.zeros((50, 40, 3), np.uint8)
    frame[:, -1] = 255  # right column white
    crop, _ = bbox.crop_frame(frame, np.array([5000.0, 20.0]), 1.0)
    np.testing.assert_allclose(crop, 1.0)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), 1e-4])
def test_crop_rejects_unusable_scales(scale):
    with pytest.raises(ValueError, match="scale"):
        bbox.crop_frame(np.zeros((50, 40, 3), np.uint8), np.array([20.0, 20.0]), scale)
