"""Property-based fuzzing (hypothesis) of every parser of outside data.

The contract, for any input: the parser returns, or raises ``ValueError`` (or a subclass: the
module's own error type) / ``FileNotFoundError`` with ONE line that names the file; nothing
hangs, and nothing allocates what a corrupt header claims (a pickle declaring a 1e12-element
array, a BVH declaring 1e12 frames, a record with ``meta/N`` = 1e12, a CSV naming frame 1e12).
Rows of docs/reliability.md point here.
"""

from __future__ import annotations

import copyreg
import gzip
import io
import json
import pickle
import signal
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from src.data import schema
from src.motion import bvh as bvh_lib
from src.smpl import io as smpl_io
from src.smpl.standin import write_standin_model
from src.video import tracks
from tests.timeouts import scaled
from tfrecords_tools import h36m, penn_action, threedpw

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples in every run: CI failures reproduce
)
ALLOCATION_LIMIT = 256 << 20  # bytes: far above what the small inputs here need


@contextmanager
def _scratch(name: str, data: bytes | str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        yield path


@contextmanager
def _bounded(seconds: float = 60.0) -> Iterator[None]:
    """Fail (instead of hanging) past ``seconds``; fail when more than :data:`ALLOCATION_LIMIT`
    bytes were held at once (numpy reports its buffers to tracemalloc)."""

    def alarm(signum, frame):
        raise TimeoutError(f"parser still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(int(scaled(seconds)))
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < ALLOCATION_LIMIT, f"peak allocation {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _parses_or_fails_cleanly(parse: Callable[[], object], path: Path | str) -> object | None:
    """Run ``parse``; an error must be a one-line ValueError / FileNotFoundError naming ``path``."""
    with _bounded():
        try:
            return parse()
        except (ValueError, FileNotFoundError) as err:
            message = str(err)
            assert str(path) in message, message
            assert "\n" not in message, message
            return None


# ------------------------------------------------------------------------------------------------
# TFRecord examples against the schema

_KEYS = [
    schema.KEY_N, schema.KEY_XYS, schema.KEY_VISIBILITIES, schema.KEY_FACE_PTS,
    schema.KEY_TOE_PTS, schema.KEY_PHIS, schema.KEY_POSES, schema.KEY_SHAPE, schema.KEY_GT3DS,
    schema.KEY_HAS_3D, schema.KEY_HAS_3D_JOINTS, schema.KEY_ENCODED, schema.KEY_FILENAMES,
    schema.KEY_CENTERS, schema.KEY_CAMS, schema.KEY_TIME_PTS, schema.KEY_HEIGHTWIDTHS,
]  # fmt: skip
_INT64 = st.integers(-(2**63), 2**63 - 1)
_VALUES = st.one_of(
    st.tuples(st.just("int64"), st.lists(st.one_of(st.integers(-3, 40), _INT64), max_size=60)),
    st.tuples(st.just("float"), st.lists(st.floats(width=32), max_size=60)),
    st.tuples(st.just("bytes"), st.lists(st.binary(max_size=8), max_size=4)),
)


def _example(features: dict[str, tuple[str, list]]) -> bytes:
    import tensorflow as tf

    feature = {}
    for key, (kind, values) in features.items():
        if kind == "int64":
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        elif kind == "float":
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


@FUZZ
@given(features=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8),
       n=st.one_of(st.integers(-2, 4), st.just(10**12), st.none()))  # fmt: skip
def test_tfrecord_example_parser_accepts_or_names_the_file(features, n):
    if n is not None:
        features[schema.KEY_N] = ("int64", [n])
    record = _example(features)
    source = "shard-00000-of-00001.tfrecord"
    _parses_or_fails_cleanly(lambda: schema.parse_example_np(record, source), source)


@FUZZ
@given(record=st.binary(max_size=300))
def test_tfrecord_random_bytes_are_refused_naming_the_file(record):
    source = "shard-00003-of-00016.tfrecord"
    _parses_or_fails_cleanly(lambda: schema.parse_example_np(record, source), source)


def test_tfrecord_claiming_a_trillion_frames_is_refused_before_allocating():
    record = _example({schema.KEY_N: ("int64", [10**12])})
    with _bounded(), pytest.raises(ValueError, match=r"f\.tfrecord: expected 'meta/N' in \[1"):
        schema.parse_example_np(record, "f.tfrecord")


# ------------------------------------------------------------------------------------------------
# OpenPose / AlphaPose JSON and the box CSV

_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=40,
)
_POINTS = st.lists(st.one_of(st.floats(-1e3, 1e3), st.integers(-5, 2000), st.text(max_size=2)),
                   max_size=80)  # fmt: skip
