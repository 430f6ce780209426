"""A synthetic world with exact ground truth, driven by real human motion (CMU clips retargeted
onto the body model), written as the original's three data tiers.

The recipe (every number is a field of :class:`WorldConfig`; everything is seeded):

1. **Bodies and cameras.** A track takes ``track_frames`` consecutive frames of a retargeted clip
   (30 fps), a random body shape (betas ~ N(0, ``betas_std``^2)) and a camera that moves: it
   orbits the person (azimuth rate ~ U(+-``orbit_rate``) rad/s), changes its elevation slowly,
   and zooms and pans a little. The body's root rotation is expressed in that camera's frame
   (image y down, as HMMR's mean pose [pi, 0, 0]), so theta = [camera | pose | betas] is the
   exact answer for the frame. 2D keypoints are the body model's 25 joints through the
   weak-perspective camera ``s * (X_xy + t)`` (the one the network predicts).
2. **What the camera sees.** An observation ``z`` per frame: the 25 joints in the crop (2D), their
   depth relative to the pelvis (a weak cue, as shading is), and the blur streak of each joint
   over the half-frame exposure (the image-space displacement during the shutter). Per-frame
   noise, independent across frames, is added to ``z`` (``sight_noise`` per block); a fraction
   ``hard_fraction`` of frames are hard (noise x ``hard_gain``, as under blur or occlusion). A
   single frame is therefore ambiguous (depth is mostly hidden, every joint is jittered), and
   context can help.
3. **phi.** A frozen random two-layer tanh network (seed ``encoder_seed``, never trained, the
   same for every tier and split) maps the noisy ``z`` to ``phi_dim`` features, plus a little
   independent noise (``phi_noise``). phi is a function of what the camera sees, never of theta.
4. **Tiers**, split by CMU subject (test subjects are never seen in training):
   - ``<out>/synth_3d/train``: 2D keypoints, 3D joints (metres, camera frame with the root
     trajectory, as Human3.6M) and SMPL theta; keypoint labels with detector-like noise and
     dropouts (the 3D side of the split-balanced mix);
   - ``<out>/synth_2d/train``: 2D keypoints only, face and toe points never labelled and more
     dropouts (as Penn Action); drawn from *other* training subjects than the 3D tier, so that
     the 2D tier adds motion the 3D tier lacks (as in-the-wild video adds to a lab);
   - ``<out>/mocap_neutrMosh/neutrSMPL_CMU_*.tfrecord``: the training subjects' poses for the
     adversarial prior;
   - ``<out>/synth_3d/test``: one file per held-out clip, one tube, keypoints in crop pixels
     (the test schema, §6.2), 3D joints and SMPL ground truth;
   - ``<out>/synth_3d/val``: the same for the first clip of each training subject, with new
     cameras, bodies and noise (an in-distribution check next to the held-out score).

The trained weights know this feature world, not images.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from src import constants
from src.joints import pelvis

TIER_3D = "synth_3d"
TIER_2D = "synth_2d"
MOCAP_NAME = "CMU"
MOCAP_DIR = "mocap_neutrMosh"
MANIFEST_FILE = "world.json"
FACE_TOE = tuple(range(constants.NUM_LSP_JOINTS, constants.NUM_KPS))  # joints 14..24
SIGHT_BLOCKS = ("kp2d", "depth", "streak")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """Every parameter of the world (documented in docs/results_synthetic.md).

    Attributes:
        seed: data seed (bodies, cameras, noise, splits of tracks).
        encoder_seed: seed of the frozen phi network (a property of the world, not of a draw).
        fps: frame rate of the tracks (clips are resampled to it before).
        phi_dim: feature width.
        encoder_hidden: hidden width of the frozen phi network.
        track_frames: frames per training track.
        tracks_3d / tracks_2d: training tracks per tier.
        test_max_frames: frames per held-out test clip (longer clips are cut).
        mocap_samples: poses in the mocap tier (sampled from the training subjects' frames).
        test_subjects: number of CMU subjects held out (chosen by ``split_seed``).
        split_seed: seed of the subject split (fixed, so worlds of any size share the split).
        betas_std: body shape spread.
        orbit_rate: max |azimuth rate| of the camera, rad/s.
        elevation: (low, high) initial camera elevation, rad.
        scale: (low, high) weak-perspective scale s.
        sight_noise: noise std per observation block (kp2d, depth, streak) in the block's
            normalised units (the block divided by ``sight_scale``).
        sight_scale: normalisation of each observation block before the phi network.
        hard_fraction: fraction of hard frames; hard_gain: their noise multiplier.
        phi_noise: std of noise added to phi.
        label_noise: std of the 2D keypoint labels' noise (normalised crop units).
        dropout_3d / dropout_2d: probability that a labelled keypoint is missing.
    """

    seed: int = 0
    encoder_seed: int = 20190601
    fps: float = 30.0
    phi_dim: int = 256
    encoder_hidden: int = 1024
    track_frames: int = 60
    tracks_3d: int = 1200
    tracks_2d: int = 1200
    test_max_frames: int = 300
    mocap_samples: int = 20000
    test_subjects: int = 4
    split_seed: int = 7
    betas_std: float = 1.0
    orbit_rate: float = 0.6
    elevation: tuple[float, float] = (-0.1, 0.35)
    scale: tuple[float, float] = (0.75, 1.0)
    sight_noise: tuple[float, float, float] = (0.06, 0.5, 0.5)
    sight_scale: tuple[float, float, float] = (0.5, 0.25, 0.02)
    hard_fraction: float = 0.1
    hard_gain: float = 4.0
    phi_noise: float = 0.05
    label_noise: float = 0.005
    dropout_3d: float = 0.03
    dropout_2d: float = 0.1

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (tuples become lists), as ``world.json`` stores them."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclasses.dataclass(frozen=True)
class Clip:
    """One retargeted motion clip at the world's frame rate.

    Attributes:
        name: clip name (e.g. ``02_01``).
        subject: CMU subject number.
        poses: (N, 72) axis-angle, root in the body model's y-up world frame.
        trans: (N, 3) root trajectory, metres.
    """

    name: str
    subject: int
    poses: np.ndarray
    trans: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])


# ----------------------------------------------------------------------------------------------
# Subject split


def split_subjects(subjects: Sequence[int], num_test: int, seed: int) -> dict[str, list[int]]:
    """Held-out test subjects and the two training halves (3D tier / 2D tier), by subject.

    Returns:
        ``{"test": [...], "train_3d": [...], "train_2d": [...]}``, sorted; every subject in
        exactly one list.
    """
    unique = sorted(set(int(s) for s in subjects))
    if len(unique) < num_test + 2:
        raise ValueError(f"need at least {num_test + 2} subjects for the split, got {len(unique)}")
    order = np.random.default_rng(seed).permutation(unique)
    test = sorted(int(s) for s in order[:num_test])
    rest = [int(s) for s in order[num_test:]]
    half = (len(rest) + 1) // 2
    return {"test": test, "train_3d": sorted(rest[:half]), "train_2d": sorted(rest[half:])}


# ----------------------------------------------------------------------------------------------
# The frozen phi network


class FrozenEncoder:
    """phi = W2 tanh(W1 z + b1) / sqrt(H): fixed random weights from ``seed``, never trained.

    Args:
        in_dim: observation width; hidden: H; out_dim: phi width; seed: the weights' seed.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(0.0, 1.5 / np.sqrt(in_dim), (in_dim, hidden))
        self.b1 = rng.normal(0.0, 0.5, hidden)
        self.w2 = rng.normal(0.0, 1.0, (hidden, out_dim)) / np.sqrt(hidden)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """(N, in_dim) -> (N, out_dim) float64."""
        return np.tanh(z @ self.w1 + self.b1) @ self.w2


# ----------------------------------------------------------------------------------------------
# Geometry of one track


def _smooth_curve(rng: np.random.Generator, n: int, amplitude: float, fps: float) -> np.ndarray:
    """(n,) a slow random curve: a sinusoid with period 2-6 s and random phase."""
    t = np.arange(n) / fps
    period = rng.uniform(2.0, 6.0)
    return amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))


