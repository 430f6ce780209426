"""3DPW -> HMMR test/val TFRecords with 3D ground truth (docs/original_release.md §6.2, §6.4).

Input, as released::

    <data_directory>/sequenceFiles/{train,validation,test}/<seq>.pkl   (Python 2 pickles)
    <data_directory>/imageFiles/<seq>/image_00000.jpg ...
    <data_directory>/sequenceFilesNeutral/<seq>.pkl                   (optional, see below)

Each sequence pickle holds, per person, ``poses`` (N, 72), ``betas`` (10,), ``poses2d``
(N, 3, 18) OpenPose COCO-18 (x, y, confidence), ``campose_valid`` (N,), and per frame
``cam_poses`` (N, 4, 4), ``img_frame_ids`` (N,). One file per sequence, ``3dpw/<split>/<seq>
.tfrecord``, one record per person (§6.2): the frames with a confident keypoint, 224 crops around
the smoothed box, 2D keypoints by name (``src.joints.FROM_3DPW``; head top, heels and toes
missing) in crop pixels with vis = confidence > 0.1 (zeroed where ``campose_valid`` is 0, so the
evaluation skips those frames), ``mosh/poses`` the raw world-frame poses, ``mosh/shape`` the
neutral-model betas and ``mosh/gt3ds`` the 25 body-model joints rotated about their centroid by
each frame's camera rotation (``cam_poses[:3, :3]``).

3D joints and betas, in order of preference:

1. ``sequenceFilesNeutral/<seq>.pkl`` (the original's ``compute_neutral_shape`` output, keys
   ``betas_neutral`` and ``joints_gendered``, per person): used as is, as the original;
2. ``--fit_neutral_betas`` with ``--male_model_path`` / ``--female_model_path`` (the gendered
   SMPL files): the original's pre-step done here: neutral betas fitted so the neutral T-pose
   mesh matches the gendered one (same objective, mean vertex distance, solved by iteratively
   reweighted least squares instead of gradient descent), and the 3D joints the 25-joint
   regressor of ``--smpl_model_path`` applied to the posed gendered meshes;
3. otherwise the joints of ``--smpl_model_path`` (neutral, with the 25-joint regressor) posed
   with the given poses and the given gendered betas, an approximation of the gendered bodies.

Splits: ``val`` = ``validation/`` (12 sequences), ``test`` = ``test/`` (24; the original's list
also named a non-existent ``downtown_cafe_01``), ``train`` = ``train/``.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.constants import NUM_KPS, NUM_POSE, NUM_SHAPE
from src.data.tube_augmentation import TEST_VIS_THRESHOLD
from src.joints import FROM_3DPW, SOURCE_NUM_JOINTS, to_hmmr25
from src.video.bbox import smooth_bboxes_from_keypoints
from src.video.io import read_image
from tfrecords_tools import cli, common, label_files, track_records
from tfrecords_tools.common import log

DATASET = "3dpw"
SPLIT_DIRS = {"train": "train", "val": "validation", "test": "test"}
DEFAULT_SMPL_MODEL = "models/neutral_smpl_with_cocoplustoesankles_reg.pkl"
NEUTRAL_DIR = "sequenceFilesNeutral"
SEQUENCE_KEYS = ("poses", "betas", "poses2d", "cam_poses")
NUM_3DPW_KPS = SOURCE_NUM_JOINTS["3dpw"]  # 18
SMPL_BATCH = 256  # frames per body-model call

EPILOG = """\
examples:
  python -m tfrecords_tools.threedpw --data_directory 3DPW_DIR --output_directory TF_ROOT \\
      --split val --smpl_model_path models/neutral_smpl_with_cocoplustoesankles_reg.pkl
  python -m tfrecords_tools.threedpw --data_directory 3DPW_DIR --output_directory TF_ROOT \\
      --split test
"""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.base_parser("tfrecords_tools.threedpw", __doc__, EPILOG)
    cli.add_split_flag(parser, default="val")
    parser.add_argument(
        "--smpl_model_path",
        default=DEFAULT_SMPL_MODEL,
        help="neutral body model with the 25-joint regressor, for the 3D joints "
        f"when there is no {NEUTRAL_DIR}/ (default {DEFAULT_SMPL_MODEL})",
    )
    cli.add_bool_flag(
        parser,
        "fit_neutral_betas",
        False,
        "fit neutral betas to the gendered bodies and take the 3D joints from "
        "the gendered meshes (needs --male_model_path and --female_model_path)",
    )
    parser.add_argument(
        "--male_model_path",
        default=None,
        help="male SMPL model file (basicModel_m_lbs_10_207_0_v1.0.0.pkl)",
    )
    parser.add_argument(
        "--female_model_path",
        default=None,
        help="female SMPL model file (basicModel_f_lbs_10_207_0_v1.0.0.pkl)",
    )
    return parser


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One person of a sequence: ``kp2d`` (N, 25, 3) pixel (x, y, confidence), ``pose``
    (N, 72), ``shape`` (10,), ``joints3d`` (N, 25, 3) world frame or None (computed later)."""

    index: int
    kp2d: np.ndarray
    pose: np.ndarray
    shape: np.ndarray
    joints3d: np.ndarray | None