_PERSON = st.fixed_dictionaries(
    {},
    optional={
        "pose_keypoints_2d": _POINTS, "keypoints": _POINTS, "idx": _JSON, "score": _JSON,
        "scores": _JSON, "image_id": st.one_of(st.text(max_size=12), st.integers()),
    },
)  # fmt: skip
_OPENPOSE = st.one_of(_JSON, st.fixed_dictionaries({"people": st.lists(_PERSON, max_size=4)}))
_ALPHAPOSE = st.one_of(
    st.lists(_PERSON, max_size=5),
    st.dictionaries(st.text(max_size=12), st.lists(_PERSON, max_size=3), max_size=4),
    _JSON,
)


@FUZZ
@given(data=_OPENPOSE)
def test_openpose_json_reader_accepts_or_names_the_file(data):
    with _scratch("frame_000003_keypoints.json", json.dumps(data)) as path:
        _parses_or_fails_cleanly(lambda: tracks.read_openpose_json(path), path)
        _parses_or_fails_cleanly(lambda: tracks.read_detections(path, 4), path)
        _parses_or_fails_cleanly(lambda: tracks.read_openpose_folder(path.parent, 4), path.parent)


@FUZZ
@given(data=_ALPHAPOSE)
def test_alphapose_json_reader_accepts_or_names_the_file(data):
    with _scratch("alphapose-results.json", json.dumps(data)) as path:
        _parses_or_fails_cleanly(lambda: tracks.read_alphapose_json(path, 4), path)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_json_readers_refuse_random_text_naming_the_file(text):
    with _scratch("tracks.json", text) as path:
        _parses_or_fails_cleanly(lambda: tracks.read_alphapose_json(path), path)
        _parses_or_fails_cleanly(lambda: tracks.read_openpose_json(path), path)


def test_json_nested_too_deeply_is_one_line():
    with _scratch("deep.json", "[" * 100_000 + "]" * 100_000) as path:
        with pytest.raises(ValueError, match="deep.json"):
            tracks.read_alphapose_json(path)


_FIELD = st.one_of(
    st.integers(-3, 50).map(str), st.just("1" + "0" * 12), st.floats().map(str),
    st.text(max_size=5), st.just("9" * 5000),
)  # fmt: skip
_ROWS = st.lists(st.lists(_FIELD, min_size=0, max_size=8).map(",".join), max_size=12)


@FUZZ
@given(rows=_ROWS, header=st.booleans())
def test_box_csv_reader_accepts_or_names_the_file(rows, header):
    text = ("frame,track_id,x1,y1,x2,y2\n" if header else "") + "\n".join(rows)
    with _scratch("boxes.csv", text) as path:
        _parses_or_fails_cleanly(lambda: tracks.read_box_file(path, 10), path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_box_csv_reader_refuses_binary_naming_the_file(data):
    with _scratch("boxes.csv", data) as path:
        _parses_or_fails_cleanly(lambda: tracks.read_box_file(path), path)


def test_box_csv_naming_frame_1e12_is_refused_before_allocating():
    with _scratch("boxes.csv", "1000000000000,0,1,1,5,5\n") as path:
        with _bounded(), pytest.raises(ValueError, match=r"boxes\.csv:1: expected 0 <= frame"):
            tracks.read_box_file(path)
    with _scratch("boxes.csv", "x" * 200_000 + "\n") as path:  # over the csv module's field limit
        with pytest.raises(ValueError, match=r"boxes\.csv: unexpected content"):
            tracks.read_box_file(path)


def test_alphapose_image_named_frame_1e12_is_refused_before_allocating():
    person = {"image_id": "1000000000000.jpg", "keypoints": [1.0] * 51, "score": 1.0}
    with _scratch("alphapose-results.json", json.dumps([person])) as path:
        with _bounded(), pytest.raises(ValueError, match="frame number 1000000000000 is over"):
            tracks.read_alphapose_json(path)


# ------------------------------------------------------------------------------------------------
# SMPL pickles


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> tuple[bytes, dict[str, np.ndarray]]:
    path = write_standin_model(tmp_path_factory.mktemp("body") / "body.pkl", 300)
    return path.read_bytes(), smpl_io.load_smpl_params(path)


@FUZZ
@given(data=st.binary(max_size=400))
def test_smpl_random_bytes_are_refused_naming_the_file(data):
    with _scratch("model.pkl", data) as path:
        assert _parses_or_fails_cleanly(lambda: smpl_io.load_smpl_params(path), path) is None


@FUZZ
@given(cut=st.floats(0.0, 1.0, exclude_max=True), flip=st.integers(0, 255), at=st.floats(0, 1))
def test_smpl_truncated_or_corrupted_pickles_fail_naming_the_file(standin, cut, flip, at):
    data = bytearray(standin[0][: int(cut * len(standin[0]))])
    if data:
        data[int(at * (len(data) - 1))] ^= flip
    with _scratch("model.pkl", bytes(data)) as path:
        _parses_or_fails_cleanly(lambda: smpl_io.load_smpl_params(path), path)


_ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(),
                    hnp.unicode_string_dtypes(max_len=3), hnp.complex_number_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
)  # fmt: skip


