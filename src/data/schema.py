"""The original HMMR TFRecord schema (docs/original_release.md §6.1-§6.3), in one place.

One ``tf.train.Example`` holds one person track of N frames; every per-frame field is a flat list,
frame-major. Keypoints are split the way the original stored them:

- ``image/xys``          float ``(N, 2, 14)``: the first 14 joints, all x then all y per frame
- ``image/visibilities`` int64 ``(N, 1, 14)``
- ``image/face_pts``     float ``(N, 3, 5)``: rows x, y, vis of joints 14..18
- ``image/toe_pts``      float ``(N, 3, 6)``: rows x, y, vis of joints 19..24

and are reassembled here into ``kp2d (N, 25, 3)`` = (x, y, vis). Training records (precomputed phi)
hold keypoints normalised to [-1, 1] over the 224 crop; test records (§6.2) hold crop pixels.

``image/phis`` holds N * D floats, frame-major: D = 2048 (ResNet-50 v2) in the original's records,
any D >= 1 in reduced-width ones. The writer takes any D; the NumPy reader infers D = len / N; the
tf parser checks D against the width the model expects (``phi_dim``, default 2048).

Writers: :func:`make_train_example` (also used for test records), :func:`make_mocap_example`.
Readers: :func:`parse_example_np` (NumPy, for tools and tests), :func:`parse_track_tf` (tf graph,
for the tf.data pipeline), :func:`parse_mocap_tf`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from src.constants import IMG_SIZE, NUM_KPS, NUM_LSP_JOINTS, NUM_POSE, NUM_SHAPE, PHI_DIM

# ---------------------------------------------------------------------------------------------
# Keys (§6.1, §6.2, §6.3)
# ---------------------------------------------------------------------------------------------
KEY_N = "meta/N"
KEY_FILENAMES = "image/filenames"
KEY_HEIGHTWIDTHS = "image/heightwidths"
KEY_CENTERS = "image/centers"
KEY_SCALE_FACTORS = "image/scale_factors"
KEY_CROP_PTS = "image/crop_pts"
KEY_XYS = "image/xys"
KEY_VISIBILITIES = "image/visibilities"
KEY_FACE_PTS = "image/face_pts"
KEY_TOE_PTS = "image/toe_pts"
KEY_ENCODED = "image/encoded"
KEY_ENCODED_OG = "image/encoded_og"
KEY_PHIS = "image/phis"
KEY_CAMS = "image/cams"
KEY_POSES = "mosh/poses"
KEY_SHAPE = "mosh/shape"
KEY_GT3DS = "mosh/gt3ds"
KEY_HAS_3D = "meta/has_3d"  # SMPL ground truth (pose + shape) available
KEY_HAS_3D_JOINTS = "meta/has_3d_joints"
KEY_TIME_PTS = "meta/time_pts"  # test records: (start, end) frame indices

MOCAP_KEY_POSE = "pose"
MOCAP_KEY_SHAPE = "shape"

# Keypoint groups of the 25 HMMR joints (§4.3) as stored in the record.
NUM_BODY_KPS = NUM_LSP_JOINTS  # 14: image/xys + image/visibilities
FACE_SLICE = slice(NUM_BODY_KPS, NUM_BODY_KPS + 5)  # joints 14..18
TOE_SLICE = slice(FACE_SLICE.stop, NUM_KPS)  # joints 19..24
NUM_FACE_KPS = FACE_SLICE.stop - FACE_SLICE.start  # 5
NUM_TOE_KPS = TOE_SLICE.stop - TOE_SLICE.start  # 6
NUM_TEST_JOINTS3D = NUM_KPS  # 3DPW test records carry 25 3D joints; readers keep the first 14

# "Unavailable" fill values of the original converters.
MISSING_SMPL_VALUE = -1.0  # mosh/poses, mosh/shape
# Most frames one record may declare (the original's records hold at most a few hundred): a
# corrupt meta/N is refused before per-frame arrays are allocated for it.
MAX_FRAMES_PER_RECORD = 100_000
MISSING_JOINTS3D_VALUE = 0.0  # mosh/gt3ds

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _float_feature(values: Any) -> tf.train.Feature:
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat))


def _int64_feature(values: Any) -> tf.train.Feature:
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    return tf.train.Feature(int64_list=tf.train.Int64List(value=flat))


def _bytes_feature(values: Sequence[bytes | str]) -> tf.train.Feature:
    encoded = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=encoded))


def _require_shape(track: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    """``track[key]`` as an array of exactly ``shape`` (-1 = any), or a ValueError naming it."""
    value = np.asarray(track[key])
    ok = value.ndim == len(shape) and all(
        s in (-1, v) for s, v in zip(shape, value.shape, strict=True)
    )
    if not ok:
        raise ValueError(f"track['{key}']: expected shape {shape}, got {value.shape}")
    return value


def split_kp2d(kp2d: np.ndarray) -> dict[str, np.ndarray]:
    """Split ``(N, 25, 3)`` keypoints into the record's four keypoint fields.

    Returns:
        ``{"image/xys": (N, 2, 14) float32, "image/visibilities": (N, 1, 14) int64,
        "image/face_pts": (N, 3, 5) float32, "image/toe_pts": (N, 3, 6) float32}``.
    """
    kp = np.asarray(kp2d, dtype=np.float64)
    cols = np.transpose(kp, (0, 2, 1))  # (N, 3, 25): rows x, y, vis
    return {
        KEY_XYS: cols[:, :2, :NUM_BODY_KPS].astype(np.float32),
        KEY_VISIBILITIES: np.round(cols[:, 2:, :NUM_BODY_KPS]).astype(np.int64),
        KEY_FACE_PTS: cols[:, :, FACE_SLICE].astype(np.float32),
        KEY_TOE_PTS: cols[:, :, TOE_SLICE].astype(np.float32),
    }


def assemble_kp2d_np(
    xys: np.ndarray, vis: np.ndarray, face: np.ndarray, toes: np.ndarray
) -> np.ndarray:
    """Inverse of :func:`split_kp2d`: ``(N,2,14)+(N,1,14)+(N,3,5)+(N,3,6) -> (N, 25, 3)``."""
    cols = np.concatenate([np.concatenate([xys, vis], axis=1), face, toes], axis=2)
    return np.transpose(cols, (0, 2, 1)).astype(np.float32)


def _encode_images(images: Any) -> list[bytes]:
    """JPEG bytes for a list of ``bytes`` (already encoded) or ``(N, H, W, 3)`` uint8 RGB arrays."""
    import cv2  # local: only writers that encode need OpenCV

    out = []
    for img in images:
        if isinstance(img, (bytes, bytearray)):
            out.append(bytes(img))
            continue
        arr = np.asarray(img)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(
                f"track['images']: expected uint8 (H, W, 3) frames, got {arr.dtype} {arr.shape}"
            )
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("track['images']: JPEG encoding failed")
        out.append(buf.tobytes())
    return out


def make_train_example(track: Mapping[str, Any]) -> tf.train.Example:
    """One track as a ``tf.train.Example`` in the original schema (§6.1; §6.2 for test records).

    Args:
        track: a dict with
            ``kp2d`` (N, 25, 3) (x, y, vis), required;
            ``phi`` (N, D) precomputed features (D = 2048 for ResNet-50 v2; any D >= 1),
            optional;
            ``images`` N JPEG ``bytes`` or (N, H, W, 3) uint8 RGB, optional (``image/encoded``);
            ``filenames`` N str, optional (default empty strings);
            ``pose`` (N, 72) and ``shape`` (10,) SMPL ground truth, optional (written as -1 and
            ``meta/has_3d`` = 0 when absent);
            ``joints3d`` (N, 14 or 25, 3) metres, optional (zeros, ``meta/has_3d_joints`` = 0);
            ``has_smpl`` / ``has_3d_joints`` to override the flags derived from presence;
            ``heightwidths`` (N, 2) (default 224, 224), ``centers`` (N, 2), ``crop_pts`` (N, 2)
            int, ``scale_factors`` (N, 2), ``cams`` (N, 3) float (defaults zeros);
            ``time_pts`` (2,) int and ``images_og`` (N) JPEG bytes, optional (test records).
    Returns:
        The Example; ``.SerializeToString()`` gives the record bytes.
    """
    kp2d = _require_shape(track, "kp2d", (-1, NUM_KPS, 3))
    n = kp2d.shape[0]
    if n < 1:
        raise ValueError("track['kp2d']: a track needs at least one frame")
    feat: dict[str, tf.train.Feature] = {KEY_N: _int64_feature([n])}
    for key, value in split_kp2d(kp2d).items():
        feat[key] = _float_feature(value) if value.dtype == np.float32 else _int64_feature(value)
    filenames = [""] * n if track.get("filenames") is None else list(track["filenames"])
    if len(filenames) != n:
        raise ValueError(f"track['filenames']: expected {n} names, got {len(filenames)}")
    feat[KEY_FILENAMES] = _bytes_feature(
        [str(f) if not isinstance(f, bytes) else f for f in filenames]
    )
    feat.update(_frame_meta_features(track, n))
    feat.update(_label_features(track, n))
    if track.get("phi") is not None:
        phi = _require_shape(track, "phi", (n, -1))
        if phi.shape[1] < 1:
            raise ValueError(f"track['phi']: expected (N, D) with D >= 1, got {phi.shape}")
        feat[KEY_PHIS] = _float_feature(phi)
    for src_key, dst_key in (("images", KEY_ENCODED), ("images_og", KEY_ENCODED_OG)):
        if track.get(src_key) is not None:
            jpegs = _encode_images(track[src_key])
            if len(jpegs) != n:
                raise ValueError(f"track['{src_key}']: expected {n} frames, got {len(jpegs)}")
            feat[dst_key] = _bytes_feature(jpegs)
    if track.get("time_pts") is not None:
        feat[KEY_TIME_PTS] = _int64_feature(_require_shape(track, "time_pts", (2,)))
    return tf.train.Example(features=tf.train.Features(feature=feat))


def _frame_meta_features(track: Mapping[str, Any], n: int) -> dict[str, tf.train.Feature]:
    """Crop bookkeeping: heightwidths, centers, crop_pts (int64), scale_factors, cams (float)."""
    defaults = {
        "heightwidths": np.full((n, 2), IMG_SIZE),
        "centers": np.zeros((n, 2)),
        "crop_pts": np.zeros((n, 2)),
        "scale_factors": np.zeros((n, 2)),
        "cams": np.zeros((n, 3)),
    }
    keys = {
        "heightwidths": KEY_HEIGHTWIDTHS,
        "centers": KEY_CENTERS,
        "crop_pts": KEY_CROP_PTS,
        "scale_factors": KEY_SCALE_FACTORS,
        "cams": KEY_CAMS,
    }
    out = {}
    for name, key in keys.items():
        value = (
            defaults[name]
            if track.get(name) is None
            else _require_shape(track, name, defaults[name].shape)
        )
        is_int = name in ("heightwidths", "centers", "crop_pts")
        out[key] = _int64_feature(np.round(value)) if is_int else _float_feature(value)
    return out


def _label_features(track: Mapping[str, Any], n: int) -> dict[str, tf.train.Feature]:
    """SMPL and 3D-joint ground truth with the original's fill values and flags."""
    has_pose = track.get("pose") is not None and track.get("shape") is not None
    pose = (
        _require_shape(track, "pose", (n, NUM_POSE))
        if has_pose
        else np.full((n, NUM_POSE), MISSING_SMPL_VALUE)
    )
    shape = (
        _require_shape(track, "shape", (NUM_SHAPE,))
        if has_pose
        else np.full((NUM_SHAPE,), MISSING_SMPL_VALUE)
    )
    has_joints = track.get("joints3d") is not None
    joints = (
        _require_shape(track, "joints3d", (n, -1, 3))
        if has_joints
        else np.full((n, NUM_LSP_JOINTS, 3), MISSING_JOINTS3D_VALUE)
    )
    if joints.shape[1] not in (NUM_LSP_JOINTS, NUM_TEST_JOINTS3D):
        raise ValueError(
            f"track['joints3d']: expected {NUM_LSP_JOINTS} or {NUM_TEST_JOINTS3D} "
            f"joints, got {joints.shape[1]}"
        )
    has_smpl = int(track.get("has_smpl", has_pose))
    has_3d_joints = int(track.get("has_3d_joints", has_joints))
    return {
        KEY_POSES: _float_feature(pose),
        KEY_SHAPE: _float_feature(shape),
        KEY_GT3DS: _float_feature(joints),
        KEY_HAS_3D: _int64_feature([has_smpl]),
        KEY_HAS_3D_JOINTS: _int64_feature([has_3d_joints]),
    }


