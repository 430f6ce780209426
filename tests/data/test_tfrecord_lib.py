"""Sharded, atomic, resumable TFRecord writing and the header scan."""

from __future__ import annotations

import zlib

import pytest
import tensorflow as tf

from src.data import tfrecord_lib


def _read_all(path) -> list[bytes]:
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def _records(n: int) -> list[bytes]:
    return [f"record-{i}".encode() for i in range(n)]


def _build_records(payload: int) -> list[bytes]:
    """Module-level builder for the parallel writer (must pickle)."""
    return [f"shard-{payload}-{k}".encode() for k in range(3)]


def _failing_build(payload: int) -> list[bytes]:
    raise OSError("frame folder missing")


def test_shard_names_follow_the_convention(tmp_path):
    paths = tfrecord_lib.shard_paths(tmp_path, "penn_action", 50)
    assert paths[0].name == "penn_action-00000-of-00050.tfrecord"
    assert paths[-1].name == "penn_action-00049-of-00050.tfrecord"
    with pytest.raises(ValueError):
        tfrecord_lib.shard_name("x", 50, 50)


def test_round_robin_sharding_puts_record_i_in_shard_i_mod_k(tmp_path):
    paths = tfrecord_lib.write_sharded(_records(7), tmp_path, "x", 3)
    assert [_read_all(p) for p in paths] == [
        [b"record-0", b"record-3", b"record-6"],
        [b"record-1", b"record-4"],
        [b"record-2", b"record-5"],
    ]
    assert not list(tmp_path.glob("*.tmp"))


def test_chunked_sharding_keeps_consecutive_blocks(tmp_path):
    paths = tfrecord_lib.write_sharded(_records(7), tmp_path, "x", 3, mode="chunked")
    assert [len(_read_all(p)) for p in paths] == [3, 3, 1]
    assert _read_all(paths[1]) == [b"record-3", b"record-4", b"record-5"]


def test_masked_crc_matches_zlib_free_reference_on_known_vector():
    # CRC-32C check value from RFC 3720 (iSCSI): "123456789" -> 0xE3069283
    assert tfrecord_lib.crc32c(b"123456789") == 0xE3069283
    assert zlib.crc32(b"123456789") != 0xE3069283  # i.e. not the plain CRC-32 by mistake


def test_scan_counts_records_and_names_truncated_file(tmp_path):
    path = tmp_path / "a.tfrecord"
    tfrecord_lib.write_records(path, _records(5))
    assert tfrecord_lib.scan_tfrecord(path) == 5
    data = path.read_bytes()
    bad = tmp_path / "truncated.tfrecord"
    bad.write_bytes(data[:-3])
    with pytest.raises(ValueError, match="truncated.tfrecord.*truncated"):
        tfrecord_lib.scan_tfrecord(bad)
    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(b"this is a text file, not records\n")
    with pytest.raises(ValueError, match="junk.tfrecord.*not a TFRecord"):
        tfrecord_lib.scan_tfrecord(junk)
    with pytest.raises(FileNotFoundError, match="missing.tfrecord"):
        tfrecord_lib.scan_tfrecord(tmp_path / "missing.tfrecord")


def test_failed_write_leaves_no_file(tmp_path):
    def broken():
        yield b"ok"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        tfrecord_lib.write_records(tmp_path / "x.tfrecord", broken())
    assert list(tmp_path.iterdir()) == []


def test_resumable_writer_skips_finished_shards_and_redoes_broken_ones(tmp_path):
    paths = tfrecord_lib.shard_paths(tmp_path, "t", 3)
    tfrecord_lib.write_records(paths[0], [b"kept"])
    paths[1].write_bytes(b"\x01\x02")  # a broken leftover
    written = tfrecord_lib.write_shards_parallel(
        [(p, i) for i, p in enumerate(paths)], _build_records, num_workers=1, progress=False
    )
    assert set(written) == {paths[1], paths[2]}
    assert _read_all(paths[0]) == [b"kept"]
    assert _read_all(paths[1]) == [b"shard-1-0", b"shard-1-1", b"shard-1-2"]


def test_builder_failure_names_the_shard(tmp_path):
    path = tmp_path / "bad-00000-of-00001.tfrecord"
    with pytest.raises(RuntimeError, match="bad-00000-of-00001.tfrecord.*frame folder missing"):
        tfrecord_lib.write_shards_parallel([(path, 0)], _failing_build, progress=False)


@pytest.mark.slow
def test_process_pool_writer_writes_every_shard(tmp_path):
    paths = tfrecord_lib.shard_paths(tmp_path, "p", 4)
    written = tfrecord_lib.write_shards_parallel(
        [(p, i) for i, p in enumerate(paths)], _build_records, num_workers=2, progress=False
    )
    assert written == {p: 3 for p in paths}
    assert _read_all(paths[3])[0] == b"shard-3-0"