@FUZZ
@given(key=st.sampled_from(smpl_io.REQUIRED_KEYS + ("cocoplus_regressor",)),
       value=st.one_of(_ARRAYS, _JSON), drop=st.booleans())  # fmt: skip
def test_smpl_wrong_shapes_and_dtypes_fail_naming_the_file(standin, key, value, drop):
    params = dict(standin[1])
    if drop:
        params.pop(key, None)
    else:
        params[key] = value
    with _scratch("model.pkl", pickle.dumps(params, protocol=2)) as path:
        _parses_or_fails_cleanly(lambda: smpl_io.load_smpl_params(path), path)


class _Claim:
    """Pickles as ``factory(*args)`` (plus ``state``): headers that claim anything."""

    def __init__(self, reduce_value: tuple) -> None:
        self.reduce_value = reduce_value


class _ClaimPickler(pickle.Pickler):
    def reducer_override(self, obj):
        return obj.reduce_value if isinstance(obj, _Claim) else NotImplemented


def _claim_pickle(value: object, standin_params: dict) -> bytes:
    params = {**standin_params, "J_regressor": value}
    buffer = io.BytesIO()
    _ClaimPickler(buffer, protocol=2).dump(params)
    return buffer.getvalue()


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


HUGE = (10**6, 10**6)  # 1e12 elements: 8 TB of float64
CLAIMS = {
    "ndarray(shape)": (np.ndarray, (HUGE,)),
    "_reconstruct(ndarray, shape)": (_reconstruct(), (np.ndarray, HUGE, b"b")),
    "sparse csc of shape 1e6 x 1e6": (
        copyreg._reconstructor,
        (scipy.sparse.csc_matrix, object, None),
        {"_shape": HUGE, "data": [], "indices": [], "indptr": [0]},
    ),
    "20000 x 20000 (3.2 GB) ndarray": (np.ndarray, ((20000, 20000),)),
}


@pytest.mark.parametrize("claim", list(CLAIMS))
def test_smpl_pickle_claiming_a_huge_array_is_refused_before_allocating(standin, claim):
    data = _claim_pickle(_Claim(CLAIMS[claim]), standin[1])
    with _scratch("model.pkl", data) as path, _bounded():
        with pytest.raises(ValueError, match=r"model\.pkl: .*more than the \d+ a body-model"):
            smpl_io.load_smpl_params(path)


@pytest.mark.slow
def test_smpl_pickle_of_shared_lists_is_refused_before_unfolding(standin):
    nested: list = [0.0, 1.0]
    for _ in range(45):  # 2**46 leaves; a few hundred bytes pickled (the sub-lists are shared)
        nested = [nested, nested]
    data = pickle.dumps({**standin[1], "J_regressor": nested}, protocol=2)
    assert len(data) < len(pickle.dumps(standin[1], protocol=2)) + 2000
    with _scratch("model.pkl", data) as path, _bounded():
        with pytest.raises(ValueError, match=r"model\.pkl: key 'J_regressor': nested lists"):
            smpl_io.load_smpl_params(path)