def serialize_sequence_example(track: Mapping[str, Any]) -> bytes:
    """``make_train_example(track).SerializeToString(deterministic=True)``: the bytes of one
    record (the same bytes in every process)."""
    return make_train_example(track).SerializeToString(deterministic=True)


def make_mocap_example(pose: np.ndarray, shape: np.ndarray) -> tf.train.Example:
    """One mocap sample (§6.3): ``pose`` (72,) axis-angle and ``shape`` (10,) betas."""
    pose = np.asarray(pose, dtype=np.float32).reshape(-1)
    shape = np.asarray(shape, dtype=np.float32).reshape(-1)
    if pose.size != NUM_POSE or shape.size != NUM_SHAPE:
        raise ValueError(
            f"mocap example: expected pose ({NUM_POSE},) and shape ({NUM_SHAPE},), "
            f"got {pose.size} and {shape.size} values"
        )
    return tf.train.Example(
        features=tf.train.Features(
            feature={MOCAP_KEY_POSE: _float_feature(pose), MOCAP_KEY_SHAPE: _float_feature(shape)}
        )
    )


# ---------------------------------------------------------------------------------------------
# Reading: NumPy
# ---------------------------------------------------------------------------------------------


def _feature_values(feature: tf.train.Feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def parse_example_np(record: bytes, source: str = "<record>") -> dict[str, Any]:
    """Parse one training/test record with NumPy (tools, tests, evaluation).

    Args:
        record: serialized ``tf.train.Example``.
        source: file name used in error messages.
    Returns:
        dict with ``N``, ``kp2d`` (N, 25, 3) float32, ``phi`` (N, D) or None (D inferred from
        the record, 2048 in the original's), ``pose`` (N, 72),
        ``shape`` (10,), ``joints3d`` (N, 14, 3) (first 14 of 25 in test records),
        ``joints3d_all`` (N, J, 3), ``has_smpl``, ``has_3d_joints`` (int), ``images`` list of
        JPEG bytes (possibly empty), ``filenames`` list of str, ``centers``, ``crop_pts``,
        ``heightwidths`` (N, 2) int64, ``scale_factors`` (N, 2), ``cams`` (N, 3), ``time_pts``
        (2,) or None.
    Raises:
        ValueError naming ``source``: e.g. ``image/phis`` not a whole number of floats per frame.
    """
    example = tf.train.Example()
    try:
        example.ParseFromString(record)
    except Exception as err:  # protobuf raises its own DecodeError
        raise ValueError(f"{source}: not a serialized tf.train.Example ({err})") from None
    try:
        return _parse_features(example.features.feature, source)
    except (TypeError, ValueError, IndexError, OverflowError) as err:
        message = " ".join(str(err).split())
        if message.startswith(source):
            raise ValueError(message) from None
        raise ValueError(f"{source}: malformed record ({type(err).__name__}: {message})") from None


def _parse_features(feats: Any, source: str) -> dict[str, Any]:
    """The body of :func:`parse_example_np` (errors not naming ``source`` are wrapped there)."""

    def get(key: str, dtype: Any = np.float32) -> np.ndarray:
        values = _feature_values(feats[key]) if key in feats else []
        try:
            return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"{source}: '{key}' holds {type(values[0]).__name__} values, expected "
                f"{np.dtype(dtype).name}"
            ) from None

    def first(key: str) -> int:
        values = get(key, np.int64)
        if values.size != 1:
            raise ValueError(f"{source}: '{key}' holds {values.size} values, expected 1")
        return int(values[0])

    n = first(KEY_N) if KEY_N in feats else 0
    if not 1 <= n <= MAX_FRAMES_PER_RECORD:
        raise ValueError(f"{source}: expected '{KEY_N}' in [1, {MAX_FRAMES_PER_RECORD}], got {n}")

    def grid(key: str, shape: tuple[int, ...], dtype: Any = np.float32, fill: float = 0.0):
        values = get(key, dtype)
        if values.size == 0:
            return np.full(shape, fill, dtype)
        if values.size != int(np.prod(shape)):
            raise ValueError(f"{source}: '{key}' has {values.size} values, expected {shape}")
        return values.reshape(shape)

    kp2d = assemble_kp2d_np(
        grid(KEY_XYS, (n, 2, NUM_BODY_KPS)),
        grid(KEY_VISIBILITIES, (n, 1, NUM_BODY_KPS), np.int64),
        grid(KEY_FACE_PTS, (n, 3, NUM_FACE_KPS)),
        grid(KEY_TOE_PTS, (n, 3, NUM_TOE_KPS)),
    )
    gt3ds = get(KEY_GT3DS)
    num_j = gt3ds.size // (3 * n) if gt3ds.size else NUM_LSP_JOINTS
    joints_all = grid(KEY_GT3DS, (n, num_j, 3))
    return {
        "N": n,
        "kp2d": kp2d,
        "phi": _phi_np(get(KEY_PHIS), n, source) if KEY_PHIS in feats else None,
        "pose": grid(KEY_POSES, (n, NUM_POSE), fill=MISSING_SMPL_VALUE),
        "shape": grid(KEY_SHAPE, (NUM_SHAPE,), fill=MISSING_SMPL_VALUE),
        "joints3d": joints_all[:, :NUM_LSP_JOINTS],
        "joints3d_all": joints_all,
        "has_smpl": first(KEY_HAS_3D) if KEY_HAS_3D in feats else 0,
        "has_3d_joints": first(KEY_HAS_3D_JOINTS) if KEY_HAS_3D_JOINTS in feats else 0,
        "images": [bytes(b) for b in _feature_values(feats[KEY_ENCODED])]
        if KEY_ENCODED in feats
        else [],
        "filenames": [b.decode("utf-8", "replace") for b in _feature_values(feats[KEY_FILENAMES])]
        if KEY_FILENAMES in feats
        else [],
        "heightwidths": grid(KEY_HEIGHTWIDTHS, (n, 2), np.int64),
        "centers": grid(KEY_CENTERS, (n, 2), np.int64),
        "crop_pts": grid(KEY_CROP_PTS, (n, 2), np.int64),
        "scale_factors": grid(KEY_SCALE_FACTORS, (n, 2)),
        "cams": grid(KEY_CAMS, (n, 3)),
        "time_pts": get(KEY_TIME_PTS, np.int64) if KEY_TIME_PTS in feats else None,
    }