@dataclass(frozen=True)
class Sequence3DPW:
    name: str
    frame_paths: tuple[str, ...]
    cam_rotations: np.ndarray  # (N, 3, 3)
    people: tuple[Person, ...]
    smpl_model_path: str
    genders: tuple[str, ...] = ()
    gendered_models: tuple[tuple[str, str], ...] = ()  # (("m", path), ("f", path)) to fit


def _per_person(data: dict, key: str, path: Path, count: int) -> list:
    value = data[key]
    if len(value) != count:
        raise ValueError(
            f"{path}: '{key}' has {len(value)} entries, expected one per person ({count})"
        )
    return list(value)


def _keypoints(value: object, path: Path, person: int, n: int) -> np.ndarray:
    """``(N, 25, 3)`` from ``poses2d`` ``(N, 3, 18)`` (or ``(N, 18, 3)``)."""
    arr = np.asarray(value, np.float64)
    if arr.shape == (n, 3, NUM_3DPW_KPS):
        arr = np.transpose(arr, (0, 2, 1))
    if arr.shape != (n, NUM_3DPW_KPS, 3):
        raise ValueError(
            f"{path}: poses2d of person {person} has shape {arr.shape}, expected "
            f"({n}, 3, {NUM_3DPW_KPS})"
        )
    return to_hmmr25(arr, FROM_3DPW)


def read_sequence(
    root: Path, path: Path, smpl_model_path: str, gendered_models: dict[str, str] | None = None
) -> Sequence3DPW:
    """Labels and frame paths of one sequence file (and its neutral file when present).

    Args:
        gendered_models: ``{"m": path, "f": path}`` to fit neutral betas (``--fit_neutral_betas``)
            when there is no neutral file.
    """
    data = label_files.load_pickle(path, "3DPW sequence file")
    with label_files.reading(path):
        return _sequence(data, root, path, smpl_model_path, gendered_models)


def _sequence(
    data: object, root: Path, path: Path, smpl_model_path: str, gendered_models: dict | None
) -> Sequence3DPW:
    """The body of :func:`read_sequence` on the unpickled ``data``."""
    label_files.require_keys(data, SEQUENCE_KEYS, path, "3DPW sequence")
    name = str(data.get("sequence", path.stem))
    cams = label_files.as_array(data["cam_poses"], path, "cam_poses", (None, 4, 4))
    n = len(cams)
    count = len(data["poses"])
    poses = [
        label_files.as_array(p, path, "poses", (n, NUM_POSE))
        for p in _per_person(data, "poses", path, count)
    ]
    betas = [
        np.asarray(b, np.float64).reshape(-1)[:NUM_SHAPE]
        for b in _per_person(data, "betas", path, count)
    ]
    valid = (
        _per_person(data, "campose_valid", path, count)
        if "campose_valid" in data
        else [np.ones(n)] * count
    )
    neutral = read_neutral(root / NEUTRAL_DIR / f"{name}.pkl", count, n)
    people = []
    for p, raw2d in enumerate(_per_person(data, "poses2d", path, count)):
        kp = _keypoints(raw2d, path, p, n)
        kp[np.asarray(valid[p]).reshape(-1)[:n] == 0, :, 2] = 0.0
        shape = neutral["betas"][p] if neutral else betas[p]
        if shape.size != NUM_SHAPE:
            raise ValueError(
                f"{path}: betas of person {p} have {shape.size} values, expected {NUM_SHAPE}"
            )
        people.append(Person(p, kp, poses[p], shape, neutral["joints"][p] if neutral else None))
    raw_ids = np.asarray(data.get("img_frame_ids", np.arange(n))).reshape(-1)[:n]
    numeric = raw_ids.dtype.kind in "iuf"  # integer or float, not bool, complex or text
    # compared in float64: against a float16 array, 1e9 itself would overflow the cast
    wide = raw_ids.astype(np.float64) if numeric else raw_ids
    if not (numeric and np.isfinite(wide).all() and (np.abs(wide) < 1e9).all()):
        raise ValueError(f"{path}: 'img_frame_ids' must be frame numbers (finite, below 1e9)")
    ids = raw_ids.astype(np.int64)
    frames = tuple(str(root / "imageFiles" / name / f"image_{i:05d}.jpg") for i in ids)
    genders = tuple(str(g)[:1].lower() for g in data.get("genders", []))
    fit = () if neutral or not gendered_models else tuple(sorted(gendered_models.items()))
    if fit and (len(genders) != count or not set(genders) <= set(gendered_models)):
        raise ValueError(
            f"{path}: 'genders' should give 'm' or 'f' per person to fit neutral "
            f"betas, got {list(data.get('genders', []))}"
        )
    return Sequence3DPW(name, frames, cams[:, :3, :3], tuple(people), smpl_model_path, genders, fit)