def camera_path(
    rng: np.random.Generator, n: int, cfg: WorldConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A moving camera for ``n`` frames.

    Returns:
        ``view`` (n, 3, 3) world -> camera rotations (camera y down, z away from the camera),
        ``scale`` (n,) weak-perspective s, ``pan`` (n, 2) offset added to the crop centre.
    """
    t = np.arange(n) / cfg.fps
    azimuth = rng.uniform(0, 2 * np.pi) + rng.uniform(-cfg.orbit_rate, cfg.orbit_rate) * t
    elevation = rng.uniform(*cfg.elevation) + _smooth_curve(rng, n, 0.05, cfg.fps)
    flip = Rotation.from_rotvec([np.pi, 0.0, 0.0])  # y-up world -> y-down image
    yaw = Rotation.from_rotvec(np.stack([np.zeros(n), azimuth, np.zeros(n)], axis=1))
    tilt = Rotation.from_rotvec(np.stack([elevation, np.zeros(n), np.zeros(n)], axis=1))
    view = (tilt * flip * yaw).as_matrix()
    scale = rng.uniform(*cfg.scale) * (1.0 + _smooth_curve(rng, n, 0.05, cfg.fps))
    pan = np.stack([_smooth_curve(rng, n, 0.04, cfg.fps) for _ in range(2)], axis=1)
    return view, scale, pan


def pose_in_camera(poses: np.ndarray, view: np.ndarray) -> np.ndarray:
    """(n, 72) world poses -> the same poses with the root rotation seen by the camera."""
    out = np.array(poses, np.float64, copy=True)
    root = Rotation.from_matrix(view) * Rotation.from_rotvec(out[:, :3])
    out[:, :3] = root.as_rotvec()
    return out


class BodyJoints:
    """The body model's 25 joints for (betas, poses): the trainer's own joints-only pass."""

    def __init__(self, smpl_model_path: str | os.PathLike) -> None:
        from src.smpl import SMPL  # TensorFlow, loaded only when a world is generated

        self._smpl = SMPL(smpl_model_path)

    def __call__(self, betas: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """betas (10,), poses (n, 72) -> joints (n, 25, 3) float64, model space."""
        import tensorflow as tf

        n = poses.shape[0]
        out = self._smpl(
            tf.constant(np.repeat(betas[None], n, 0), tf.float32),
            tf.constant(poses, tf.float32),
            joints_only=True,
        )
        return out["joints"].numpy().astype(np.float64)


def render_track(
    clip: Clip,
    start: int,
    n: int,
    rng: np.random.Generator,
    body: BodyJoints,
    encoder: FrozenEncoder,
    cfg: WorldConfig,
) -> dict[str, np.ndarray]:
    """Frames ``start .. start + n - 1`` of ``clip`` seen by a random camera on a random body.

    Returns:
        ``theta`` (n, 85) exact [s, tx, ty | pose (camera frame) | betas], ``kp2d`` (n, 25, 2)
        exact normalised keypoints, ``joints3d`` (n, 25, 3) camera-frame joints with the root
        trajectory (metres), ``phi`` (n, phi_dim) float32, ``hard`` (n,) bool.
    """
    first = max(start - 1, 0)  # one frame earlier for the blur streak
    view_all, scale_all, pan_all = camera_path(rng, start + n - first, cfg)
    betas = rng.normal(0.0, cfg.betas_std, constants.NUM_SHAPE)
    pose = pose_in_camera(clip.poses[first : start + n], view_all)
    joints = body(betas, pose)  # (m, 25, 3)
    trans_cam = np.einsum("nij,nj->ni", view_all, clip.trans[first : start + n])
    # crop: centred on the pelvis, plus the camera's pan
    offset = -pelvis(joints)[:, :2] + pan_all
    kp = scale_all[:, None, None] * (joints[..., :2] + offset[:, None])
    depth = scale_all[:, None] * (joints[..., 2] - pelvis(joints)[:, None, 2])
    kp_prev = np.concatenate([kp[:1], kp[:-1]])  # the first frame of a clip has no streak
    here = slice(start - first, None)
    kp_now, depth_now = kp[here], depth[here]
    streak = 0.5 * (kp - kp_prev)[here]  # displacement during a half-frame exposure
    sight = [kp_now.reshape(n, -1), depth_now, streak.reshape(n, -1)]
    hard = rng.uniform(size=n) < cfg.hard_fraction
    gain = np.where(hard, cfg.hard_gain, 1.0)[:, None]
    z = np.concatenate(
        [
            block / scale + gain * noise * rng.normal(size=block.shape)
            for block, scale, noise in zip(sight, cfg.sight_scale, cfg.sight_noise, strict=True)
        ],
        axis=1,
    )
    phi = encoder(z) + cfg.phi_noise * rng.normal(size=(n, cfg.phi_dim))
    cams = np.concatenate([scale_all[here, None], offset[here]], axis=1)
    theta = np.concatenate([cams, pose[here], np.repeat(betas[None], n, 0)], axis=1)
    joints3d = joints[here] + trans_cam[here, None]
    return {
        "theta": theta,
        "kp2d": kp_now,
        "joints3d": joints3d,
        "phi": phi.astype(np.float32),
        "hard": hard,
    }


def observation_dim() -> int:
    """Width of the observation z: 25 x 2 + 25 + 25 x 2."""
    return constants.NUM_KPS * 5


# ----------------------------------------------------------------------------------------------
# Records


def _labels(
    kp: np.ndarray, rng: np.random.Generator, cfg: WorldConfig, dropout: float, face_toe: bool
) -> np.ndarray:
    """Detector-like 2D labels (n, 25, 3) normalised: noise, dropouts, out-of-crop invisible,
    invisible rows all zero."""
    xy = kp + cfg.label_noise * rng.normal(size=kp.shape)
    vis = (np.abs(xy) <= 1.0).all(axis=-1) & (rng.uniform(size=kp.shape[:2]) >= dropout)
    if not face_toe:
        vis[:, list(FACE_TOE)] = False
    return np.concatenate([xy, vis[..., None]], axis=-1) * vis[..., None]


def frame_names(clip: Clip, start: int, n: int) -> list[str]:
    """``<clip>/<frame>`` per frame: where each frame of a record comes from."""
    return [f"{clip.name}/{start + i:05d}" for i in range(n)]


def train_track(
    rendered: Mapping[str, np.ndarray], labels: np.ndarray, with_3d: bool, names: list[str]
) -> dict:
    """A training record's dict (:func:`src.data.schema.make_train_example`)."""
    track = {"kp2d": labels, "phi": rendered["phi"], "filenames": names}
    if with_3d:
        theta = rendered["theta"]
        track.update(
            pose=theta[:, constants.POSE_SLICE],
            shape=theta[0, constants.SHAPE_SLICE],
            joints3d=rendered["joints3d"][:, : constants.NUM_LSP_JOINTS],
        )
    return track


def test_track(rendered: Mapping[str, np.ndarray], names: list[str]) -> dict:
    """A test record's dict (§6.2): keypoints in crop pixels, every in-crop point visible."""
    kp = rendered["kp2d"]
    vis = (np.abs(kp) <= 1.0).all(axis=-1)
    px = (kp + 1.0) * 0.5 * constants.IMG_SIZE
    kp2d = np.concatenate([px, vis[..., None]], axis=-1) * vis[..., None]
    theta = rendered["theta"]
    n = kp.shape[0]
    return {
        "kp2d": kp2d,
        "phi": rendered["phi"],
        "pose": theta[:, constants.POSE_SLICE],
        "shape": theta[0, constants.SHAPE_SLICE],
        "joints3d": rendered["joints3d"][:, : constants.NUM_LSP_JOINTS],
        "time_pts": np.array([0, n]),
        "filenames": names,
    }


def _tracks(
    clips: Sequence[Clip], count: int, rng: np.random.Generator, n: int
) -> list[tuple[Clip, int]]:
    """``count`` (clip, start) windows of ``n`` frames, clips weighted by their length."""
    usable = [c for c in clips if c.num_frames >= n]
    if not usable:
        raise ValueError(f"no clip has {n} frames")
    weights = np.array([c.num_frames - n + 1 for c in usable], np.float64)
    picks = rng.choice(len(usable), size=count, p=weights / weights.sum())
    return [(usable[i], int(rng.integers(0, usable[i].num_frames - n + 1))) for i in picks]


def write_world(
    clips: Sequence[Clip],
    out: str | os.PathLike,
    cfg: WorldConfig,
    smpl_model_path: str | os.PathLike,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate every tier under ``out`` (resumable: a tier whose files are complete is kept).

    Returns:
        The manifest written to ``<out>/world.json``: config, subject split, counts.
    """
    from tqdm import tqdm

    from src.data import schema, tfrecord_lib

    out = Path(out)
    manifest_path = out / MANIFEST_FILE
    split = split_subjects([c.subject for c in clips], cfg.test_subjects, cfg.split_seed)
    by_split = {k: [c for c in clips if c.subject in v] for k, v in split.items()}
    manifest = {
        "config": cfg.to_json(),
        "split": split,
        "clips": {k: [c.name for c in v] for k, v in by_split.items()},
        "smpl_model_path": str(smpl_model_path),
    }
    if manifest_path.is_file():
        previous = json.loads(manifest_path.read_text())
        if previous.get("config") != manifest["config"] or previous.get("split") != split:
            raise ValueError(f"{out}: holds a world made with other settings; use another --out")
    body = BodyJoints(smpl_model_path)
    encoder = FrozenEncoder(observation_dim(), cfg.encoder_hidden, cfg.phi_dim, cfg.encoder_seed)
    counts: dict[str, int] = {}

    def shards(name: str, folder: Path, num: int) -> list[Path]:
        return tfrecord_lib.shard_paths(folder, name, num)

    tiers = (
        (TIER_3D, "train_3d", cfg.tracks_3d, True, 1),
        (TIER_2D, "train_2d", cfg.tracks_2d, False, 2),
    )
    for tier, subjects_key, count, with_3d, salt in tiers:
        folder = out / tier / "train"
        num_shards = max(1, min(8, count // 50))
        paths = shards(tier, folder, num_shards)
        if all(tfrecord_lib.is_complete(p) for p in paths):
            counts[tier] = count
            continue
        rng = np.random.default_rng([cfg.seed, salt])
        windows = _tracks(by_split[subjects_key], count, rng, cfg.track_frames)
        records = []
        for clip, start in tqdm(windows, desc=f"{tier}/train", unit="track", disable=not progress):
            rendered = render_track(clip, start, cfg.track_frames, rng, body, encoder, cfg)
            dropout = cfg.dropout_3d if with_3d else cfg.dropout_2d
            labels = _labels(rendered["kp2d"], rng, cfg, dropout, face_toe=with_3d)
            records.append(
                schema.serialize_sequence_example(
                    train_track(
                        rendered, labels, with_3d, frame_names(clip, start, cfg.track_frames)
                    )
                )
            )
        tfrecord_lib.write_sharded(records, folder, tier, num_shards)
        counts[tier] = count
    counts["mocap"] = _write_mocap(by_split["train_3d"] + by_split["train_2d"], out, cfg)
    counts["test"] = _write_test(by_split["test"], out, cfg, body, encoder, progress)
    val_clips = validation_clips(by_split["train_3d"] + by_split["train_2d"])
    counts["val"] = _write_test(val_clips, out, cfg, body, encoder, progress, split="val")
    manifest["clips"]["val"] = [c.name for c in val_clips]
    manifest["counts"] = counts
    out.mkdir(parents=True, exist_ok=True)
    tmp = manifest_path.with_name(MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    return manifest


def _write_mocap(clips: Sequence[Clip], out: Path, cfg: WorldConfig) -> int:
    """The adversarial prior's real poses: frames of the training subjects' clips."""
    from src.data import schema, tfrecord_lib

    path = out / MOCAP_DIR / f"neutrSMPL_{MOCAP_NAME}_000.tfrecord"
    if tfrecord_lib.is_complete(path):
        return cfg.mocap_samples
    poses = np.concatenate([c.poses for c in clips])
    rng = np.random.default_rng([cfg.seed, 3])
    rows = rng.choice(len(poses), size=cfg.mocap_samples, replace=len(poses) < cfg.mocap_samples)
    zeros = np.zeros(constants.NUM_SHAPE, np.float32)
    tfrecord_lib.write_records(
        path,
        (
            schema.make_mocap_example(poses[i], zeros).SerializeToString(deterministic=True)
            for i in rows
        ),
    )
    return cfg.mocap_samples


def validation_clips(train_clips: Sequence[Clip]) -> list[Clip]:
    """The in-distribution check: the first clip (by name) of each training subject."""
    first: dict[int, Clip] = {}
    for clip in sorted(train_clips, key=lambda c: c.name):
        first.setdefault(clip.subject, clip)
    return [first[s] for s in sorted(first)]


def _write_test(
    clips: Sequence[Clip],
    out: Path,
    cfg: WorldConfig,
    body: BodyJoints,
    encoder: FrozenEncoder,
    progress: bool,
    split: str = "test",
) -> int:
    """One file per clip (its first ``test_max_frames`` frames) in ``synth_3d/<split>``: ``test``
    holds the held-out subjects' clips; ``val`` one clip of each training subject, seen by new
    cameras on new bodies with new noise (an in-distribution check, not a held-out score)."""
    from tqdm import tqdm

    from src.data import schema, tfrecord_lib

    folder = out / TIER_3D / split
    salt = 4 if split == "test" else 5
    written = 0
    for index, clip in enumerate(
        tqdm(clips, desc=f"{TIER_3D}/{split}", unit="clip", disable=not progress)
    ):
        path = folder / f"{clip.name}.tfrecord"
        rng = np.random.default_rng([cfg.seed, salt, index])
        n = min(clip.num_frames, cfg.test_max_frames)
        if not tfrecord_lib.is_complete(path):
            rendered = render_track(clip, 0, n, rng, body, encoder, cfg)
            tfrecord_lib.write_records(
                path,
                [schema.serialize_sequence_example(test_track(rendered, frame_names(clip, 0, n)))],
            )
        written += 1
    return written