def test_smpl_pickle_claiming_a_4_gb_string_reads_only_the_file():
    data = b"\x80\x02X\x00\x00\x00\xff" + b"a" * 100  # BINUNICODE of length 4 GB, 100 bytes there
    with _scratch("model.pkl", data) as path, _bounded():
        with pytest.raises(ValueError, match=r"model\.pkl: not a readable pickle"):
            smpl_io.load_smpl_params(path)


# ------------------------------------------------------------------------------------------------
# Dataset label files: Penn Action .mat, 3DPW pickles, Human3.6M pickles

_MAT_VALUE = st.one_of(_ARRAYS.filter(lambda a: a.dtype.kind != "U" or a.size), st.text(max_size=4))


@FUZZ
@given(values=st.dictionaries(st.sampled_from(penn_action.LABEL_KEYS + ("bbox", "other")),
                              _MAT_VALUE, max_size=6),
       good_rows=st.integers(0, 4))  # fmt: skip
def test_penn_action_label_reader_accepts_or_names_the_file(values, good_rows):
    if good_rows:
        values = {"x": np.ones((good_rows, 13)), "y": np.ones((good_rows, 13)),
                  "visibility": np.ones((good_rows, 13)), "train": 1, **values}  # fmt: skip
    buffer = io.BytesIO()
    try:
        scipy.io.savemat(buffer, values)
    except Exception:  # noqa: BLE001 - scipy cannot write that value: not a file to read
        return
    with _scratch("0001.mat", buffer.getvalue()) as path:
        _parses_or_fails_cleanly(lambda: penn_action.read_labels(path), path)


@FUZZ
@given(data=st.binary(max_size=400), cut=st.floats(0, 1))
def test_penn_action_random_and_truncated_mat_files_name_the_file(data, cut):
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"x": np.ones((3, 13)), "y": np.ones((3, 13)),
                              "visibility": np.ones((3, 13)), "train": 1})  # fmt: skip
    good = buffer.getvalue()
    for blob in (data, good[: int(cut * len(good))], good[:128] + data):
        with _scratch("0002.mat", blob) as path:
            _parses_or_fails_cleanly(lambda: penn_action.read_labels(path), path)  # noqa: B023


_PW_VALUE = st.one_of(_ARRAYS, _JSON, st.lists(_ARRAYS, max_size=3))
_PW_KEYS = threedpw.SEQUENCE_KEYS + ("campose_valid", "img_frame_ids", "genders", "sequence")


@FUZZ
@given(values=st.dictionaries(st.sampled_from(_PW_KEYS), _PW_VALUE, max_size=8),
       n=st.integers(1, 3), people=st.integers(0, 2),
       top=st.sampled_from(["dict", "list"]))  # fmt: skip
def test_3dpw_sequence_reader_accepts_or_names_the_file(values, n, people, top):
    base = {
        "poses": [np.zeros((n, 72))] * people, "betas": [np.zeros(10)] * people,
        "poses2d": [np.zeros((n, 3, 18))] * people, "cam_poses": np.tile(np.eye(4), (n, 1, 1)),
    }  # fmt: skip
    data = {**base, **values} if top == "dict" else list(values.values())
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "sequenceFiles" / "test" / "seq.pkl"
        path.parent.mkdir(parents=True)
        path.write_bytes(pickle.dumps(data, protocol=2))
        _parses_or_fails_cleanly(lambda: threedpw.read_sequence(Path(root), path, "m.pkl"), path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_3dpw_random_bytes_name_the_file(data):
    with _scratch("seq.pkl", data) as path:
        reader = lambda: threedpw.read_sequence(path.parent, path, "m.pkl")  # noqa: E731
        _parses_or_fails_cleanly(reader, path)


@FUZZ
@given(gt=st.one_of(_JSON, st.dictionaries(st.sampled_from(["2d", "3d", "x"]),
                                           st.one_of(_ARRAYS, _JSON), max_size=3)),
       cam=st.one_of(_JSON, st.dictionaries(st.sampled_from(["f", "c"]), _ARRAYS, max_size=2)),
       good=st.booleans())  # fmt: skip
def test_h36m_label_readers_accept_or_name_the_file(gt, cam, good):
    if good and isinstance(gt, dict):
        gt = {"2d": np.zeros((2, 17 * 2)), "3d": np.zeros((2, 17, 3)), **gt}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "frame0001.png").write_bytes(b"")
        (folder / h36m.GT_FILE).write_bytes(pickle.dumps(gt, protocol=2))
        (folder / h36m.CAMERA_FILE).write_bytes(pickle.dumps(cam, protocol=2))
        seq = h36m.Sequence36(9, "Walking", 1, 1, folder)
        _parses_or_fails_cleanly(lambda: h36m.read_labels(seq), folder)
        _parses_or_fails_cleanly(lambda: h36m.read_camera(folder), folder / h36m.CAMERA_FILE)


