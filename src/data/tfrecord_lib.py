"""Sharded, atomic, resumable TFRecord writing (and a cheap integrity scan for readers).

Shards are named ``name-00000-of-00050.tfrecord``. Every file is written to a temporary name of
its own (``<path>.<pid>-<random>.tmp``: two writers of one file never share one, as when a Beam
runner retries a file while a stale attempt still runs) and renamed when complete, so a finished
shard is exactly a file with the final name whose record framing is intact; converters resume by
skipping those (:func:`write_shards_parallel`).

A TFRecord file is a sequence of ``uint64 length | uint32 masked-crc32c(length) | data |
uint32 masked-crc32c(data)``. :func:`scan_tfrecord` walks the headers only (one seek per record),
so it detects truncated or non-TFRecord files in milliseconds without reading the payloads.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import secrets
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import tensorflow as tf

TFRECORD_SUFFIX = ".tfrecord"
TMP_SUFFIX = ".tmp"
_HEADER_BYTES = 12  # uint64 length + uint32 crc
_FOOTER_BYTES = 4  # uint32 crc of the data
_CRC_MASK_DELTA = 0xA282EAD8
_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; pure Python, meant for the 8-byte record headers."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The TFRecord checksum: CRC-32C rotated right by 15 plus a constant (mod 2^32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def count_records(path: str | os.PathLike) -> tuple[int, str | None]:
    """Walk the record headers of a TFRecord file without reading the payloads.

    Returns:
        ``(complete_records, problem)``: the number of records before the first framing problem
        and a message naming the file and the byte offset, or ``None`` when the file is intact.
    Raises:
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TFRecord file not found")
    size = path.stat().st_size
    count, offset = 0, 0
    with open(path, "rb") as f:
        while offset < size:
            header = f.read(_HEADER_BYTES)
            if len(header) < _HEADER_BYTES:
                return count, (
                    f"{path}: truncated TFRecord file (partial record header at byte "
                    f"{offset}; file size {size})"
                )
            length_bytes, crc_bytes = header[:8], header[8:]
            if struct.unpack("<I", crc_bytes)[0] != masked_crc32c(length_bytes):
                return count, (
                    f"{path}: not a TFRecord file or corrupted (bad length checksum "
                    f"at byte {offset})"
                )
            end = offset + _HEADER_BYTES + struct.unpack("<Q", length_bytes)[0] + _FOOTER_BYTES
            if end > size:
                return count, (
                    f"{path}: truncated TFRecord file (record {count} needs {end} "
                    f"bytes, file has {size})"
                )
            offset = end
            f.seek(offset)
            count += 1
    return count, None


def scan_tfrecord(path: str | os.PathLike) -> int:
    """Number of records in a TFRecord file, checking the framing but not the payloads.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is truncated or is not an (uncompressed) TFRecord file; the message
            names the file and the byte offset.
    """
    count, problem = count_records(path)
    if problem:
        raise ValueError(problem)
    return count


