"""The tf.data training pipeline on small records written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from src.data import pipeline, schema, tfrecord_lib
from src.data.tube_augmentation import TubeAugmenter, TubeJitter

from .records import marked_track, write_dataset, write_mocap, write_tracks

S = 224
T = 4
FLIP_PERM_25 = [
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    16,
    15,
    18,
    17,
    20,
    19,
    22,
    21,
    24,
    23,
]


def _batches(ds: tf.data.Dataset, count: int) -> list[dict[str, np.ndarray]]:
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(count)]


def _one_file_root(tmp_path, tracks, dataset="penn_action"):
    write_tracks(tmp_path / dataset / "train" / "a.tfrecord", tracks)
    return tmp_path


def _reference_window_kp(kp_px: np.ndarray, center: np.ndarray, flip: bool) -> np.ndarray:
    """Pixel keypoints in the 300 pre-crop -> normalised 224-crop labels, frame by frame."""
    out = np.zeros(kp_px.shape)
    for t in range(len(kp_px)):
        crop = kp_px[t].copy()
        crop[:, 0] -= center[0] - S // 2
        crop[:, 1] -= center[1] - S // 2
        if flip:
            crop = crop[FLIP_PERM_25]
            crop[:, 0] = S - 1 - crop[:, 0]
        for j in range(25):
            if crop[j, 2] > 0:
                out[t, j] = [2 * crop[j, 0] / S - 1, 2 * crop[j, 1] / S - 1, 1.0]
    return out


@pytest.mark.parametrize("flip", [False, True])
def test_keypoint_written_comes_back_at_its_normalised_position(tmp_path, flip):
    rng = np.random.default_rng(0)
    n = 7
    frames = rng.integers(0, 256, size=(n, 300, 300, 3), dtype=np.uint8)
    kp_px = np.concatenate(
        [rng.uniform(60, 240, size=(n, 25, 2)), rng.integers(0, 2, size=(n, 25, 1))], axis=-1
    )
    jitter = TubeJitter(
        flip=flip, translations=np.tile([5, -3], (n, 1)), scale_exponents=np.zeros(n)
    )
    aug = TubeAugmenter()(frames, kp_px, jitter=jitter)
    track = marked_track(n, 1.0, rng)
    track["kp2d"] = aug["kp2d"]
    root = _one_file_root(tmp_path, [track])
    expected = _reference_window_kp(kp_px, np.array([155, 147]), flip)
    for batch in _batches(
        pipeline.make_train_dataset(
            root, ("penn_action",), batch_size=2, seq_length=T, split_balanced=False
        ),
        3,
    ):
        for b in range(2):
            start = int(batch["phi"][b, 0, 0])
            np.testing.assert_allclose(batch["kp2d"][b], expected[start : start + T], atol=1e-5)


def _raw_feature(kind, values):
    values = np.ravel(values)
    if kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values.astype(np.int64).tolist()))


def test_hand_built_original_record_reads_back_with_identical_values(tmp_path):
    rng = np.random.default_rng(1)
    n = 6
    labels = rng.uniform(-1, 1, size=(n, 3, 14))
    labels[:, 2] = rng.integers(0, 2, size=(n, 14))
    face, toes = rng.uniform(-1, 1, size=(n, 3, 5)), rng.uniform(-1, 1, size=(n, 3, 6))
    phis = rng.normal(size=(n, 2048))
    phis[:, 0] = np.arange(n)
    poses, shape, gt3ds = rng.normal(size=(n, 72)), rng.normal(size=10), rng.normal(size=(n, 14, 3))
    feats = {
        "meta/N": _raw_feature("i", [n]),
        "image/xys": _raw_feature("f", labels[:, :2]),
        "image/visibilities": _raw_feature("i", labels[:, 2]),
        "image/face_pts": _raw_feature("f", face),
        "image/toe_pts": _raw_feature("f", toes),
        "image/phis": _raw_feature("f", phis),
        "mosh/poses": _raw_feature("f", poses),
        "mosh/shape": _raw_feature("f", shape),
        "mosh/gt3ds": _raw_feature("f", gt3ds),
        "meta/has_3d": _raw_feature("i", [1]),
        "meta/has_3d_joints": _raw_feature("i", [1]),
    }
    path = tmp_path / "h36m" / "train" / "orig.tfrecord"
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(
            tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()
        )
    kp = np.concatenate([labels, face, toes], axis=2).transpose(0, 2, 1).astype(np.float32)
    batch = _batches(
        pipeline.make_train_dataset(tmp_path, ("h36m",), batch_size=1, seq_length=T), 1
    )[0]
    start = int(batch["phi"][0, 0, 0])
    window = slice(start, start + T)
    np.testing.assert_array_equal(batch["kp2d"][0], kp[window])
    np.testing.assert_array_equal(batch["phi"][0], phis[window].astype(np.float32))
    np.testing.assert_array_equal(batch["pose"][0], poses[window].astype(np.float32))
    np.testing.assert_array_equal(batch["shape"][0], shape.astype(np.float32))
    np.testing.assert_array_equal(batch["joints3d"][0], gt3ds[window].astype(np.float32))
    assert batch["has_smpl"][0] == 1 and batch["has_3d_joints"][0] == 1


def test_windows_are_contiguous_and_cover_every_start(tmp_path):
    rng = np.random.default_rng(2)
    n = 7  # starts 0..3
    root = _one_file_root(tmp_path, [marked_track(n, k, rng) for k in range(3)])
    starts = set()
    for batch in _batches(
        pipeline.make_train_dataset(
            root, ("penn_action",), batch_size=3, seq_length=T, split_balanced=False
        ),
        20,
    ):
        for frames in batch["phi"][:, :, 0]:
            assert frames[0] in range(n - T + 1)
            np.testing.assert_array_equal(frames, frames[0] + np.arange(T))
            starts.add(int(frames[0]))
    assert starts == set(range(n - T + 1))


def test_short_tracks_are_skipped_and_counted_or_padded(tmp_path):
    rng = np.random.default_rng(3)
    root = _one_file_root(tmp_path, [marked_track(T - 2, 1.0, rng), marked_track(T, 2.0, rng)])
    stats = tfrecord_lib.ReadStats()
    batches = _batches(
        pipeline.make_train_dataset(
            root, ("penn_action",), batch_size=2, seq_length=T, split_balanced=False, stats=stats
        ),
        3,
    )
    assert {float(m) for b in batches for m in b["phi"][:, 0, 1]} == {2.0}
    assert stats.as_dict()[pipeline.SHORT_TRACKS] >= 3
    padded = _batches(
        pipeline.make_train_dataset(
            root, ("penn_action",), batch_size=2, seq_length=T, split_balanced=False, pad_short=True
        ),
        4,
    )
    short = [
        w for b in padded for w, m in zip(b["phi"], b["phi"][:, 0, 1], strict=True) if m == 1.0
    ]
    assert short, "the short track should appear when padding"
    np.testing.assert_array_equal(short[0][:, 0], [0, 1, 1, 1])  # last frame repeated


def test_only_short_tracks_fail_with_a_message_instead_of_hanging(tmp_path):
    root = _one_file_root(tmp_path, [marked_track(2, 1.0, np.random.default_rng(4))])
    ds = pipeline.make_train_dataset(
        root, ("penn_action",), batch_size=1, seq_length=T, split_balanced=False
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="no usable track.*a.tfrecord"):
        _batches(ds, 1)


def test_truncated_file_is_refused_by_name(tmp_path):
    rng = np.random.default_rng(5)
    path = write_tracks(
        tmp_path / "penn_action" / "train" / "cut.tfrecord",
        [marked_track(T, 1.0, rng), marked_track(T, 2.0, rng)],
    )
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cut.tfrecord.*truncated"):
        pipeline.make_train_dataset(tmp_path, ("penn_action",), batch_size=1, seq_length=T)


def _damage_second_record(path):
    data = bytearray(path.read_bytes())
    first = int.from_bytes(data[:8], "little") + 16
    data[first + 12 + 50] ^= 0xFF  # inside the second record's payload
    path.write_bytes(bytes(data))


def test_damaged_record_fails_naming_the_file_or_is_skipped_and_counted(tmp_path):
    rng = np.random.default_rng(6)
    write_tracks(tmp_path / "penn_action" / "train" / "good.tfrecord", [marked_track(T, 1.0, rng)])
    bad = write_tracks(
        tmp_path / "penn_action" / "train" / "bad.tfrecord",
        [marked_track(T, 2.0, rng) for _ in range(3)],
    )
    _damage_second_record(bad)
    kwargs = dict(datasets=("penn_action",), batch_size=1, seq_length=T, split_balanced=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad.tfrecord.*1 of 3"):
        _batches(pipeline.make_train_dataset(tmp_path, **kwargs), 20)
    stats = tfrecord_lib.ReadStats()
    batches = _batches(
        pipeline.make_train_dataset(tmp_path, skip_corrupt=True, stats=stats, **kwargs), 20
    )
    assert {float(b["phi"][0, 0, 1]) for b in batches} == {1.0, 2.0}
    assert stats.as_dict()[tfrecord_lib.CORRUPT_RECORDS] >= 2


def test_malformed_track_fails_naming_the_file(tmp_path):
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "meta/N": _raw_feature("i", [T]),
                "image/xys": _raw_feature("f", np.zeros(T * 28)),
                "image/visibilities": _raw_feature("i", np.zeros(T * 14)),
                "image/phis": _raw_feature("f", np.zeros(T * 100)),
            }
        )
    )
    tfrecord_lib.write_records(
        tmp_path / "penn_action" / "train" / "odd.tfrecord", [example.SerializeToString()]
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="odd.tfrecord.*image/phis"):
        _batches(
            pipeline.make_train_dataset(tmp_path, ("penn_action",), batch_size=1, seq_length=T), 1
        )


@pytest.mark.slow  # make test-fast stays under 3 minutes; CI runs it
def test_split_balanced_mix_takes_half_of_each_batch_from_h36m(tmp_path):
    rng = np.random.default_rng(7)
    write_dataset(tmp_path, "penn_action", 2, 3, T + 2, False, 0, rng)
    write_dataset(tmp_path, "insta_variety", 2, 3, T + 2, False, 100, rng)
    write_dataset(tmp_path, "human36m_nomosh", 1, 3, T + 2, True, 200, rng)  # original dir name
    batches = _batches(
        pipeline.make_train_dataset(tmp_path, batch_size=8, seq_length=T, seed=0), 25
    )
    frac_3d = np.mean([b["has_3d_joints"] for b in batches])
    assert 0.4 <= frac_3d <= 0.6
    markers = {float(m) for b in batches for m in b["phi"][:, 0, 1]}
    assert any(m >= 200 for m in markers) and any(100 <= m < 200 for m in markers)
    unbalanced = _batches(
        pipeline.make_train_dataset(
            tmp_path, batch_size=8, seq_length=T, split_balanced=False, seed=0
        ),
        25,
    )
    assert np.mean([b["has_3d_joints"] for b in unbalanced]) < 0.35  # 1 of 5 files is 3D


def test_one_empty_side_splits_the_other_in_two(tmp_path):
    rng = np.random.default_rng(8)
    write_dataset(tmp_path, "penn_action", 2, 2, T, False, 0, rng)
    two_d, three_d = pipeline.split_balanced_files(tmp_path, ("h36m", "penn_action"))
    assert three_d == [] and len(two_d) == 2
    batches = _batches(
        pipeline.make_train_dataset(tmp_path, ("h36m", "penn_action"), batch_size=4, seq_length=T),
        10,
    )
    from_files = {int(m) // 10 for b in batches for m in b["phi"][:, 0, 1]}
    assert from_files == {0, 1}
    with pytest.raises(FileNotFoundError, match="vlog"):
        pipeline.make_train_dataset(tmp_path, ("vlog",), batch_size=1, seq_length=T)


def test_three_d_datasets_names_the_3d_side(tmp_path):
    rng = np.random.default_rng(9)
    write_dataset(tmp_path, "synth_3d", 2, 2, T, True, 0, rng)
    write_dataset(tmp_path, "synth_2d", 3, 2, T, False, 2, rng)
    names = ("synth_3d", "synth_2d")
    two_d, three_d = pipeline.split_balanced_files(tmp_path, names, three_d_datasets=("synth_3d",))
    assert [Path(f).parent.parent.name for f in three_d] == ["synth_3d"] * 2
    assert [Path(f).parent.parent.name for f in two_d] == ["synth_2d"] * 3
    default_two_d, default_three_d = pipeline.split_balanced_files(tmp_path, names)
    assert default_three_d == [] and len(default_two_d) == 5  # h36m is the default 3D side
    batches = _batches(
        pipeline.make_train_dataset(
            tmp_path, names, batch_size=8, seq_length=T, three_d_datasets=("synth_3d",), seed=0
        ),
        25,
    )
    # split-balanced: half of each batch from the 3D side although it has 2 of the 5 files
    assert np.mean([b["has_3d_joints"] for b in batches]) == pytest.approx(0.5, abs=0.1)


def test_an_empty_side_splits_the_file_list_into_first_and_second_half(tmp_path):
    # the original's split_list: [:n // 2] and [n // 2:], so with 3 files part-0 alone is one
    # side and feeds half of the windows (an even/odd split would give it a quarter)
    rng = np.random.default_rng(14)
    write_dataset(tmp_path, "penn_action", 3, 2, T, False, 0, rng)
    batches = _batches(
        pipeline.make_train_dataset(
            tmp_path, ("h36m", "penn_action"), batch_size=4, seq_length=T, shuffle_buffer=1, seed=0
        ),
        20,
    )
    files = np.array([int(m) // 10 for b in batches for m in b["phi"][:, 0, 1]])
    assert set(files) == {0, 1, 2}
    assert 0.4 <= np.mean(files == 0) <= 0.6


@pytest.mark.parametrize(
    "context,expected",
    [
        (None, 32 + 14 * 3),
        (
            tf.distribute.InputContext(
                num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=3
            ),
            32 + 14 * 1,
        ),
    ],
)
def test_batch_shuffle_buffer_is_the_original_queue_capacity(
    tmp_path, monkeypatch, context, expected
):
    # shuffle_batch(capacity = min_after_dequeue 32 + (4 threads + 10) * B) of the original
    write_dataset(tmp_path, "penn_action", 1, 2, T, False, 0, np.random.default_rng(15))
    sizes = []
    shuffle = tf.data.Dataset.shuffle

    def spy(self, buffer_size, *args, **kwargs):
        sizes.append(int(buffer_size))
        return shuffle(self, buffer_size, *args, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "shuffle", spy)
    ds = pipeline.make_train_dataset(
        tmp_path,
        ("penn_action",),
        batch_size=3,
        seq_length=T,
        split_balanced=False,
        input_context=context,
    )
    assert expected in sizes
    assert pipeline.shuffle_buffer_size(8) == 144
    assert len(_batches(ds, 1)) == 1


def test_mocap_batch_is_zipped_with_the_requested_size(tmp_path):
    rng = np.random.default_rng(9)
    write_dataset(tmp_path, "penn_action", 1, 2, T, False, 0, rng)
    poses, shapes = rng.normal(size=(30, 72)), rng.normal(size=(30, 10))
    write_mocap(tmp_path, "CMU", 0, poses[:15], shapes[:15])
    write_mocap(tmp_path, "jointLim", 0, poses[15:], shapes[15:])
    batch = _batches(
        pipeline.make_train_dataset(
            tmp_path,
            ("penn_action",),
            batch_size=2,
            seq_length=T,
            mocap_batch_size=12,
            mocap_shuffle_buffer=64,
        ),
        1,
    )[0]
    assert batch["mocap_pose"].shape == (12, 72) and batch["mocap_shape"].shape == (12, 10)
    for pose, shape in zip(batch["mocap_pose"], batch["mocap_shape"], strict=True):
        k = int(np.argmin(np.abs(poses - pose).sum(axis=1)))
        np.testing.assert_allclose(pose, poses[k], atol=1e-6)
        np.testing.assert_allclose(shape, shapes[k], atol=1e-6)


def test_workers_read_disjoint_file_shards_with_per_replica_batches(tmp_path):
    rng = np.random.default_rng(10)
    write_dataset(tmp_path, "penn_action", 4, 2, T, False, 0, rng)
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2
    )
    batches = _batches(
        pipeline.make_train_dataset(
            tmp_path,
            ("penn_action",),
            batch_size=4,
            seq_length=T,
            split_balanced=False,
            input_context=context,
        ),
        8,
    )
    assert all(b["phi"].shape[0] == 2 for b in batches)
    assert {int(m) // 10 for b in batches for m in b["phi"][:, 0, 1]} == {1, 3}


def test_usable_from_distribute_datasets_from_function(tmp_path):
    rng = np.random.default_rng(11)
    write_dataset(tmp_path, "penn_action", 1, 2, T, False, 0, rng)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    dist = strategy.distribute_datasets_from_function(
        lambda ctx: pipeline.make_train_dataset(
            tmp_path, ("penn_action",), batch_size=2, seq_length=T, input_context=ctx
        )
    )
    batch = next(iter(dist))
    assert batch["phi"].shape == (2, T, 2048)


def test_images_are_decoded_only_for_the_window(tmp_path):
    rng = np.random.default_rng(12)
    n = 6
    track = marked_track(n, 1.0, rng)
    gray = np.arange(n) * 40  # frame t is a flat image of value 40 t
    track["images"] = np.stack([np.full((S, S, 3), v, np.uint8) for v in gray])
    root = _one_file_root(tmp_path, [track])
    batch = _batches(
        pipeline.make_train_dataset(
            root, ("penn_action",), batch_size=1, seq_length=T, with_images=True
        ),
        1,
    )[0]
    start = int(batch["phi"][0, 0, 0])
    assert batch["images"].shape == (1, T, S, S, 3)
    expected = gray[start : start + T] / 255.0 * 2 - 1
    np.testing.assert_allclose(batch["images"][0].mean(axis=(1, 2, 3)), expected, atol=0.02)


def test_sequence_dataset_returns_whole_tracks_in_file_order(tmp_path):
    rng = np.random.default_rng(13)
    tracks = [marked_track(5, 1.0, rng), marked_track(8, 2.0, rng)]
    path = write_tracks(tmp_path / "t.tfrecord", tracks)
    got = list(pipeline.make_sequence_dataset([path], with_phi=True))
    assert [int(t["N"]) for t in got] == [5, 8]
    np.testing.assert_allclose(
        got[1]["kp2d"].numpy(),
        schema.parse_example_np(schema.serialize_sequence_example(tracks[1]))["kp2d"],
        atol=0,
    )
    assert got[0]["path"].numpy().decode().endswith("t.tfrecord")


# --------------------------------------------------------------------------------------------
# phi of another width than 2048 (reduced-width experiments)

SMALL_PHI = 64
WIDTH_MISMATCH = r"image/phis holds 64 floats per frame; the model expects 2048 \(--phi_dim\)"


def test_reduced_width_records_batch_into_b_t_d(tmp_path):
    rng = np.random.default_rng(14)
    write_dataset(tmp_path, "penn_action", 1, 3, T + 2, False, 0, rng)  # 2048-D: not read
    tracks = [marked_track(T + 2, 10.0 + k, rng, has_3d=True, phi_dim=SMALL_PHI) for k in range(3)]
    write_tracks(tmp_path / "h36m" / "train" / "small.tfrecord", tracks)
    ds = pipeline.make_train_dataset(
        tmp_path, ("h36m",), batch_size=2, seq_length=T, split_balanced=False, phi_dim=SMALL_PHI
    )
    assert ds.element_spec["phi"].shape.as_list() == [2, T, SMALL_PHI]
    for batch in _batches(ds, 4):
        assert batch["phi"].shape == (2, T, SMALL_PHI)
        for window in batch["phi"]:
            start = int(window[0, 0])
            np.testing.assert_array_equal(window[:, 0], start + np.arange(T))  # frame index
            assert float(window[0, 1]) in (10.0, 11.0, 12.0)  # the track's marker
            assert not window[:, 2:].any()
    whole = list(
        pipeline.make_sequence_dataset(
            [tmp_path / "h36m" / "train" / "small.tfrecord"], with_phi=True, phi_dim=SMALL_PHI
        )
    )
    np.testing.assert_array_equal(whole[1]["phi"].numpy(), tracks[1]["phi"])


@pytest.mark.parametrize("skip_corrupt", [False, True])
def test_width_mismatch_fails_naming_the_file_and_both_widths(tmp_path, skip_corrupt):
    rng = np.random.default_rng(15)
    root = _one_file_root(tmp_path, [marked_track(T, 1.0, rng, phi_dim=SMALL_PHI)])
    ds = pipeline.make_train_dataset(
        root,
        ("penn_action",),
        batch_size=1,
        seq_length=T,
        split_balanced=False,
        skip_corrupt=skip_corrupt,
    )
    # a setting error, never skipped as a corrupt record
    with pytest.raises(tf.errors.InvalidArgumentError, match="a.tfrecord: " + WIDTH_MISMATCH):
        _batches(ds, 1)


def test_check_phi_width_reads_the_first_record_and_names_the_file(tmp_path):
    rng = np.random.default_rng(16)
    small = write_tracks(tmp_path / "small.tfrecord", [marked_track(T, 1.0, rng, phi_dim=64)])
    full = write_tracks(tmp_path / "full.tfrecord", [marked_track(T, 1.0, rng)])
    pipeline.check_phi_width([small], SMALL_PHI)
    pipeline.check_phi_width([full], 2048)
    with pytest.raises(ValueError, match=r"small.tfrecord \(record 0\): " + WIDTH_MISMATCH):
        pipeline.check_phi_width([full, small], 2048)
    with pytest.raises(ValueError, match="full.tfrecord.*2048 floats per frame.*expects 64"):
        pipeline.check_phi_width([full], SMALL_PHI)