def test_dataset_pickle_claiming_a_huge_array_is_refused_before_allocating():
    buffer = io.BytesIO()
    _ClaimPickler(buffer, protocol=2).dump({"f": _Claim(CLAIMS["ndarray(shape)"]), "c": [1, 2]})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / h36m.CAMERA_FILE
        path.write_bytes(buffer.getvalue())
        with _bounded(), pytest.raises(ValueError, match="camera_wext.pkl: .*more than the"):
            h36m.read_camera(Path(folder))


# ------------------------------------------------------------------------------------------------
# BVH

SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 0 0 0 0 0 0 0 0
10 0 0 90 0 0 0 1 0
"""
_TOKENS = SMALL_BVH.split()
_WORD = st.one_of(st.sampled_from(_TOKENS + ["{", "}", "nan", "1e999", "-1", "1" + "0" * 12]),
                  st.text(max_size=4))  # fmt: skip


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(_TOKENS) - 1), st.one_of(st.none(), _WORD)),
                      min_size=1, max_size=4), newlines=st.booleans())  # fmt: skip
def test_bvh_reader_accepts_or_names_the_file_and_line(edits, newlines):
    lines = [line.split() for line in SMALL_BVH.splitlines()]
    where = [(i, j) for i, line in enumerate(lines) for j in range(len(line))]
    for index, word in edits:
        i, j = where[index % len(where)]
        if j < len(lines[i]):
            lines[i][j] = "" if word is None else word
    text = (
        "\n".join(" ".join(line) for line in lines)
        if newlines
        else " ".join(" ".join(line) for line in lines)
    )
    with _scratch("walk.bvh", text) as path:
        _parses_or_fails_cleanly(lambda: bvh_lib.read_bvh(path), path)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_bvh_random_content_is_refused_naming_the_file(data):
    with _scratch("walk.bvh", data) as path:
        _parses_or_fails_cleanly(lambda: bvh_lib.read_bvh(path), path)
    with _scratch("walk.bvh.gz", data) as path:
        _parses_or_fails_cleanly(lambda: bvh_lib.read_bvh(path), path)


def test_bvh_declaring_1e12_frames_without_data_is_refused_without_allocating():
    text = SMALL_BVH.replace("Frames: 2", "Frames: 1000000000000")
    with _scratch("walk.bvh", text) as path, _bounded():
        with pytest.raises(ValueError, match="walk.bvh: 'Frames: 1000000000000' but 2 motion"):
            bvh_lib.read_bvh(path)


def test_bvh_nested_too_deeply_is_one_line():
    depth = 5000
    body = "ROOT r { OFFSET 0 0 0 CHANNELS 3 Xrotation Yrotation Zrotation\n"
    body += "JOINT j { OFFSET 0 0 0 CHANNELS 0\n" * depth + "}\n" * (depth + 1)
    with _scratch("deep.bvh", f"HIERARCHY\n{body}MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n") as p:
        with _bounded(), pytest.raises(ValueError, match=r"deep\.bvh: line \d+: JOINTs nested"):
            bvh_lib.read_bvh(p)


def test_bvh_gz_inflating_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(bvh_lib, "MAX_BVH_BYTES", 1 << 20)
    with _scratch("bomb.bvh.gz", gzip.compress(b"0 " * (2 << 20))) as path, _bounded():
        with pytest.raises(ValueError, match=r"bomb\.bvh\.gz: more than 1048576 bytes"):
            bvh_lib.read_bvh(path)