def is_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` exists with intact framing (a finished shard; used to resume)."""
    try:
        scan_tfrecord(path)
    except (FileNotFoundError, ValueError):
        return False
    return True


def shard_name(name: str, index: int, num_shards: int) -> str:
    """``name-00003-of-00050.tfrecord`` (index counted from 0)."""
    if not 0 <= index < num_shards:
        raise ValueError(f"shard index {index} outside [0, {num_shards})")
    return f"{name}-{index:05d}-of-{num_shards:05d}{TFRECORD_SUFFIX}"


def shard_paths(output_dir: str | os.PathLike, name: str, num_shards: int) -> list[Path]:
    """All shard paths of one sharded file set, in index order."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    return [Path(output_dir) / shard_name(name, i, num_shards) for i in range(num_shards)]


def temp_path(path: Path) -> Path:
    """A temporary name for ``path`` that no other writer uses (``<path>.<pid>-<hex>.tmp``)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def stale_temp_files(path: Path) -> list[Path]:
    """Temporary files an earlier (killed) writer of ``path`` left behind."""
    return sorted(path.parent.glob(f"{glob.escape(path.name)}.*{TMP_SUFFIX}"))


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Write serialized records to ``path`` atomically (a temporary name, then rename).

    Temporary files of earlier killed writers of ``path`` are removed first (a writer still
    running then fails its rename instead of renaming a mixed file).

    Returns:
        The number of records written. On an exception the temp file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_files(path):
        stale.unlink(missing_ok=True)
    tmp = temp_path(path)
    count = 0
    try:
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in records:
                writer.write(record)
                count += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def write_sharded(
    records: Iterable[bytes],
    output_dir: str | os.PathLike,
    name: str,
    num_shards: int,
    mode: str = "round_robin",
) -> list[Path]:
    """Distribute records over ``num_shards`` files, every file written atomically.

    Args:
        records: serialized records.
        output_dir, name, num_shards: see :func:`shard_paths`.
        mode: ``"round_robin"`` (record i -> shard i % num_shards, streaming) or ``"chunked"``
            (consecutive blocks of ceil(n / num_shards) records; holds the records in memory).
    Returns:
        The shard paths (shards that received no record are written empty).
    """
    paths = shard_paths(output_dir, name, num_shards)
    if mode == "chunked":
        items = list(records)
        per_shard = -(-len(items) // num_shards) if items else 1
        for i, path in enumerate(paths):
            write_records(path, items[i * per_shard : (i + 1) * per_shard])
        return paths
    if mode != "round_robin":
        raise ValueError(f"mode: expected 'round_robin' or 'chunked', got {mode!r}")
    tmps = [temp_path(p) for p in paths]
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    writers = [tf.io.TFRecordWriter(str(t)) for t in tmps]
    try:
        for i, record in enumerate(records):
            writers[i % num_shards].write(record)
    except BaseException:
        for writer, tmp in zip(writers, tmps, strict=True):
            writer.close()
            tmp.unlink(missing_ok=True)
        raise
    for writer, tmp, path in zip(writers, tmps, paths, strict=True):
        writer.close()
        os.replace(tmp, path)
    return paths


def _build_and_write(build: Callable[[Any], Iterable[bytes]], path: Path, payload: Any) -> int:
    """Worker body: ``write_records(path, build(payload))``."""
    return write_records(path, build(payload))


def write_shards_parallel(
    tasks: Sequence[tuple[str | os.PathLike, Any]],
    build: Callable[[Any], Iterable[bytes]],
    num_workers: int = 1,
    resume: bool = True,
    desc: str = "shards",
    progress: bool = True,
) -> dict[Path, int]:
    """Build and write many shards, over a process pool, skipping finished ones.

    Args:
        tasks: ``(output_path, payload)`` pairs; ``build(payload)`` yields that shard's records.
        build: a module-level (picklable) function, run in the worker processes.
        num_workers: processes; ``<= 1`` runs in this process (needed when ``build`` uses a model
            already loaded here).
        resume: skip tasks whose output is already complete (:func:`is_complete`).
        desc, progress: tqdm label and switch.
    Returns:
        ``{path: records written}`` for the shards written now (skipped ones are absent).
    Raises:
        RuntimeError: naming the shard whose ``build`` failed (the original error is chained).
    """
    from tqdm import tqdm

    todo = [(Path(p), payload) for p, payload in tasks if not (resume and is_complete(p))]
    written: dict[Path, int] = {}
    bar = tqdm(
        total=len(tasks),
        initial=len(tasks) - len(todo),
        desc=desc,
        disable=not progress,
        unit="shard",
    )
    try:
        if num_workers <= 1:
            for path, payload in todo:
                written[path] = _run_one(build, path, payload)
                bar.update(1)
            return written
        context = multiprocessing.get_context("spawn")  # fork after TF init can deadlock
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
            futures = {pool.submit(_build_and_write, build, p, pl): p for p, pl in todo}
            for future in as_completed(futures):
                path = futures[future]
                try:
                    written[path] = future.result()
                except Exception as err:
                    raise RuntimeError(f"{path}: building this shard failed: {err}") from err
                bar.update(1)
        return written
    finally:
        bar.close()


def _run_one(build: Callable[[Any], Iterable[bytes]], path: Path, payload: Any) -> int:
    try:
        return _build_and_write(build, path, payload)
    except Exception as err:
        raise RuntimeError(f"{path}: building this shard failed: {err}") from err


# ---------------------------------------------------------------------------------------------
# Checked reading (tf.data)
# ---------------------------------------------------------------------------------------------


class ReadStats:
    """Thread-safe counters of what a reading pipeline skipped (``skip_corrupt`` and friends).

    The tf.data graphs report through :meth:`add_tf`, a ``tf.py_function`` run only on the rare
    skip branch, so no ``tf.Variable`` (and no distribution-strategy scope) is involved.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, key: str, amount: int = 1, detail: str = "") -> None:
        """Add ``amount`` to counter ``key``; ``detail`` (e.g. the file) is logged."""
        from absl import logging

        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + int(amount)
        if detail:
            logging.warning("skipped %d (%s): %s", int(amount), key, detail)

    def add_tf(self, key: str, amount: tf.Tensor, detail: tf.Tensor) -> tf.Tensor:
        """Graph op that calls :meth:`add`; returns a scalar ``False`` (for ``filter``)."""

        def bump(amount_t: tf.Tensor, detail_t: tf.Tensor) -> bool:
            self.add(key, int(amount_t.numpy()), detail_t.numpy().decode("utf-8", "replace"))
            return False

        result = tf.py_function(bump, [amount, detail], tf.bool)
        return tf.reshape(result, [])

    def as_dict(self) -> dict[str, int]:
        """A snapshot of the counters."""
        with self._lock:
            return dict(self._counts)


CORRUPT_RECORDS = "corrupt_records"  # ReadStats key: records lost to damaged/unparsable data


def expected_record_counts(
    files: Sequence[str | os.PathLike],
    skip_corrupt: bool = False,
    stats: ReadStats | None = None,
) -> list[int]:
    """Header-scan every file (:func:`count_records`): the number of intact records of each.

    Raises:
        ValueError: naming a truncated/non-TFRecord file, unless ``skip_corrupt`` (then its
            intact leading records are kept and the problem is logged and counted as one record).
    """
    counts = []
    for path in files:
        count, problem = count_records(path)
        if problem and not skip_corrupt:
            raise ValueError(
                problem + " (re-create or re-download it, or skip damaged records "
                "with skip_corrupt)"
            )
        if problem and stats is not None:
            stats.add(CORRUPT_RECORDS, 1, problem)
        counts.append(count)
    return counts


def checked_record_dataset(
    files: Sequence[str | os.PathLike],
    parse_fn: Callable[[tf.Tensor], Any],
    *,
    skip_corrupt: bool = False,
    stats: ReadStats | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    cycle_length: int = 16,
    record_shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Interleaved records of many files, parsed, with damage reported by file name.

    Every file is header-scanned first (:func:`expected_record_counts`). While reading, records
    that fail to read or parse end that file's stream; at its end the number parsed is compared
    with the scan, and a shortfall raises ``InvalidArgumentError`` naming the file (or, with
    ``skip_corrupt``, is counted in ``stats`` under ``"corrupt_records"``). Nothing can hang: an
    unreadable file simply ends early.

    Args:
        files: TFRecord paths.
        parse_fn: ``serialized scalar string -> nested tensors``; must accept ``b""`` (an empty
            Example) without failing, e.g. ``tf.io.parse_single_example`` with defaults or
            ``allow_missing`` lists.
        skip_corrupt: skip and count instead of failing.
        stats: counters for skipped records.
        shuffle: reshuffle the file order every epoch.
        seed: file-shuffle seed.
        cycle_length: files read concurrently.
        record_shard: ``(count, index)``: keep only the records whose position in their file is
            ``index`` modulo ``count`` (workers sharing fewer files than there are workers read
            disjoint records).
    Returns:
        A finite dataset of ``(path, parse_fn(record))``; files are interleaved
        non-deterministically.
    """
    files = [str(f) for f in files]
    if not files:
        raise ValueError("checked_record_dataset: no input files")
    counts = expected_record_counts(files, skip_corrupt, stats)
    paths = tf.data.Dataset.from_tensor_slices((tf.constant(files), tf.constant(counts, tf.int64)))
    if shuffle:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def read_one(path: tf.Tensor, expected: tf.Tensor) -> tf.data.Dataset:
        items = tf.data.TFRecordDataset(path).ignore_errors()
        items = items.map(lambda r: (parse_fn(r), False)).ignore_errors()
        end = tf.data.Dataset.from_tensors(tf.constant(b"")).map(lambda r: (parse_fn(r), True))

        def keep(index: tf.Tensor, item: tuple) -> tf.Tensor:
            is_end = item[1]
            short = tf.logical_and(is_end, tf.not_equal(index, expected))
            wanted = tf.logical_not(is_end)
            if record_shard is not None:
                count, shard = record_shard
                wanted = tf.logical_and(wanted, tf.equal(index % count, shard))
            return tf.cond(
                short,
                lambda: _shortfall(path, index, expected, skip_corrupt, stats),
                lambda: wanted,
            )

        items = items.concatenate(end).enumerate().filter(keep)
        return items.map(lambda index, item: (path, item[0]))

    return paths.interleave(
        read_one,
        cycle_length=min(cycle_length, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )


def _shortfall(
    path: tf.Tensor,
    got: tf.Tensor,
    expected: tf.Tensor,
    skip_corrupt: bool,
    stats: ReadStats | None,
) -> tf.Tensor:
    """Fail (or count) a file whose records could not all be read and parsed; returns False."""
    detail = tf.strings.join(
        [
            "corrupt TFRecord file ",
            path,
            ": only ",
            tf.strings.as_string(got),
            " of ",
            tf.strings.as_string(expected),
            " records could be read and parsed (damaged data, or "
            "records not in the expected schema)",
        ]
    )
    if skip_corrupt:
        if stats is None:
            return tf.constant(False)
        return stats.add_tf(CORRUPT_RECORDS, expected - got, detail)
    message = tf.strings.join([detail, "; re-create or re-download it, or pass skip_corrupt"])
    with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
        return tf.constant(False)