def read_neutral(path: Path, count: int, n: int) -> dict | None:
    """``betas_neutral`` and ``joints_gendered`` per person, or None when the file is absent."""
    if not path.is_file():
        return None
    data = label_files.load_pickle(path, "3DPW neutral-shape file")
    with label_files.reading(path):
        label_files.require_keys(data, ("betas_neutral", "joints_gendered"), path, "neutral shape")
        betas = [
            np.asarray(b, np.float64).reshape(-1)
            for b in _per_person(data, "betas_neutral", path, count)
        ]
        joints = [
            label_files.as_array(j, path, "joints_gendered", (n, NUM_KPS, 3))
            for j in _per_person(data, "joints_gendered", path, count)
        ]
    return {"betas": betas, "joints": joints}


# ---------------------------------------------------------------------------------------------
# 3D joints
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def body_model(path: str):
    """The body model of this process (``src.smpl.SMPL``), checked for 25 output joints."""
    from src.smpl import SMPL

    model = SMPL(path)
    if model.num_joints != NUM_KPS:
        raise ValueError(
            f"{path}: the body model gives {model.num_joints} joints; the 3DPW "
            f"ground truth needs the {NUM_KPS}-joint regressor "
            "(neutral_smpl_with_cocoplustoesankles_reg.pkl)"
        )
    return model


