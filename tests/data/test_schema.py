"""Schema: records hand-built in the original layout parse back with identical values."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from src.data import schema

N = 4
PHI = 2048


def _f(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values).tolist()))


def _i(values) -> tf.train.Feature:
    ints = np.ravel(values).astype(np.int64).tolist()
    return tf.train.Feature(int64_list=tf.train.Int64List(value=ints))


def _b(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _original_record(rng: np.random.Generator, num_joints3d: int = 14) -> tuple[bytes, dict]:
    """A record written field by field as the original converters did (not via our writer)."""
    labels = rng.uniform(-1, 1, size=(N, 3, 14))  # rows x, y, vis, as the original's (N, 3, 14)
    labels[:, 2] = rng.integers(0, 2, size=(N, 14))
    face = rng.uniform(-1, 1, size=(N, 3, 5))
    toes = rng.uniform(-1, 1, size=(N, 3, 6))
    phis = rng.normal(size=(N, PHI))
    poses = rng.normal(size=(N, 72))
    shape = rng.normal(size=10)
    gt3ds = rng.normal(size=(N, num_joints3d, 3))
    feat = {
        "meta/N": _i([N]),
        "image/filenames": _b([f"frame{k}.jpg".encode() for k in range(N)]),
        "image/heightwidths": _i(np.full((N, 2), 224)),
        "image/centers": _i(rng.integers(0, 300, size=(N, 2))),
        "image/scale_factors": _f(rng.uniform(0.5, 2, size=(N, 2))),
        "image/crop_pts": _i(rng.integers(0, 300, size=(N, 2))),
        "image/xys": _f(labels[:, :2]),
        "image/visibilities": _i(labels[:, 2].astype(np.int64)),
        "image/face_pts": _f(face),
        "image/toe_pts": _f(toes),
        "image/phis": _f(phis),
        "image/cams": _f(np.zeros((N, 3))),
        "mosh/poses": _f(poses),
        "mosh/shape": _f(shape),
        "mosh/gt3ds": _f(gt3ds),
        "meta/has_3d": _i([1]),
        "meta/has_3d_joints": _i([1]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feat))
    # Independent expectation: per frame, columns [x; y; vis] of 14, then face, then toes -> 25x3.
    expected_kp = np.zeros((N, 25, 3))
    for t in range(N):
        for j in range(14):
            expected_kp[t, j] = labels[t, :, j]
        for j in range(5):
            expected_kp[t, 14 + j] = face[t, :, j]
        for j in range(6):
            expected_kp[t, 19 + j] = toes[t, :, j]
    truth = {
        "kp2d": expected_kp,
        "phi": phis,
        "pose": poses,
        "shape": shape,
        "joints3d": gt3ds[:, :14],
    }
    return example.SerializeToString(), truth


@pytest.mark.parametrize("num_joints3d", [14, 25])
def test_hand_built_original_record_parses_identically_numpy(num_joints3d):
    record, truth = _original_record(np.random.default_rng(0), num_joints3d)
    parsed = schema.parse_example_np(record)
    assert parsed["N"] == N
    for key in truth:
        np.testing.assert_allclose(parsed[key], truth[key].astype(np.float32), rtol=0, atol=0)
    assert parsed["has_smpl"] == 1 and parsed["has_3d_joints"] == 1
    assert parsed["filenames"][2] == "frame2.jpg"


@pytest.mark.parametrize("num_joints3d", [14, 25])
def test_hand_built_original_record_parses_identically_tf(num_joints3d):
    record, truth = _original_record(np.random.default_rng(1), num_joints3d)
    parsed = schema.parse_track_tf(tf.constant(record))
    for key in truth:
        np.testing.assert_allclose(parsed[key].numpy(), truth[key].astype(np.float32), atol=0)
    assert parsed["joints3d"].shape == (N, 14, 3)
    assert float(parsed["has_smpl"]) == 1.0


def test_writer_output_matches_original_layout_field_by_field():
    rng = np.random.default_rng(2)
    kp = rng.uniform(-1, 1, size=(N, 25, 3)).astype(np.float32)
    kp[..., 2] = rng.integers(0, 2, size=(N, 25))
    example = schema.make_train_example({"kp2d": kp, "phi": np.ones((N, PHI))})
    feats = example.features.feature
    xys = np.asarray(feats["image/xys"].float_list.value).reshape(N, 2, 14)
    # frame-major, all x then all y
    np.testing.assert_array_equal(xys[1, 0], kp[1, :14, 0])
    np.testing.assert_array_equal(xys[1, 1], kp[1, :14, 1])
    vis = np.asarray(feats["image/visibilities"].int64_list.value).reshape(N, 14)
    np.testing.assert_array_equal(vis, kp[:, :14, 2].astype(np.int64))
    face = np.asarray(feats["image/face_pts"].float_list.value).reshape(N, 3, 5)
    np.testing.assert_array_equal(face[3].T, kp[3, 14:19])
    toes = np.asarray(feats["image/toe_pts"].float_list.value).reshape(N, 3, 6)
    np.testing.assert_array_equal(toes[0].T, kp[0, 19:25])
    # unavailable labels use the original's fill values and flags
    assert set(feats["mosh/poses"].float_list.value) == {-1.0}
    assert set(feats["mosh/shape"].float_list.value) == {-1.0}
    assert set(feats["mosh/gt3ds"].float_list.value) == {0.0}
    assert feats["meta/has_3d"].int64_list.value[0] == 0
    assert feats["meta/has_3d_joints"].int64_list.value[0] == 0


def test_writer_round_trip_with_images_and_labels():
    rng = np.random.default_rng(3)
    kp = rng.uniform(-1, 1, size=(N, 25, 3))
    kp[..., 2] = 1
    images = rng.integers(0, 255, size=(N, 8, 8, 3), dtype=np.uint8)
    track = {
        "kp2d": kp,
        "images": images,
        "pose": rng.normal(size=(N, 72)),
        "shape": rng.normal(size=10),
        "joints3d": rng.normal(size=(N, 14, 3)),
        "time_pts": [3, 3 + N],
        "filenames": np.array([f"im{k}.png" for k in range(N)]),
    }
    parsed = schema.parse_example_np(schema.serialize_sequence_example(track))
    np.testing.assert_allclose(parsed["kp2d"], kp, atol=1e-6)
    np.testing.assert_allclose(parsed["pose"], track["pose"], atol=1e-6)
    assert parsed["has_smpl"] == 1 and parsed["has_3d_joints"] == 1
    assert len(parsed["images"]) == N and parsed["time_pts"].tolist() == [3, 3 + N]
    assert parsed["filenames"] == [f"im{k}.png" for k in range(N)]
    decoded = schema.decode_jpegs_tf(tf.constant(parsed["images"])).numpy()
    assert decoded.shape == (N, 8, 8, 3)
    assert decoded.min() >= -1.0 and decoded.max() <= 1.0


def test_tf_parse_of_record_without_phi_names_the_source():
    record = schema.serialize_sequence_example({"kp2d": np.zeros((N, 25, 3))})
    with pytest.raises(tf.errors.InvalidArgumentError, match="my_file.tfrecord.*image/phis"):
        schema.parse_track_tf(tf.constant(record), source="my_file.tfrecord")


def test_tf_parse_rejects_wrong_xys_length():
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "meta/N": _i([2]),
                "image/xys": _f(np.zeros(27)),
                "image/visibilities": _i(np.zeros(28)),
            }
        )
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad.tfrecord.*image/xys"):
        schema.parse_track_tf(
            tf.constant(example.SerializeToString()), with_phi=False, source="bad.tfrecord"
        )


def test_writer_rejects_wrong_keypoint_shape():
    with pytest.raises(ValueError, match="kp2d"):
        schema.make_train_example({"kp2d": np.zeros((N, 14, 3))})


def test_mocap_record_round_trip_and_pose_only_record_error():
    pose, shape = np.arange(72) / 10.0, np.arange(10) / 7.0
    record = schema.make_mocap_example(pose, shape).SerializeToString()
    parsed = schema.parse_mocap_tf(tf.constant(record))
    np.testing.assert_allclose(parsed["pose"].numpy(), pose, atol=1e-6)
    np.testing.assert_allclose(schema.parse_mocap_np(record)["shape"], shape, atol=1e-6)
    pose_only = tf.train.Example(features=tf.train.Features(feature={"pose": _f(pose)}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="cmu_000.tfrecord.*shape"):
        schema.parse_mocap_tf(tf.constant(pose_only.SerializeToString()), source="cmu_000.tfrecord")
    with pytest.raises(ValueError, match="shape"):
        schema.parse_mocap_np(pose_only.SerializeToString())


# --------------------------------------------------------------------------------------------
# phi of another width than 2048 (reduced-width experiments)

SMALL_PHI = 64


def _track_with_phi(phi: np.ndarray) -> dict:
    kp = np.zeros((len(phi), 25, 3))
    kp[..., 2] = 1.0
    return {"kp2d": kp, "phi": phi}


def test_reduced_width_phi_round_trips_through_both_readers():
    phi = np.random.default_rng(10).normal(size=(N, SMALL_PHI)).astype(np.float32)
    record = schema.serialize_sequence_example(_track_with_phi(phi))
    feats = tf.train.Example.FromString(record).features.feature
    assert len(feats["image/phis"].float_list.value) == N * SMALL_PHI  # same key, N*D floats
    np.testing.assert_array_equal(schema.parse_example_np(record)["phi"], phi)
    parsed = schema.parse_track_tf(tf.constant(record), phi_dim=SMALL_PHI)
    np.testing.assert_array_equal(parsed["phi"].numpy(), phi)
    any_width = schema.parse_track_tf(tf.constant(record), phi_dim=None)
    np.testing.assert_array_equal(any_width["phi"].numpy(), phi)


def test_tf_parse_names_the_record_and_both_widths_on_a_width_mismatch():
    record = schema.serialize_sequence_example(_track_with_phi(np.zeros((N, SMALL_PHI))))
    expected = (
        r"small.tfrecord: image/phis holds 64 floats per frame; the model expects 2048 "
        r"\(--phi_dim\)"
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        schema.parse_track_tf(tf.constant(record), source="small.tfrecord")
    full = schema.serialize_sequence_example(_track_with_phi(np.zeros((N, PHI))))
    with pytest.raises(tf.errors.InvalidArgumentError, match="2048 floats per frame.*expects 64"):
        schema.parse_track_tf(tf.constant(full), phi_dim=SMALL_PHI)


def test_phi_that_is_not_a_whole_number_per_frame_is_refused_by_name():
    example = tf.train.Example.FromString(
        schema.serialize_sequence_example(_track_with_phi(np.zeros((N, SMALL_PHI))))
    )
    example.features.feature["image/phis"].float_list.value.append(1.0)  # N * 64 + 1 floats
    record = example.SerializeToString()
    with pytest.raises(ValueError, match="odd.tfrecord.*image/phis.*257 floats for 4 frames"):
        schema.parse_example_np(record, source="odd.tfrecord")
    with pytest.raises(tf.errors.InvalidArgumentError, match="odd.tfrecord.*257 floats for 4"):
        schema.parse_track_tf(tf.constant(record), source="odd.tfrecord", phi_dim=None)


@pytest.mark.parametrize("shape", [(N, 0), (N + 1, SMALL_PHI), (N,)])
def test_writer_refuses_phi_without_one_row_of_at_least_one_float_per_frame(shape):
    with pytest.raises(ValueError, match="phi"):
        schema.make_train_example(_track_with_phi(np.zeros((N, 1))) | {"phi": np.zeros(shape)})
