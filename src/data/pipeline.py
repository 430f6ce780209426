"""The training input pipeline (docs/original_release.md §6.7), on tf.data.

Per dataset side (2D: Penn Action, InstaVariety, VLOG...; 3D: H3.6M):
shard files -> shuffled, interleaved records -> parse (§6.1) -> repeat -> a random window of T
frames per track (start ~ U{0..N-T}, drawn from a ``Dataset.random`` stream so that the input
iterator's checkpoint resumes the same windows). With ``split_balanced`` the two sides
alternate, so about half of each batch comes from H3.6M (if one side has no files, the other's
sorted file list is split into its first and second half, as the original). Then a shuffle over
the original batch queue's capacity ``32 + 14 B``, optional JPEG decoding,
``batch(drop_remainder)``, an optional matching mocap batch (§5.5) and prefetch.

Elements (B = per-replica batch):
    ``phi`` (B, T, D) (D = ``phi_dim``, 2048 for ResNet-50 v2 features; records of another
    width fail with both widths named), ``kp2d`` (B, T, 25, 3) normalised [-1, 1], invisible rows
    zero,
    ``pose`` (B, T, 72), ``shape`` (B, 10), ``joints3d`` (B, T, 14, 3), ``has_3d_joints`` (B,),
    ``has_smpl`` (B,) float32; optional ``images`` (B, T, 224, 224, 3) in [-1, 1];
    optional ``mocap_pose`` (M, 72), ``mocap_shape`` (M, 10).

Damaged inputs never hang: truncated or non-TFRecord files are refused by name when the dataset
is built; damaged records and malformed tracks fail with the file name while reading, or are
skipped and counted in a :class:`~src.data.tfrecord_lib.ReadStats` with ``skip_corrupt``; a phi
width other than ``phi_dim`` is a setting error and always fails (:func:`check_phi_width` checks it
before training starts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from src.constants import IMG_SIZE, PHI_DIM, SEQUENCE_LENGTH
from src.data import schema
from src.data.mocap import DEFAULT_MOCAP_DATASETS, MOCAP_SHUFFLE_BUFFER, make_mocap_dataset
from src.data.tfrecord_lib import ReadStats, checked_record_dataset

DEFAULT_DATASETS = ("h36m", "penn_action", "insta_variety")  # §2.7
THREE_D_DATASETS = ("h36m",)  # the only 3D side of the split-balanced mix (§2.5)
DATASET_DIR_ALIASES = {"h36m": ("h36m", "human36m", "human36m_nomosh")}
MIN_AFTER_DEQUEUE = 32  # the original shuffle queue's min_after_dequeue
QUEUE_SLOTS_PER_SAMPLE = 14  # the original queue's capacity: 32 + (4 threads + 10) * B
SHORT_TRACKS = "short_tracks"  # ReadStats key: tracks with fewer than T frames, skipped
MALFORMED_RECORDS = "malformed_records"  # ReadStats key: records with inconsistent sizes

_PER_FRAME = ("phi", "kp2d", "pose", "joints3d", "jpegs")
_PER_TRACK = ("shape", "has_3d_joints", "has_smpl")


def dataset_files(data_dir: str | os.PathLike, dataset: str, split: str = "train") -> list[str]:
    """Sorted ``<data_dir>/<dataset>/<split>/*.tfrecord`` (``h36m`` also finds ``human36m`` and
    ``human36m_nomosh``); empty when there are none."""
    names = DATASET_DIR_ALIASES.get(dataset, (dataset,))
    found = {str(p) for name in names for p in (Path(data_dir) / name / split).glob("*.tfrecord")}
    return sorted(found)


def split_balanced_files(
    data_dir: str | os.PathLike,
    datasets: Sequence[str],
    split: str = "train",
    three_d_datasets: Sequence[str] = THREE_D_DATASETS,
) -> tuple[list[str], list[str]]:
    """The file lists of the 2D side and the 3D side.

    Raises:
        FileNotFoundError: no dataset has files (the message names the directories searched).
    """
    two_d, three_d = [], []
    for name in datasets:
        (three_d if name in three_d_datasets else two_d).extend(
            dataset_files(data_dir, name, split)
        )
    if not two_d and not three_d:
        searched = ", ".join(f"{Path(data_dir) / n / split}" for n in datasets)
        raise FileNotFoundError(f"no *.tfrecord files in {searched}")
    return two_d, three_d


def shuffle_buffer_size(batch_size: int) -> int:
    """The original ``shuffle_batch`` capacity ``min_after_dequeue + (num_threads + 10) * B``."""
    return MIN_AFTER_DEQUEUE + QUEUE_SLOTS_PER_SAMPLE * batch_size


def _halves(files: list[str]) -> tuple[list[str], list[str]]:
    """Split one file list into its first and second half, as the original's ``split_list``
    (``[:n // 2]``, ``[n // 2:]``); both sides get the file when there is only one (the original
    would have had an empty queue)."""
    if len(files) < 2:
        return files, files
    middle = len(files) // 2
    return files[:middle], files[middle:]


def sample_window(
    track: dict[str, tf.Tensor],
    seq_length: int,
    pad_short: bool = False,
    rng_seed: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """A random window of ``seq_length`` consecutive frames: start ~ U{0, ..., N - T}.

    Args:
        track: decoded track (:func:`src.data.schema.decode_track_tf`), N frames.
        seq_length: T.
        pad_short: for N < T, repeat the last frame (otherwise the caller must skip such tracks).
        rng_seed: (2,) int64 seed of a stateless draw of the start (the training stream takes
            it from a ``tf.data.Dataset.random`` stream, whose state the iterator checkpoint
            keeps, so a resumed run draws the same windows); None: a stateful draw.
    Returns:
        Per-frame fields cut to (T, ...), per-track fields unchanged, and ``start`` (int32).
    """
    n = tf.cast(track["N"], tf.int32)
    last_start = tf.maximum(n - seq_length, 0)
    if rng_seed is None:
        start = tf.random.uniform([], 0, last_start + 1, dtype=tf.int32)
    else:
        start = tf.random.stateless_uniform(
            [], rng_seed, minval=0, maxval=last_start + 1, dtype=tf.int32
        )
    index = start + tf.range(seq_length)
    if pad_short:
        index = tf.minimum(index, n - 1)
    out = {k: tf.gather(track[k], index) for k in _PER_FRAME if k in track}
    out.update({k: track[k] for k in _PER_TRACK})
    out["start"] = start
    return out


def _track_stream(
    files: Sequence[str],
    seq_length: int,
    *,
    with_images: bool,
    pad_short: bool,
    skip_corrupt: bool,
    stats: ReadStats,
    seed: int | None,
    phi_dim: int,
) -> tf.data.Dataset:
    """Endless random windows from one side's files (see module docstring)."""
    spec = schema.track_feature_spec(with_phi=True, with_images=with_images)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_single_example(serialized, spec)

    records = checked_record_dataset(
        files, parse, skip_corrupt=skip_corrupt, stats=stats, seed=seed
    )
    if skip_corrupt:  # skip malformed records, but never a width mismatch (a setting error)
        records = records.filter(lambda path, raw: _keep_valid(path, raw, stats))
    tracks = records.map(
        lambda path, raw: schema.track_from_raw(raw, True, path, phi_dim),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    if not pad_short:
        tracks = tracks.filter(lambda track: _long_enough(track, seq_length, stats))
    # window starts from a random stream the iterator checkpoint keeps (not a stateful op, whose
    # state a restored iterator would lose): a resumed run draws the windows it would have drawn
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    return tf.data.Dataset.zip((_repeat_or_fail(tracks, files, seq_length), seeds)).map(
        lambda track, rng_seed: sample_window(track, seq_length, pad_short, rng_seed),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )


def _keep_valid(path: tf.Tensor, raw: dict[str, tf.Tensor], stats: ReadStats) -> tf.Tensor:
    ok, reason = schema.validate_track_tf(raw, with_phi=True, phi_dim=None)
    detail = tf.strings.join(["malformed HMMR track record in ", path, ": ", reason])
    return tf.cond(
        ok,
        lambda: tf.constant(True),
        lambda: stats.add_tf(MALFORMED_RECORDS, tf.constant(1, tf.int64), detail),
    )


def _long_enough(track: dict[str, tf.Tensor], seq_length: int, stats: ReadStats) -> tf.Tensor:
    long_enough = track["N"] >= seq_length
    return tf.cond(
        long_enough,
        lambda: tf.constant(True),
        lambda: stats.add_tf(SHORT_TRACKS, tf.constant(1, tf.int64), tf.constant("")),
    )


def check_phi_width(files: Sequence[str | os.PathLike], phi_dim: int) -> None:
    """Fail before training when the first record of any of ``files`` has phi of another width.

    Reads one record per file (give one file per dataset to keep it cheap); files without a
    readable first record are left to the pipeline's own checks.

    Raises:
        ValueError: ``<file> (record 0): image/phis holds D floats per frame; the model expects
            phi_dim (--phi_dim)``, or a record whose phi is not a whole number per frame.
    """
    for path in files:
        source = f"{path} (record 0)"
        try:
            first = next(iter(tf.data.TFRecordDataset(str(path)).take(1)), None)
        except tf.errors.OpError:
            continue
        if first is None:
            continue
        try:
            phi = schema.parse_example_np(first.numpy(), source)["phi"]
        except ValueError as err:
            if schema.KEY_PHIS in str(err):
                raise
            continue  # malformed otherwise: reported (or skipped) by the pipeline
        if phi is not None and phi.shape[1] != phi_dim:
            raise ValueError(schema.phi_width_error(phi.shape[1], phi_dim, source))


def _repeat_or_fail(
    tracks: tf.data.Dataset, files: Sequence[str], seq_length: int
) -> tf.data.Dataset:
    """Repeat forever; a pass that yields no track fails with a message instead of spinning."""
    message = (
        f"no usable track in {len(files)} file(s) (e.g. {files[0]}): every track is "
        f"shorter than T={seq_length} frames or was skipped as corrupt"
    )

    def fail(track: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return {k: tf.identity(v) for k, v in track.items()}

    dummy = {
        k: tf.zeros([d if d is not None else 0 for d in v.shape], v.dtype)
        for k, v in tracks.element_spec.items()
    }
    return tracks.repeat().concatenate(tf.data.Dataset.from_tensors(dummy).map(fail))


def _decode_images(window: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Replace ``jpegs`` (T,) by ``images`` (T, 224, 224, 3) in [-1, 1]."""
    window = dict(window)
    window["images"] = schema.decode_jpegs_tf(window.pop("jpegs"), IMG_SIZE)
    return window


def _shard_for_worker(
    files: list[str], input_context: tf.distribute.InputContext | None
) -> list[str]:
    if input_context is None or input_context.num_input_pipelines == 1:
        return files
    return files[input_context.input_pipeline_id :: input_context.num_input_pipelines]


def make_train_dataset(
    data_dir: str | os.PathLike,
    datasets: Sequence[str] = DEFAULT_DATASETS,
    batch_size: int = 8,
    seq_length: int = SEQUENCE_LENGTH,
    *,
    split: str = "train",
    split_balanced: bool = True,
    with_images: bool = False,
    pad_short: bool = False,
    skip_corrupt: bool = False,
    mocap_batch_size: int | None = None,
    mocap_datasets: Sequence[str] = DEFAULT_MOCAP_DATASETS,
    three_d_datasets: Sequence[str] = THREE_D_DATASETS,
    mocap_shuffle_buffer: int = MOCAP_SHUFFLE_BUFFER,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    stats: ReadStats | None = None,
    input_context: tf.distribute.InputContext | None = None,
    phi_dim: int = PHI_DIM,
) -> tf.data.Dataset:
    """Endless training batches (see module docstring for the element layout).

    Args:
        data_dir: TFRecord root, ``<data_dir>/<dataset>/<split>/*.tfrecord``.
        datasets: dataset names (``h36m`` is the 3D side).
        batch_size: global batch B (per-replica under ``input_context``).
        seq_length: T.
        split: sub-directory.
        split_balanced: alternate the 2D and 3D sides (§2.5).
        with_images: also decode the window's JPEG crops into ``images``.
        pad_short: keep tracks shorter than T by repeating their last frame (default: skip and
            count them in ``stats`` under ``"short_tracks"``).
        skip_corrupt: skip damaged/malformed records (counted) instead of failing.
        mocap_batch_size: global number of real mocap samples per batch
            (``src.losses.hmmr_losses.num_real_mocap``); None for no mocap keys.
        mocap_datasets: mocap set names under ``<data_dir>/mocap_neutrMosh``.
        three_d_datasets: the names of ``datasets`` that form the 3D side (``h36m``).
        mocap_shuffle_buffer: mocap samples in their shuffle buffer.
        shuffle_buffer: windows in the shuffle buffer before batching; default
            :func:`shuffle_buffer_size` of the per-replica batch (``32 + 14 B``).
        seed: seed of file order and shuffles (windows stay random).
        stats: skip counters (a fresh one when None; read it with ``stats.as_dict()``).
        input_context: from ``strategy.distribute_datasets_from_function``: files are sharded
            over input pipelines and batch sizes divided over replicas.
        phi_dim: floats per frame in ``image/phis`` (the model's ``phi_dim``); a record of another
            width fails while reading with both widths and the file named.
    Raises:
        FileNotFoundError: no files; ValueError: a truncated/non-TFRecord file (named), or a
            worker left without files.
    """
    stats = stats if stats is not None else ReadStats()
    per_replica = (
        input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    )
    two_d, three_d = split_balanced_files(data_dir, datasets, split, three_d_datasets)
    if split_balanced:
        sides = [two_d, three_d] if two_d and three_d else list(_halves(two_d or three_d))
    else:
        sides = [sorted(two_d + three_d)]
    sides = [_shard_for_worker(files, input_context) for files in sides]
    if any(not files for files in sides):
        raise ValueError(
            f"worker {input_context.input_pipeline_id} of "
            f"{input_context.num_input_pipelines} has no input file: write at least "
            f"as many shards per dataset side as input pipelines"
        )
    streams = [
        _track_stream(
            files,
            seq_length,
            with_images=with_images,
            pad_short=pad_short,
            skip_corrupt=skip_corrupt,
            stats=stats,
            seed=None if seed is None else seed + i,
            phi_dim=phi_dim,
        )
        for i, files in enumerate(sides)
    ]
    if len(streams) == 1:
        mixed = streams[0]
    else:
        mixed = tf.data.Dataset.choose_from_datasets(
            streams, tf.data.Dataset.range(len(streams)).repeat()
        )
    if shuffle_buffer is None:
        shuffle_buffer = shuffle_buffer_size(per_replica)
    mixed = mixed.shuffle(shuffle_buffer, seed=seed).map(
        _finish_window if not with_images else lambda w: _finish_window(_decode_images(w)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    batches = mixed.batch(per_replica, drop_remainder=True)
    if mocap_batch_size:
        mocap = make_mocap_dataset(
            data_dir,
            mocap_batch_size,
            mocap_datasets,
            skip_corrupt=skip_corrupt,
            stats=stats,
            shuffle_buffer=mocap_shuffle_buffer,
            seed=seed,
            input_context=input_context,
        )
        batches = tf.data.Dataset.zip((batches, mocap)).map(_merge_mocap)
    options = tf.data.Options()
    options.deterministic = False
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _finish_window(window: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Drop the bookkeeping keys (``start``, undecoded ``jpegs``)."""
    return {k: v for k, v in window.items() if k not in ("start", "jpegs")}


def _merge_mocap(batch: dict[str, tf.Tensor], mocap: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {**batch, "mocap_pose": mocap["pose"], "mocap_shape": mocap["shape"]}


def make_sequence_dataset(
    files: Sequence[str | os.PathLike],
    *,
    with_phi: bool = False,
    with_images: bool = False,
    phi_dim: int | None = PHI_DIM,
) -> tf.data.Dataset:
    """Whole tracks, in file order, one element per record (evaluation, tools).

    Elements: ``N``, ``kp2d`` (N, 25, 3), ``pose`` (N, 72), ``shape`` (10,), ``joints3d``
    (N, 14, 3), flags, ``phi`` (N, phi_dim) if ``with_phi`` (phi_dim None: any width), ``images``
    (N, H, W, 3) in [-1, 1] if ``with_images``, and ``path``. Damaged files fail with their name.
    """
    files = [str(f) for f in files]
    spec = schema.track_feature_spec(with_phi=with_phi, with_images=with_images)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_single_example(serialized, spec)

    records = checked_record_dataset(files, parse, shuffle=False, cycle_length=1)

    def decode(path: tf.Tensor, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        track = schema.track_from_raw(raw, with_phi, path, phi_dim)
        if with_images:
            track["images"] = schema.decode_jpegs_tf(track.pop("jpegs"))
        track["path"] = path
        return track

    return records.map(decode)