def _phi_np(values: np.ndarray, n: int, source: str) -> np.ndarray | None:
    """``image/phis`` as ``(N, D)`` with D = len / N (None when the list is empty)."""
    if values.size == 0:
        return None
    if values.size % n:
        raise ValueError(
            f"{source}: '{KEY_PHIS}' holds {values.size} floats for {n} frames, not a "
            "whole number per frame"
        )
    return values.reshape(n, values.size // n)


def phi_width_error(width: int, phi_dim: int, source: str = "<record>") -> str:
    """The message for records whose phi width is not the model's, e.g. ``f.tfrecord: image/phis
    holds 256 floats per frame; the model expects 2048 (--phi_dim)``."""
    return (
        f"{source}: {KEY_PHIS} holds {width} floats per frame; the model expects {phi_dim} "
        "(--phi_dim)"
    )


def parse_mocap_np(record: bytes, source: str = "<record>") -> dict[str, np.ndarray]:
    """Parse one mocap record with NumPy: ``{"pose": (72,), "shape": (10,)}`` float32."""
    example = tf.train.Example()
    example.ParseFromString(record)
    feats = example.features.feature
    out = {}
    for key, size in ((MOCAP_KEY_POSE, NUM_POSE), (MOCAP_KEY_SHAPE, NUM_SHAPE)):
        values = np.asarray(_feature_values(feats[key]) if key in feats else [], np.float32)
        if values.size != size:
            raise ValueError(
                f"{source}: mocap key '{key}' has {values.size} values, expected "
                f"{size}{_MOCAP_HINT if key == MOCAP_KEY_SHAPE else ''}"
            )
        out[key] = values
    return out


_MOCAP_HINT = (
    " (pose-only 'temporal' mocap records cannot train the discriminator; rebuild them "
    "with python -m tfrecords_tools.mocap)"
)

# ---------------------------------------------------------------------------------------------
# Reading: tf graph (tf.data)
# ---------------------------------------------------------------------------------------------


def _var(dtype: tf.DType) -> tf.io.FixedLenSequenceFeature:
    return tf.io.FixedLenSequenceFeature([], dtype, allow_missing=True)


def track_feature_spec(with_phi: bool = True, with_images: bool = False) -> dict[str, Any]:
    """``tf.io.parse_single_example`` spec of a track record; every list tolerates absence."""
    spec = {
        KEY_N: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        KEY_XYS: _var(tf.float32),
        KEY_VISIBILITIES: _var(tf.int64),
        KEY_FACE_PTS: _var(tf.float32),
        KEY_TOE_PTS: _var(tf.float32),
        KEY_POSES: _var(tf.float32),
        KEY_SHAPE: _var(tf.float32),
        KEY_GT3DS: _var(tf.float32),
        KEY_HAS_3D: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        KEY_HAS_3D_JOINTS: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    if with_phi:
        spec[KEY_PHIS] = _var(tf.float32)
    if with_images:
        spec[KEY_ENCODED] = _var(tf.string)
    return spec


def _grid_or_fill(values: tf.Tensor, shape: tf.Tensor, fill: float) -> tf.Tensor:
    """Reshape ``values`` to ``shape``, or ``fill`` that shape when the key was absent."""
    return tf.cond(
        tf.size(values) > 0,
        lambda: tf.reshape(values, shape),
        lambda: tf.fill(shape, tf.constant(fill, values.dtype)),
    )


def _size_ok(values: tf.Tensor, expected: tf.Tensor, optional: bool) -> tf.Tensor:
    size = tf.cast(tf.size(values, out_type=tf.int64), tf.int64)
    ok = tf.equal(size, expected)
    return tf.logical_or(ok, tf.equal(size, 0)) if optional else ok


def _phi_checks(
    phis: tf.Tensor, n: tf.Tensor, phi_dim: int | None
) -> list[tuple[tf.Tensor, str | tf.Tensor]]:
    """``image/phis`` present, a whole number of floats per frame, and ``phi_dim`` of them."""
    size = tf.size(phis, out_type=tf.int64)
    frames = tf.maximum(n, 1)
    width = size // frames
    checks: list[tuple[tf.Tensor, str | tf.Tensor]] = [
        (size > 0, f"'{KEY_PHIS}' of N*D floats (a record without precomputed phi?)"),
        (
            tf.equal(size % frames, 0),
            tf.strings.join(
                [
                    f"'{KEY_PHIS}' holds ",
                    tf.strings.as_string(size),
                    " floats for ",
                    tf.strings.as_string(n),
                    " frames, not a whole number per frame",
                ]
            ),
        ),
    ]
    if phi_dim is not None:
        checks.append(
            (
                tf.equal(width, phi_dim),
                tf.strings.join(
                    [
                        f"{KEY_PHIS} holds ",
                        tf.strings.as_string(width),
                        f" floats per frame; the model expects {phi_dim} (--phi_dim)",
                    ]
                ),
            )
        )
    return checks


def validate_track_tf(
    raw: Mapping[str, tf.Tensor], with_phi: bool = True, phi_dim: int | None = PHI_DIM
) -> tuple[tf.Tensor, tf.Tensor]:
    """Check the list sizes of a parsed record against ``meta/N``.

    Args:
        raw: from ``tf.io.parse_single_example`` with :func:`track_feature_spec`.
        with_phi: require ``image/phis``.
        phi_dim: floats per frame the model expects in ``image/phis``; None accepts any whole
            number per frame.
    Returns:
        ``(ok, reason)``: scalar bool and a scalar string naming the first bad key.
    """
    n = raw[KEY_N]
    checks: list[tuple[tf.Tensor, str | tf.Tensor]] = [
        (n > 0, f"'{KEY_N}' >= 1"),
        (_size_ok(raw[KEY_XYS], n * 2 * NUM_BODY_KPS, False), f"'{KEY_XYS}' of N*2*14 floats"),
        (_size_ok(raw[KEY_VISIBILITIES], n * NUM_BODY_KPS, False), f"'{KEY_VISIBILITIES}' of N*14"),
        (_size_ok(raw[KEY_FACE_PTS], n * 3 * NUM_FACE_KPS, True), f"'{KEY_FACE_PTS}' of N*15"),
        (_size_ok(raw[KEY_TOE_PTS], n * 3 * NUM_TOE_KPS, True), f"'{KEY_TOE_PTS}' of N*18"),
        (_size_ok(raw[KEY_POSES], n * NUM_POSE, True), f"'{KEY_POSES}' of N*72"),
        (_size_ok(raw[KEY_SHAPE], tf.constant(NUM_SHAPE, tf.int64), True), f"'{KEY_SHAPE}' of 10"),
        (
            tf.logical_or(
                _size_ok(raw[KEY_GT3DS], n * NUM_LSP_JOINTS * 3, True),
                _size_ok(raw[KEY_GT3DS], n * NUM_TEST_JOINTS3D * 3, False),
            ),
            f"'{KEY_GT3DS}' of N*14*3 or N*25*3",
        ),
    ]
    if with_phi:
        checks.extend(_phi_checks(raw[KEY_PHIS], n, phi_dim))
    if KEY_ENCODED in raw:
        checks.append((_size_ok(raw[KEY_ENCODED], n, False), f"'{KEY_ENCODED}' of N JPEGs"))
    ok = tf.constant(True)
    reason = tf.constant("")
    for cond, text in reversed(checks):  # the first failing check wins
        why = tf.constant("expected " + text) if isinstance(text, str) else text
        reason = tf.where(cond, reason, why)
        ok = tf.logical_and(ok, cond)
    return ok, reason


def decode_track_tf(
    raw: Mapping[str, tf.Tensor], phi_dim: int | None = PHI_DIM
) -> dict[str, tf.Tensor]:
    """Dense per-track tensors from a validated parsed record.

    Args:
        raw: checked by :func:`validate_track_tf` with the same ``phi_dim``.
        phi_dim: D of ``phi``; None: inferred per record (static shape ``(N, None)``).
    Returns:
        ``N`` int64 scalar, ``kp2d`` (N, 25, 3) assembled as §6.1, ``phi`` (N, D) when parsed,
        ``pose`` (N, 72), ``shape`` (10,), ``joints3d`` (N, 14, 3) (first 14 joints),
        ``has_3d_joints``, ``has_smpl`` float32 scalars, ``jpegs`` (N,) string when parsed.
    """
    n = tf.cast(raw[KEY_N], tf.int32)
    xys = tf.reshape(raw[KEY_XYS], [n, 2, NUM_BODY_KPS])
    vis = tf.cast(tf.reshape(raw[KEY_VISIBILITIES], [n, 1, NUM_BODY_KPS]), tf.float32)
    face = _grid_or_fill(raw[KEY_FACE_PTS], [n, 3, NUM_FACE_KPS], 0.0)
    toes = _grid_or_fill(raw[KEY_TOE_PTS], [n, 3, NUM_TOE_KPS], 0.0)
    cols = tf.concat([tf.concat([xys, vis], axis=1), face, toes], axis=2)  # (N, 3, 25)
    gt3ds = raw[KEY_GT3DS]
    num_j = tf.maximum(tf.size(gt3ds) // (3 * n), 1)
    joints = _grid_or_fill(gt3ds, [n, num_j, 3], MISSING_JOINTS3D_VALUE)
    out = {
        "N": raw[KEY_N],
        "kp2d": tf.ensure_shape(tf.transpose(cols, [0, 2, 1]), [None, NUM_KPS, 3]),
        "pose": tf.ensure_shape(
            _grid_or_fill(raw[KEY_POSES], [n, NUM_POSE], MISSING_SMPL_VALUE), [None, NUM_POSE]
        ),
        "shape": tf.ensure_shape(
            _grid_or_fill(raw[KEY_SHAPE], [NUM_SHAPE], MISSING_SMPL_VALUE), [NUM_SHAPE]
        ),
        "joints3d": tf.ensure_shape(joints[:, :NUM_LSP_JOINTS], [None, NUM_LSP_JOINTS, 3]),
        "has_3d_joints": tf.cast(raw[KEY_HAS_3D_JOINTS], tf.float32),
        "has_smpl": tf.cast(raw[KEY_HAS_3D], tf.float32),
    }
    if KEY_PHIS in raw:
        width = -1 if phi_dim is None else phi_dim
        out["phi"] = tf.ensure_shape(tf.reshape(raw[KEY_PHIS], [n, width]), [None, phi_dim])
    if KEY_ENCODED in raw:
        out["jpegs"] = raw[KEY_ENCODED]
    return out


def parse_track_tf(
    serialized: tf.Tensor,
    with_phi: bool = True,
    with_images: bool = False,
    source: tf.Tensor | str = "<record>",
    phi_dim: int | None = PHI_DIM,
) -> dict[str, tf.Tensor]:
    """Parse and decode one track record in a tf graph, failing with the file name if malformed.

    Args:
        serialized: scalar string, one record.
        with_phi: require and return ``phi`` (N, phi_dim).
        with_images: return ``jpegs`` (N,) (decode them with :func:`decode_jpegs_tf`).
        source: file name for the error message.
        phi_dim: floats per frame the model expects in ``image/phis`` (2048 = ResNet-50 v2); a
            record of another width fails with both widths in the message. None: any width.
    Returns:
        See :func:`decode_track_tf`.
    """
    raw = tf.io.parse_single_example(serialized, track_feature_spec(with_phi, with_images))
    return track_from_raw(raw, with_phi, source, phi_dim)


def track_from_raw(
    raw: Mapping[str, tf.Tensor],
    with_phi: bool = True,
    source: tf.Tensor | str = "<record>",
    phi_dim: int | None = PHI_DIM,
) -> dict[str, tf.Tensor]:
    """:func:`validate_track_tf` (failing with ``source`` in the message) then
    :func:`decode_track_tf`."""
    ok, reason = validate_track_tf(raw, with_phi, phi_dim)
    message = tf.strings.join(["Malformed HMMR track record in ", source, ": ", reason])
    with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
        raw = {k: tf.identity(v) for k, v in raw.items()}
    return decode_track_tf(raw, phi_dim)


def decode_jpegs_tf(jpegs: tf.Tensor, img_size: int | None = None) -> tf.Tensor:
    """``(T,)`` JPEG strings -> ``(T, H, W, 3)`` float32 in [-1, 1] (H = W = img_size if given)."""

    def decode(jpeg: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_jpeg(jpeg, channels=3)

    frames = tf.map_fn(decode, jpegs, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    frames = tf.cast(frames, tf.float32) * (2.0 / 255.0) - 1.0
    if img_size is not None:
        frames = tf.ensure_shape(frames, [None, img_size, img_size, 3])
    return frames


def mocap_feature_spec() -> dict[str, tf.io.FixedLenSequenceFeature]:
    """Spec of a mocap record; lists tolerate absence so a missing key gets a clear error."""
    return {MOCAP_KEY_POSE: _var(tf.float32), MOCAP_KEY_SHAPE: _var(tf.float32)}


def mocap_from_raw(
    raw: Mapping[str, tf.Tensor], source: tf.Tensor | str = "<record>"
) -> dict[str, tf.Tensor]:
    """Check and shape a raw mocap parse: ``{"pose": (72,), "shape": (10,)}``; errors name
    ``source``."""
    ok = tf.logical_and(
        tf.equal(tf.size(raw[MOCAP_KEY_POSE]), NUM_POSE),
        tf.equal(tf.size(raw[MOCAP_KEY_SHAPE]), NUM_SHAPE),
    )
    message = tf.strings.join(
        [
            "Malformed mocap record in ",
            source,
            f": expected '{MOCAP_KEY_POSE}' ({NUM_POSE} floats) and '{MOCAP_KEY_SHAPE}' "
            f"({NUM_SHAPE} floats){_MOCAP_HINT}",
        ]
    )
    with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
        pose = tf.reshape(tf.identity(raw[MOCAP_KEY_POSE]), [NUM_POSE])
        shape = tf.reshape(tf.identity(raw[MOCAP_KEY_SHAPE]), [NUM_SHAPE])
    return {"pose": pose, "shape": shape}


def parse_mocap_tf(
    serialized: tf.Tensor, source: tf.Tensor | str = "<record>"
) -> dict[str, tf.Tensor]:
    """Parse one mocap record: ``{"pose": (72,), "shape": (10,)}``, failing with the file name."""
    return mocap_from_raw(tf.io.parse_single_example(serialized, mocap_feature_spec()), source)
