"""Track readers and linking: generated people (crossing, gaps, late start, empty frames)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from src.joints import BLAZEPOSE33_NAMES, HMMR_JOINT_NAMES, OPENPOSE18_NAMES, OPENPOSE25_NAMES
from src.video import tracks

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "formats" / "openpose"
HMMR = {name: i for i, name in enumerate(HMMR_JOINT_NAMES)}

# A standing skeleton, unit height, in HMMR joint order (head_top, neck missing: zeros).
_SKELETON = {
    "r_heel": (0.1, 1.0), "r_knee": (0.1, 0.75), "r_hip": (0.1, 0.5), "l_hip": (-0.1, 0.5),
    "l_knee": (-0.1, 0.75), "l_heel": (-0.1, 1.0), "r_wrist": (0.3, 0.5), "r_elbow": (0.25, 0.35),
    "r_shoulder": (0.15, 0.2), "l_shoulder": (-0.15, 0.2), "l_elbow": (-0.25, 0.35),
    "l_wrist": (-0.3, 0.5), "nose": (0.0, 0.08),
}  # fmt: skip


def person(cx: float, top: float, height: float, wave: float = 0.0) -> tracks.Detection:
    """A generated person as a Detection (boxes and keypoints consistent)."""
    kps = np.zeros((25, 3))
    for name, (x, y) in _SKELETON.items():
        dx = wave if name.endswith("wrist") else 0.0
        kps[HMMR[name]] = (cx + (x + dx) * height, top + y * height, 0.9)
    seen = kps[:, 2] > 0
    box = np.concatenate([kps[seen, :2].min(0), kps[seen, :2].max(0)])
    return tracks.Detection(kps, box, 0.9)


def crossing_scene(num_frames=60):
    """A walks right (tall), B walks left (shorter); they cross near frame 30.

    A is missing in frames 20-22; B appears at frame 5 and leaves after frame 49; nobody in 30.
    Returns frames (shuffled order within a frame) and the truth: name -> {frame: cx}.
    """
    rng = np.random.default_rng(0)
    frames, truth = [], {"A": {}, "B": {}}
    for t in range(num_frames):
        dets = []
        if t not in (20, 21, 22, 30):
            cx = 100.0 + 8.0 * t
            truth["A"][t] = cx
            dets.append(person(cx, 100.0, 200.0, wave=0.1 * np.sin(t)))
        if 5 <= t <= 49 and t != 30:
            cx = 580.0 - 8.0 * t
            truth["B"][t] = cx
            dets.append(person(cx, 120.0, 170.0))
        rng.shuffle(dets)
        frames.append(dets)
    return frames, truth


def track_cx(track: tracks.Track) -> dict:
    hips = track.keypoints[:, [HMMR["r_hip"], HMMR["l_hip"]], 0].mean(1)
    return {int(f): float(x) for f, x in zip(track.frame_ids, hips, strict=True)}


def test_crossing_people_with_gaps_keep_their_identity():
    frames, truth = crossing_scene()
    found = tracks.build_tracks(frames, min_frames=20)
    assert len(found) == 2
    a, b = found  # sorted by frames seen: A (56) before B (44)
    assert len(a) == 56 and len(b) == 44
    assert track_cx(a) == pytest.approx(truth["A"])
    assert track_cx(b) == pytest.approx(truth["B"])
    assert (a.first_frame, a.last_frame, b.first_frame, b.last_frame) == (0, 59, 5, 49)


def test_keypoints_per_frame_has_none_in_gaps():
    frames, _ = crossing_scene()
    a = tracks.build_tracks(frames, min_frames=20)[0]
    per_frame = a.keypoints_per_frame()
    assert len(per_frame) == 60
    assert [t for t, kp in enumerate(per_frame) if kp is None] == [20, 21, 22, 30]
    assert a.boxes_per_frame()[5].shape == (4,)


def test_gap_longer_than_max_gap_splits_a_track():
    frames = [[person(100.0 + t, 50.0, 100.0)] if not 10 <= t < 16 else [] for t in range(30)]
    assert len(tracks.link_detections(frames, max_gap=6)) == 1
    split = tracks.link_detections(frames, max_gap=5)
    assert [(tr.first_frame, tr.last_frame) for tr in split] == [(0, 9), (16, 29)]


def test_short_tracks_are_dropped_and_the_rest_sorted_by_length():
    frames = [[person(100.0 + t, 50.0, 100.0)] for t in range(30)]
    for t in range(3):  # a 3-frame false positive far away
        frames[t].append(person(600.0, 50.0, 80.0))
    for t in range(8, 30):  # a second person from frame 8
        frames[t].append(person(400.0, 60.0, 90.0))
    found = tracks.build_tracks(frames, min_frames=5)
    assert [len(tr) for tr in found] == [30, 22]
    assert len(tracks.build_tracks(frames, min_frames=1)) == 3


def test_nobody_found_is_a_clear_error():
    with pytest.raises(ValueError, match="no person found in any of the 4 frames"):
        tracks.build_tracks([[], [], [], []])
    with pytest.raises(ValueError, match="longest has 2"):
        tracks.build_tracks([[person(10.0, 10.0, 50.0)], [person(10.0, 10.0, 50.0)], []])


def test_select_tracks_by_rank_clamped_or_all():
    frames, _ = crossing_scene()
    found = tracks.build_tracks(frames, min_frames=20)
    assert tracks.select_tracks(found, 1)[0] is found[1]
    assert tracks.select_tracks(found, 7)[0] is found[-1]  # clamped, as the original
    assert tracks.select_tracks(found, all_tracks=True) == found
    with pytest.raises(ValueError):
        tracks.select_tracks(found, -1)
    with pytest.raises(ValueError, match="no person track"):
        tracks.select_tracks([], 0)


def test_box_iou_matches_closed_form():
    a, b = np.array([0.0, 0.0, 10.0, 10.0]), np.array([5.0, 0.0, 15.0, 20.0])
    assert tracks.box_iou(a, b) == pytest.approx(50.0 / (100.0 + 200.0 - 50.0))
    assert tracks.box_iou(a, np.array([20.0, 20.0, 30.0, 30.0])) == 0.0


# ---------------------------------------------------------------------------------------------
# OpenPose


def _op_expected(points, names):
    """Independent mapping by name: HMMR joint i <- source joint with the same name."""
    out = np.zeros((25, 3))
    for j, name in enumerate(names):
        if name in HMMR:
            out[HMMR[name]] = points[j]
    return out


@pytest.mark.skipif(not (SHARED / "im1010_openpose.json").exists(), reason="shared data absent")
def test_openpose_body25_shared_example_maps_by_name():
    raw = json.loads((SHARED / "im1010_openpose.json").read_text())
    points = np.asarray(raw["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    dets = tracks.read_openpose_json(SHARED / "im1010_openpose.json")
    assert len(dets) == len(raw["people"])
    np.testing.assert_allclose(dets[0].keypoints, _op_expected(points, OPENPOSE25_NAMES))
    seen = points[:, 2] > 0
    np.testing.assert_allclose(dets[0].box[:2], points[seen, :2].min(0))


@pytest.mark.skipif(not (SHARED / "coco18_keypoints.json").exists(), reason="shared data absent")
def test_openpose_coco18_shared_example_maps_by_name():
    raw = json.loads((SHARED / "coco18_keypoints.json").read_text())
    dets = tracks.read_openpose_json(SHARED / "coco18_keypoints.json")
    assert len(dets) == 2
    for det, p in zip(dets, raw["people"], strict=True):
        points = np.asarray(p["pose_keypoints"]).reshape(18, 3)
        np.testing.assert_allclose(det.keypoints, _op_expected(points, OPENPOSE18_NAMES))


def test_openpose_folder_written_by_test(tmp_path):
    rng = np.random.default_rng(3)
    people = {0: 1, 1: 2, 3: 1}  # frame -> number of people; frame 2 has no file, 4 has nobody
    for frame, n in people.items():
        body = [{"pose_keypoints_2d": rng.uniform(1, 100, 75).round(2).tolist()} for _ in range(n)]
        (tmp_path / f"clip_{frame:012d}_keypoints.json").write_text(json.dumps({"people": body}))
    (tmp_path / f"clip_{4:012d}_keypoints.json").write_text(json.dumps({"people": []}))
    frames = tracks.read_detections(tmp_path, num_frames=6)
    assert [len(f) for f in frames] == [1, 2, 0, 1, 0, 0]
    raw = json.loads((tmp_path / f"clip_{1:012d}_keypoints.json").read_text())
    points = np.asarray(raw["people"][1]["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_allclose(frames[1][1].keypoints, _op_expected(points, OPENPOSE25_NAMES))


def test_openpose_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "x_000000000000_keypoints.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="x_000000000000_keypoints.json"):
        tracks.read_openpose_json(bad)
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 30}]}))
    with pytest.raises(ValueError, match="expected 25 .* or 18"):
        tracks.read_openpose_json(bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        tracks.read_openpose_json(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# AlphaPose / PoseFlow


def _coco_points(rng):
    return np.concatenate([rng.uniform(10, 300, (17, 2)), rng.uniform(0.2, 1, (17, 1))], 1)


def test_poseflow_tracked_json_keeps_idx(tmp_path):
    rng = np.random.default_rng(4)
    data, truth = {}, {}
    for t in range(25):
        people = []
        for idx in (1, 7):
            if idx == 7 and t < 4:  # person 7 starts late
                continue
            pts = _coco_points(rng)
            truth[(idx, t)] = pts
            people.append({"keypoints": pts.ravel().tolist(), "scores": 0.8, "idx": idx})
        data[f"frame{t:08d}.png"] = people
    path = tmp_path / "alphapose-results-forvis-tracked.json"
    path.write_text(json.dumps(data))
    found = tracks.build_tracks(tracks.read_detections(path), min_frames=20)
    assert [(tr.track_id, len(tr), tr.first_frame) for tr in found] == [(1, 25, 0), (7, 21, 4)]
    coco_names = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder",
                  "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
                  "r_knee", "l_ankle", "r_ankle")  # fmt: skip
    np.testing.assert_allclose(found[1].keypoints[0], _op_expected(truth[(7, 4)], coco_names))


def test_alphapose_results_list_is_linked_without_ids(tmp_path):
    entries = []
    for t in range(22):
        for cx in (100.0, 400.0):
            det = person(cx + 2 * t, 50.0, 150.0)
            coco = np.zeros((17, 3))
            coco[11], coco[12] = det.keypoints[HMMR["l_hip"]], det.keypoints[HMMR["r_hip"]]
            coco[0] = det.keypoints[HMMR["nose"]]
            coco[15], coco[16] = det.keypoints[HMMR["l_heel"]], det.keypoints[HMMR["r_heel"]]
            entries.append(
                {"image_id": f"{t}.jpg", "category_id": 1, "keypoints": coco.ravel().tolist(),
                 "score": 2.5}
            )  # fmt: skip
    path = tmp_path / "alphapose-results.json"
    path.write_text(json.dumps(entries))
    found = tracks.build_tracks(tracks.read_alphapose_json(path))
    assert [len(tr) for tr in found] == [22, 22]
    starts = sorted(tr.boxes[0, 0] for tr in found)
    assert starts[0] < 200 < starts[1]


def test_alphapose_bad_json_is_a_clear_error(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"keypoints": [1.0] * 51}]))
    with pytest.raises(ValueError, match="image_id"):
        tracks.read_alphapose_json(path)
    path.write_text(json.dumps({"f0.png": [{"keypoints": [1.0] * 12}]}))
    with pytest.raises(ValueError, match="at least 17"):
        tracks.read_alphapose_json(path)


# ---------------------------------------------------------------------------------------------
# Box file and BlazePose people


def test_box_file_with_ids_header_comments_and_scores(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text(
        "frame,track_id,x1,y1,x2,y2,score\n# a comment\n"
        "0,3,10,20,50,120,0.9\n1,3,12,20,52,121\n3,3,14,21,54,122,0.5\n0,5,300,20,340,110,0.7\n"
    )
    frames = tracks.read_detections(path, num_frames=5)
    assert [len(f) for f in frames] == [2, 1, 0, 1, 0]
    found = tracks.build_tracks(frames, min_frames=1)
    assert [(tr.track_id, len(tr)) for tr in found] == [(3, 3), (5, 1)]
    np.testing.assert_allclose(found[0].boxes[2], [14, 21, 54, 122])
    np.testing.assert_allclose(found[0].scores, [0.9, 1.0, 0.5])
    assert not found[0].has_keypoints


def test_box_file_errors_name_the_line(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("0,1,10,20,50,120\n1,1,10,20\n")
    with pytest.raises(ValueError, match=r"boxes.csv:2"):
        tracks.read_box_file(path)
    path.write_text("0,1,50,20,10,120\n")
    with pytest.raises(ValueError, match=r"x2 > x1"):
        tracks.read_box_file(path)
    (tmp_path / "x.yaml").write_text("a: 1")
    with pytest.raises(ValueError, match="x.yaml: expected an OpenPose folder"):
        tracks.read_detections(tmp_path / "x.yaml")
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        tracks.read_detections(tmp_path / "nothing.csv")


def test_blazepose_people_become_hmmr_detections():
    rng = np.random.default_rng(5)
    kps33 = np.concatenate([rng.uniform(0, 500, (33, 2)), rng.uniform(0, 1, (33, 1))], 1)
    pose = SimpleNamespace(keypoints=kps33, box=np.array([1.0, 2.0, 3.0, 4.0]), score=0.7)
    det = tracks.detections_from_poses([pose])[0]
    renames = {"l_big_toe": "l_foot_index", "r_big_toe": "r_foot_index"}
    index = {name: j for j, name in enumerate(BLAZEPOSE33_NAMES)}
    for i, name in enumerate(HMMR_JOINT_NAMES):
        src = renames.get(name, name)
        expected = kps33[index[src]] if src in index else np.zeros(3)
        np.testing.assert_allclose(det.keypoints[i], expected, err_msg=name)
    assert det.score == 0.7 and det.track_id is None
