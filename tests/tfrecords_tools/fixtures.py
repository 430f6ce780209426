"""Generators of tiny raw datasets in the real on-disk formats (not a test module).

- Python 2 style pickles (protocol 2, ``str`` as BINSTRING, arrays as numpy 1.x wrote them under
  ``numpy.core.multiarray``): what the 3DPW, MoSh and Human3.6M ``.pkl`` files are; Python 3
  reads them only with ``encoding="latin1"``.
- Penn Action ``labels/NNNN.mat`` with the fields, dtypes and shapes of the real files
  (``../shared/data/formats/penn_action``) and ``frames/NNNN/000001.jpg``.
- OpenPose per-frame JSON (BODY_25 ``pose_keypoints_2d``, COCO-18 ``pose_keypoints``) and
  AlphaPose result lists.

Frames are small (e.g. 64 x 48) plain images with a coloured square drawn at one keypoint, so a
test can find that keypoint again in a converted crop.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from src.constants import PHI_DIM
from src.joints import (
    COCO17_NAMES,
    H36M17_NAMES,
    OPENPOSE18_NAMES,
    OPENPOSE25_NAMES,
    PENN13_NAMES,
)

MARK_SIZE = 3  # half side of the coloured square drawn at the marked joint, px
MARK_COLOR = (255, 0, 0)  # RGB
BACKGROUND = 40

# ---------------------------------------------------------------------------------------------
# Python 2 pickles
# ---------------------------------------------------------------------------------------------


def _py2_str(value: str | bytes) -> bytes:
    raw = value.encode("latin1") if isinstance(value, str) else bytes(value)
    if len(raw) < 256:
        return b"U" + bytes([len(raw)]) + raw  # SHORT_BINSTRING
    return b"T" + struct.pack("<i", len(raw)) + raw  # BINSTRING


def _py2_array(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr)
    order = arr.dtype.str[0] if arr.dtype.str[0] in "<>|" else "|"
    dtype_state = (3, order, None, None, None, -1, -1, 0)
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + py2_dumps_body((0,))
        + _py2_str("b")
        + b"\x87R"  # TUPLE3, REDUCE
        + b"("
        + b"J\x01\x00\x00\x00"
        + py2_dumps_body(arr.shape)
        + b"cnumpy\ndtype\n"
        + py2_dumps_body((arr.dtype.str[1:], 0, 1))
        + b"R"
        + py2_dumps_body(dtype_state)
        + b"b"  # BUILD the dtype
        + b"\x89"
        + _py2_str(arr.tobytes())
        + b"tb"
    )  # False (C order), data; BUILD


def py2_dumps_body(obj) -> bytes:
    """The protocol-2 opcodes of ``obj`` as Python 2 + numpy 1.x would write them."""
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if obj is None:
        return b"N"
    if isinstance(obj, (int, np.integer)):
        return b"J" + struct.pack("<i", int(obj))
    if isinstance(obj, (float, np.floating)):
        return b"G" + struct.pack(">d", float(obj))
    if isinstance(obj, (str, bytes)):
        return _py2_str(obj)
    if isinstance(obj, dict):
        items = b"".join(py2_dumps_body(k) + py2_dumps_body(v) for k, v in obj.items())
        return b"}(" + items + b"u"
    if isinstance(obj, list):
        return b"](" + b"".join(py2_dumps_body(x) for x in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(py2_dumps_body(x) for x in obj) + b"t"
    if isinstance(obj, np.ndarray):
        return _py2_array(obj)
    raise TypeError(f"py2 pickle fixture: unsupported {type(obj)}")


def write_py2_pickle(path: Path, obj) -> Path:
    """Write ``obj`` as a Python 2 protocol-2 pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x80\x02" + py2_dumps_body(obj) + b".")
    return path


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def frame_with_mark(width: int, height: int, mark_xy: np.ndarray | None, seed: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: a dark, slightly textured frame with a red square at ``mark_xy``."""
    rng = np.random.default_rng(seed)
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    frame += rng.integers(0, 8, size=frame.shape, dtype=np.uint8)
    if mark_xy is not None:
        x, y = int(round(mark_xy[0])), int(round(mark_xy[1]))
        frame[
            max(y - MARK_SIZE, 0) : y + MARK_SIZE + 1, max(x - MARK_SIZE, 0) : x + MARK_SIZE + 1
        ] = MARK_COLOR
    return frame


def write_image(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(
        str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100]
    )
    assert ok, path
    return path


def mark_offset(scale_factors: np.ndarray, flipped: bool = False) -> np.ndarray:
    """Where the drawn mark's centre sits relative to its label after a resize by ``f``.

    Labels are mapped by ``x * f`` (as the original), OpenCV resizes pixel centres
    (``(x + 0.5) f - 0.5``), so the mark appears ``0.5 (f - 1)`` px right of and below the
    label (left of it in a mirrored crop).
    """
    offset = 0.5 * (np.asarray(scale_factors, np.float64) - 1.0)
    return offset * np.array([-1.0 if flipped else 1.0, 1.0])


def red_centroid(rgb: np.ndarray) -> np.ndarray | None:
    """``(x, y)`` centroid of the strongly red pixels of an image, or None."""
    img = rgb.astype(np.int32)
    red = (img[..., 0] > 150) & (img[..., 1] < 100) & (img[..., 2] < 100)
    if not red.any():
        return None
    ys, xs = np.nonzero(red)
    return np.array([xs.mean(), ys.mean()])


def decode_jpeg(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------------------------------------
# A person: a stick figure in pixel coordinates
# ---------------------------------------------------------------------------------------------

# Normalised body layout (x right, y down), by joint name; scaled into the frame.
_BODY = {
    "head": (0.0, -0.95),
    "head_top": (0.0, -0.95),
    "nose": (0.0, -0.8),
    "neck": (0.0, -0.6),
    "thorax": (0.0, -0.6),
    "neck_nose": (0.0, -0.7),
    "spine": (0.0, -0.3),
    "pelvis": (0.0, 0.0),
    "mid_hip": (0.0, 0.0),
    "l_eye": (0.05, -0.85),
    "r_eye": (-0.05, -0.85),
    "l_ear": (0.1, -0.82),
    "r_ear": (-0.1, -0.82),
    "l_shoulder": (0.2, -0.55),
    "r_shoulder": (-0.2, -0.55),
    "l_elbow": (0.3, -0.3),
    "r_elbow": (-0.3, -0.3),
    "l_wrist": (0.35, -0.05),
    "r_wrist": (-0.35, -0.05),
    "l_hip": (0.12, 0.0),
    "r_hip": (-0.12, 0.0),
    "l_knee": (0.14, 0.45),
    "r_knee": (-0.14, 0.45),
    "l_ankle": (0.15, 0.9),
    "r_ankle": (-0.15, 0.9),
    "l_heel": (0.13, 0.93),
    "r_heel": (-0.13, 0.93),
    "l_big_toe": (0.22, 0.97),
    "r_big_toe": (-0.22, 0.97),
    "l_small_toe": (0.25, 0.95),
    "r_small_toe": (-0.25, 0.95),
}


def person_points(
    names, center: np.ndarray, height_px: float, frames: int, drift: float, seed: int
) -> np.ndarray:
    """``(frames, J, 2)`` pixel positions of a person drifting right by ``drift`` px/frame."""
    rng = np.random.default_rng(seed)
    base = np.array([_BODY[n] for n in names], np.float64) * (height_px / 2.0)
    out = np.zeros((frames, len(names), 2))
    for t in range(frames):
        wobble = rng.uniform(-0.5, 0.5, size=base.shape)
        out[t] = base + center + np.array([drift * t, 0.0]) + wobble
    return out


# ---------------------------------------------------------------------------------------------
# Penn Action
# ---------------------------------------------------------------------------------------------

PENN_W, PENN_H = 64, 48


def write_penn_video(
    root: Path,
    seq: str,
    num_frames: int,
    train: bool,
    *,
    visibility: np.ndarray | None = None,
    mark_joint: int = 0,
    seed: int = 0,
) -> dict:
    """``root/frames/<seq>/%06d.jpg`` + ``root/labels/<seq>.mat`` like the real release.

    Returns:
        ``{"x", "y", "visibility"}`` as written (N, 13).
    """
    pts = person_points(
        PENN13_NAMES, np.array([PENN_W / 2, PENN_H / 2]), 36.0, num_frames, 0.1, seed
    )
    pts[:, mark_joint] = np.round(pts[:, mark_joint])  # the mark is drawn on whole pixels
    vis = np.ones((num_frames, 13), np.uint8) if visibility is None else visibility.astype(np.uint8)
    for t in range(num_frames):
        mark = pts[t, mark_joint] if vis[t, mark_joint] else None
        write_image(
            root / "frames" / seq / f"{t + 1:06d}.jpg",
            frame_with_mark(PENN_W, PENN_H, mark, seed * 1000 + t),
        )
    x, y = pts[..., 0], pts[..., 1]
    bbox = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1)
    labels = {
        "action": np.array(["tennis_serve"]),
        "pose": np.array(["front"]),
        "x": x.astype(np.float64),
        "y": y.astype(np.float64),
        "visibility": vis,
        "train": np.array([[1 if train else -1]], np.int32),
        "bbox": bbox.astype(np.float64),
        "dimensions": np.array([[PENN_H, PENN_W, num_frames]], np.uint16),
        "nframes": np.array([[num_frames]], np.uint8 if num_frames < 256 else np.uint16),
    }
    (root / "labels").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "labels" / f"{seq}.mat", labels)
    return {"x": x, "y": y, "visibility": vis}


# ---------------------------------------------------------------------------------------------
# Human3.6M (the layout of the original's read_human36m)
# ---------------------------------------------------------------------------------------------

H36M_W = H36M_H = 64


def write_h36m_sequence(
    root: Path,
    subject: int,
    action: str,
    trial: int,
    cam: int,
    num_frames: int,
    *,
    mark_joint: int = 3,
    seed: int = 0,
) -> dict:
    """``S{s}/{action}_{trial}/cam_{c}/frame%04d.png`` + ``gt_poses.pkl`` + ``camera_wext.pkl``.

    Returns:
        ``{"2d": (N, 17, 2), "3d": (N, 17, 3) mm, "f", "c"}``.
    """
    folder = root / f"S{subject}" / f"{action}_{trial}" / f"cam_{cam}"
    pts = person_points(
        H36M17_NAMES, np.array([H36M_W / 2, H36M_H / 2]), 44.0, num_frames, 0.2, seed
    )
    pts[:, mark_joint] = np.round(pts[:, mark_joint])  # the mark is drawn on whole pixels
    rng = np.random.default_rng(seed + 7)
    joints3d = np.concatenate(
        [(pts - 32.0) * 20.0, rng.uniform(4000, 5000, (num_frames, 17, 1))], axis=2
    )
    for t in range(num_frames):
        folder.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(
            str(folder / f"frame{t:04d}.png"),
            cv2.cvtColor(
                frame_with_mark(H36M_W, H36M_H, pts[t, mark_joint], seed * 1000 + t),
                cv2.COLOR_RGB2BGR,
            ),
        )
        assert ok
    write_py2_pickle(folder / "gt_poses.pkl", {"2d": pts, "3d": joints3d})
    f = np.array([[1145.0], [1144.0]])
    c = np.array([[512.5], [515.4]])
    write_py2_pickle(
        folder / "camera_wext.pkl",
        {
            "f": f,
            "c": c,
            "k": np.zeros((3, 1)),
            "p": np.zeros((2, 1)),
            "rt": np.eye(3),
            "t": np.array([[1.0], [2.0], [3.0]]),
            "name": f"cam_{cam}",
        },
    )
    return {"2d": pts, "3d": joints3d, "f": f.ravel(), "c": c.ravel()}


# ---------------------------------------------------------------------------------------------
# OpenPose / AlphaPose keypoint files
# ---------------------------------------------------------------------------------------------


def openpose_person(points: np.ndarray, conf: np.ndarray, body25: bool) -> dict:
    """One OpenPose person: BODY_25 ``pose_keypoints_2d`` or COCO-18 ``pose_keypoints``."""
    flat = np.concatenate([points, conf[:, None]], axis=1).reshape(-1)
    key = "pose_keypoints_2d" if body25 else "pose_keypoints"
    person = {key: [round(float(v), 4) for v in flat]}
    suffix = "_2d" if body25 else ""
    for part in ("face_keypoints", "hand_left_keypoints", "hand_right_keypoints"):
        person[part + suffix] = []
    return person


def write_openpose_frames(
    folder: Path, video: str, people_per_frame: list[list[dict]], body25: bool
) -> list[Path]:
    """``folder/<video>_000000000012_keypoints.json`` per frame."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, people in enumerate(people_per_frame):
        data = {"version": 1.2 if body25 else 1.0, "people": people}
        path = folder / f"{video}_{t:012d}_keypoints.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def write_alphapose_results(path: Path, people_per_frame: list[list[np.ndarray]]) -> Path:
    """AlphaPose ``alphapose-results.json``: a list of ``{"image_id", "keypoints", "score"}``;
    keypoints COCO-17 (x, y, score) flattened."""
    entries = []
    for t, people in enumerate(people_per_frame):
        for pts in people:
            entries.append(
                {
                    "image_id": f"{t:06d}.jpg",
                    "category_id": 1,
                    "keypoints": [round(float(v), 4) for v in pts.reshape(-1)],
                    "score": float(pts[:, 2].mean()),
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))
    return path


NAMES = {"openpose25": OPENPOSE25_NAMES, "openpose18": OPENPOSE18_NAMES, "coco17": COCO17_NAMES}


# ---------------------------------------------------------------------------------------------
# Encoders used instead of the ResNet
# ---------------------------------------------------------------------------------------------


def tiny_encoder(img_size: int):
    """``(B, S, S, 3)`` in [-1, 1] -> ``(B, 2048)``: phi[:, 0:3] = mean RGB, phi[:, 3] = 1."""

    def encode(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        out = np.zeros((len(images), PHI_DIM), np.float32)
        out[:, :3] = images.mean(axis=(1, 2))
        out[:, 3] = 1.0
        return out

    return encode


# ---------------------------------------------------------------------------------------------
# Videos in the wild: frames (mp4 or a frame folder) + OpenPose / AlphaPose keypoints
# ---------------------------------------------------------------------------------------------

WILD_W, WILD_H = 64, 48
WILD_CONF = 0.8
LOW_CONF_JOINT = "nose"  # written with confidence 0.05: below the 0.1 visibility threshold


@dataclass
class WildPerson:
    """A person seen in frames ``first .. last - 1``."""

    first: int
    last: int
    center: tuple[float, float]
    seed: int
    sparse_frames: tuple[int, ...] = ()  # frames where only 3 joints are seen


def wild_points(person: WildPerson, names) -> np.ndarray:
    """``(last - first, J, 3)`` pixel (x, y, confidence) in the source joint order."""
    n = person.last - person.first
    pts = person_points(names, np.array(person.center), 34.0, n, 0.05, person.seed)
    conf = np.full((n, len(names)), WILD_CONF)
    if LOW_CONF_JOINT in names:
        conf[:, list(names).index(LOW_CONF_JOINT)] = 0.05
    for t in person.sparse_frames:
        conf[t - person.first, 3:] = 0.0
    return np.concatenate([pts, conf[..., None]], axis=2)


def write_wild_video(
    root: Path,
    name: str,
    num_frames: int,
    people: list[WildPerson],
    fmt: str,
    as_video: bool,
    mark: tuple[int, str] | None = None,
) -> dict:
    """Frames under ``videos/NAME.avi`` (MJPG) or ``frames/NAME/``, keypoints under
    ``openpose/NAME/`` (``fmt`` = ``openpose25`` / ``openpose18``) or ``alphapose/NAME.json``
    (``coco17``). ``mark = (person, joint name)`` draws a red square at that joint.

    Returns:
        ``{person index: (n, J, 3) source points}``.
    """
    names = NAMES[fmt]
    points = {i: wild_points(p, names) for i, p in enumerate(people)}
    if mark is not None:  # the mark is drawn on whole pixels
        joint = list(names).index(mark[1])
        points[mark[0]][:, joint, :2] = np.round(points[mark[0]][:, joint, :2])
    frames = []
    for t in range(num_frames):
        mark_xy = None
        if mark is not None:
            person = people[mark[0]]
            if person.first <= t < person.last:
                mark_xy = points[mark[0]][t - person.first, list(names).index(mark[1]), :2]
        frames.append(frame_with_mark(WILD_W, WILD_H, mark_xy, 500 + t))
    if as_video:
        path = root / "videos" / f"{name}.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (WILD_W, WILD_H))
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    else:
        for t, frame in enumerate(frames):
            write_image(root / "frames" / name / f"{t + 1:06d}.jpg", frame)
    per_frame = [
        [(points[i][t - p.first]) for i, p in enumerate(people) if p.first <= t < p.last]
        for t in range(num_frames)
    ]
    if fmt == "coco17":
        write_alphapose_results(root / "alphapose" / f"{name}.json", per_frame)
    else:
        body25 = fmt == "openpose25"
        write_openpose_frames(
            root / "openpose" / name,
            Path(name).name,
            [
                [openpose_person(p[:, :2], p[:, 2], body25) for p in people_t]
                for people_t in per_frame
            ],
            body25,
        )
    return points


# ---------------------------------------------------------------------------------------------
# 3DPW
# ---------------------------------------------------------------------------------------------

TDPW_W, TDPW_H = 48, 64  # portrait, as the real 1080 x 1920 frames


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def write_3dpw_sequence(
    root: Path,
    split_dir: str,
    seq: str,
    num_frames: int,
    poses: list[np.ndarray],
    betas: list[np.ndarray],
    invalid: dict[int, list[int]] | None = None,
) -> dict:
    """``sequenceFiles/<split_dir>/<seq>.pkl`` (py2 pickle with the real keys) and
    ``imageFiles/<seq>/image_%05d.jpg``; people stand side by side.

    Returns:
        ``{"poses2d": [(N, 3, 18)], "cam_poses": (N, 4, 4), "campose_valid": [(N,)]}``.
    """
    people = len(poses)
    poses2d, valid = [], []
    for p in range(people):
        pts = person_points(
            OPENPOSE18_NAMES, np.array([12.0 + 24.0 * p, 32.0]), 40.0, num_frames, 0.1, 40 + p
        )
        conf = np.full((num_frames, 18, 1), 0.9)
        conf[:, 0] = 0.05  # nose below the visibility threshold
        poses2d.append(np.transpose(np.concatenate([pts, conf], axis=2), (0, 2, 1)))
        flags = np.ones(num_frames, np.int64)
        flags[(invalid or {}).get(p, [])] = 0
        valid.append(flags)
    cam_poses = np.tile(np.eye(4), (num_frames, 1, 1))
    for t in range(num_frames):
        cam_poses[t, :3, :3] = rotation_z(0.1 * t)
        cam_poses[t, :3, 3] = [0.1 * t, 0.0, 3.0]
    data = {
        "sequence": seq,
        "genders": ["m", "f"][:people],
        "poses": poses,
        "betas": betas,
        "trans": [np.zeros((num_frames, 3))] * people,
        "poses_60Hz": [np.repeat(p, 2, axis=0) for p in poses],
        "trans_60Hz": [np.zeros((2 * num_frames, 3))] * people,
        "betas_clothed": betas,
        "v_template_clothed": [np.zeros((5, 3))] * people,
        "poses2d": poses2d,
        "jointPositions": [np.zeros((num_frames, 72))] * people,
        "cam_poses": cam_poses,
        "cam_intrinsics": np.array([[1961.0, 0, 540], [0, 1969, 960], [0, 0, 1.0]]),
        "campose_valid": valid,
        "img_frame_ids": np.arange(num_frames),
    }
    write_py2_pickle(root / "sequenceFiles" / split_dir / f"{seq}.pkl", data)
    for t in range(num_frames):
        write_image(
            root / "imageFiles" / seq / f"image_{t:05d}.jpg",
            frame_with_mark(TDPW_W, TDPW_H, None, 900 + t),
        )
    return {"poses2d": poses2d, "cam_poses": cam_poses, "campose_valid": valid}