def model_joints(model_path: str, pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """``(N, 25, 3)`` joints of the body model with ``pose`` (N, 72) and ``shape`` (10,)."""
    model = body_model(model_path)
    out = []
    for start in range(0, len(pose), SMPL_BATCH):
        chunk = np.asarray(pose[start : start + SMPL_BATCH], np.float32)
        betas = np.tile(np.asarray(shape, np.float32), (len(chunk), 1))
        out.append(np.asarray(model(betas, chunk)["joints"], np.float64))
    return np.concatenate(out)


def fit_neutral_betas(
    neutral_path: str, gendered_path: str, betas: np.ndarray, iterations: int = 50
) -> np.ndarray:
    """Neutral betas whose T-pose mesh is closest (mean vertex distance) to the gendered T-pose
    mesh with ``betas`` (the original's ``compute_neutral_shape`` objective).

    Both meshes are linear in the betas at the rest pose, so the minimiser is found by
    iteratively reweighted least squares, started from the least-squares fit.
    """
    from src.smpl import load_smpl_params

    neutral, gendered = load_smpl_params(neutral_path), load_smpl_params(gendered_path)
    if neutral["v_template"].shape != gendered["v_template"].shape:
        raise ValueError(
            f"{gendered_path}: {gendered['v_template'].shape[0]} vertices, but the "
            f"neutral model {neutral_path} has {neutral['v_template'].shape[0]}"
        )
    target = gendered["v_template"] + gendered["shapedirs"] @ np.asarray(betas, np.float64)
    dirs = neutral["shapedirs"]  # (V, 3, 10)
    residual0 = target - neutral["v_template"]  # (V, 3)
    weights = np.ones(len(target))
    fitted = np.zeros(NUM_SHAPE)
    for _ in range(iterations):
        w = np.sqrt(weights)[:, None, None]
        fitted, *_ = np.linalg.lstsq(
            (dirs * w).reshape(-1, NUM_SHAPE), (residual0 * w[:, :, 0]).reshape(-1), rcond=None
        )
        distance = np.linalg.norm(residual0 - dirs @ fitted, axis=1)
        weights = 1.0 / np.maximum(distance, 1e-8)
    return fitted


def gendered_joints(
    neutral_path: str, gendered_path: str, pose: np.ndarray, betas: np.ndarray
) -> np.ndarray:
    """``(N, 25, 3)``: the neutral model's 25-joint regressor on the posed gendered meshes."""
    regressor = body_model(neutral_path).joint_regressor
    model = _plain_model(gendered_path)
    out = []
    for start in range(0, len(pose), SMPL_BATCH):
        chunk = np.asarray(pose[start : start + SMPL_BATCH], np.float32)
        shape = np.tile(np.asarray(betas, np.float32), (len(chunk), 1))
        verts = np.asarray(model(shape, chunk)["vertices"], np.float64)
        out.append(np.einsum("kv,nvc->nkc", np.asarray(regressor), verts))
    return np.concatenate(out)


@functools.lru_cache(maxsize=2)
def _plain_model(path: str):
    from src.smpl import SMPL

    return SMPL(path)


def person_truth(seq: Sequence3DPW, person: Person) -> tuple[np.ndarray, np.ndarray]:
    """``(shape (10,), joints (N, 25, 3))`` of a person (see the module docstring)."""
    if person.joints3d is not None:
        return person.shape, person.joints3d
    if seq.gendered_models:
        gendered = dict(seq.gendered_models)[seq.genders[person.index]]
        shape = fit_neutral_betas(seq.smpl_model_path, gendered, person.shape)
        return shape, gendered_joints(seq.smpl_model_path, gendered, person.pose, person.shape)
    return person.shape, model_joints(seq.smpl_model_path, person.pose, person.shape)


def rotate_about_centroid(joints: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Each frame's joints ``(N, J, 3)`` rotated by ``rotations`` ``(N, 3, 3)`` about their
    mean ("rectified to the identity camera")."""
    center = joints.mean(axis=1, keepdims=True)
    return np.einsum("nij,nkj->nki", rotations, joints - center) + center


# ---------------------------------------------------------------------------------------------
# Building (worker side)
# ---------------------------------------------------------------------------------------------


def _read_frames(paths: Sequence[str]) -> Iterator[np.ndarray]:
    for path in paths:
        yield read_image(path)


def build_sequence_file(seq: Sequence3DPW) -> Iterator[bytes]:
    """The records of one sequence: one per person with a visible keypoint."""
    for person in seq.people:
        try:
            boxes = smooth_bboxes_from_keypoints(person.kp2d, vis_thresh=TEST_VIS_THRESHOLD)
        except ValueError:
            log.warning("%s: person %d never visible, skipped", seq.name, person.index)
            continue
        shape, joints = person_truth(seq, person)
        joints = rotate_about_centroid(joints, seq.cam_rotations)
        kept = slice(boxes.start, boxes.end)
        track = track_records.build_test_track(
            _read_frames(seq.frame_paths[kept]), person.kp2d[kept], boxes
        )
        track.update(
            filenames=list(seq.frame_paths[kept]),
            pose=person.pose[kept],
            shape=shape,
            joints3d=joints[kept],
            has_smpl=1,
            has_3d_joints=1,
        )
        yield from track_records.serialize([track])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def list_sequences(root: Path, split: str) -> list[Path]:
    folder = root / "sequenceFiles" / SPLIT_DIRS[split]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: 3DPW sequence folder not found (expected "
            "<data_directory>/sequenceFiles/{train,validation,test}/)"
        )
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise ValueError(f"{folder}: expected <sequence>.pkl files, found none")
    return files


def plan_files(
    sequences: list[Sequence3DPW], args: argparse.Namespace, out_dir: Path
) -> common.Plan:
    """One file per sequence (one record per person)."""
    if not (Path(args.data_directory) / NEUTRAL_DIR).is_dir() and not args.fit_neutral_betas:
        log.warning(
            "no %s/ and no --fit_neutral_betas: 3D joints from %s with the given (gendered) betas",
            NEUTRAL_DIR,
            args.smpl_model_path,
        )
    if any(p.joints3d is None for s in sequences for p in s.people):
        body_model(args.smpl_model_path)  # fail now, naming the model file, not in a worker
    log.info("%s: %d sequence(s) -> %s", args.split, len(sequences), out_dir)
    tasks = [(out_dir / f"{common.safe_name(s.name)}.tfrecord", s) for s in sequences]
    people = sum(len(s.people) for s in sequences)
    return common.Plan(tasks, {"sequences": len(sequences), "tracks_kept": people})


def conversion(args: argparse.Namespace) -> common.Conversion:
    """Inputs: the split's sequence pickles, each read (and its 3D truth computed) on its own."""
    root = Path(args.data_directory)
    files = list_sequences(root, args.split)
    gendered = None
    if args.fit_neutral_betas:
        if not (args.male_model_path and args.female_model_path):
            raise ValueError("--fit_neutral_betas needs --male_model_path and --female_model_path")
        gendered = {"m": args.male_model_path, "f": args.female_model_path}
        for path in gendered.values():
            _plain_model(path)  # fail now, naming the file
    out_dir = common.split_dir(args.output_directory, DATASET, args.split)
    return common.Conversion(
        desc=f"{DATASET} {args.split}",
        output=out_dir,
        inputs=files,
        read=functools.partial(
            read_sequence, root, smpl_model_path=args.smpl_model_path, gendered_models=gendered
        ),
        plan=functools.partial(plan_files, args=args, out_dir=out_dir),
        build=build_sequence_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli.run_cli(build_parser(), conversion, argv)


if __name__ == "__main__":
    # run the module under its importable name: Beam workers unpickle its classes by that name
    from tfrecords_tools.threedpw import main as _main

    raise SystemExit(_main())
