"""src.smpl.io: official-format pickles without chumpy, refusal of code-running pickles, checks."""

import io
import os
import pickle
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from src.smpl import UnsafePickleError, load_smpl_params, save_smpl_params
from src.smpl.io import safe_load_pickle
from src.smpl.standin import build_standin_params

NUM_VERTS = 350


@pytest.fixture(scope="module")
def model() -> dict:
    """A small SMPL-style dict (scipy sparse regressors, uint32 faces, uint32 root parent)."""
    return build_standin_params(NUM_VERTS)


def dense(model: dict) -> dict[str, np.ndarray]:
    """What load_smpl_params must return for ``model``, computed independently of the loader."""
    kintree = np.asarray(model["kintree_table"], np.int64).copy()
    kintree[0, 0] = -1
    return {
        "v_template": model["v_template"],
        "shapedirs": model["shapedirs"],
        "posedirs": model["posedirs"],
        "J_regressor": model["J_regressor"].toarray(),
        "weights": model["weights"],
        "kintree_table": kintree,
        "f": model["f"].astype(np.int64),
        "joint_regressor": model["cocoplus_regressor"].toarray(),
    }


def assert_params_equal(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def write_pickle(path: Path, obj, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# ------------------------------------------------------------------ chumpy-format pickles
class _FakeCh:
    """Mimics chumpy.ch.Ch pickling: a new-style object whose __dict__ holds the array as x."""

    def __init__(self, x):
        self.x = np.asarray(x)
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False


class _FakeSelect(_FakeCh):
    """Mimics chumpy.reordering.Select: a.r.ravel()[idxs].reshape(preferred_shape)."""

    def __init__(self, a, idxs, preferred_shape):
        self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape
        self._dirty_vars = set()


@pytest.fixture
def fake_chumpy():
    """Registers a stand-in ``chumpy`` package in sys.modules, removed again afterwards."""
    names = ("chumpy", "chumpy.ch", "chumpy.reordering")
    saved = {n: sys.modules.get(n) for n in names}
    pkg, ch, reordering = (types.ModuleType(n) for n in names)
    for cls, mod, name in ((_FakeCh, ch, "Ch"), (_FakeSelect, reordering, "Select")):
        cls.__module__, cls.__qualname__, cls.__name__ = mod.__name__, name, name
        setattr(mod, name, cls)
    pkg.ch, pkg.reordering = ch, reordering
    sys.modules.update(dict(zip(names, (pkg, ch, reordering), strict=True)))
    yield
    for n, mod in saved.items():
        if mod is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = mod


def chumpy_model(model: dict) -> dict:
    """The model as the official files store it: Ch arrays, a Select, scipy sparse."""
    out = dict(model)
    for key in ("v_template", "shapedirs", "weights"):
        out[key] = _FakeCh(model[key])
    flat = _FakeCh(model["posedirs"].ravel())
    out["posedirs"] = _FakeSelect(flat, np.arange(flat.x.size), model["posedirs"].shape)
    return out


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_chumpy_pickle_loads_without_chumpy(tmp_path, model, fake_chumpy, protocol):
    path = write_pickle(tmp_path / "chumpy_model.pkl", chumpy_model(model), protocol)
    assert b"chumpy.ch" in path.read_bytes()
    for name in ("chumpy", "chumpy.ch", "chumpy.reordering"):
        del sys.modules[name]  # the loader must not need chumpy
    assert_params_equal(load_smpl_params(path), dense(model))


# A minimal Python 2 (protocol 2) pickler: str as BINSTRING, arrays as numpy 1.x wrote them.
def _py2_str(text: str | bytes) -> bytes:
    raw = text.encode("latin1") if isinstance(text, str) else text
    return b"T" + struct.pack("<i", len(raw)) + raw


def _py2_dump(obj) -> bytes:
    if isinstance(obj, dict):
        body = b"".join(_py2_dump(k) + _py2_dump(v) for k, v in obj.items())
        return b"}(" + body + b"u"
    if isinstance(obj, str | bytes):
        return _py2_str(obj)
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if obj is None:
        return b"N"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2_dump(x) for x in obj) + b"t"
    if isinstance(obj, set):
        return b"c__builtin__\nset\n](" + b"".join(_py2_dump(x) for x in obj) + b"e\x85R"
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        dtype_state = (3, "<", None, None, None, -1, -1, 0)
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _py2_dump((0,))
            + _py2_str("b") + b"\x87R("
            + b"J\x01\x00\x00\x00" + _py2_dump(arr.shape)
            + b"cnumpy\ndtype\n" + _py2_dump((arr.dtype.str[1:], 0, 1)) + b"R"
            + _py2_dump(dtype_state) + b"b"
            + b"\x89" + _py2_str(arr.tobytes()) + b"tb"
        )  # fmt: skip
    if isinstance(obj, _Py2Object):
        return f"c{obj.module}\n{obj.name}\n".encode() + b")\x81" + _py2_dump(obj.state) + b"b"
    raise TypeError(type(obj))


class _Py2Object:
    def __init__(self, module: str, name: str, state: dict):
        self.module, self.name, self.state = module, name, state


def py2_model(model: dict) -> dict:
    """The official layout as Python 2 wrote it: chumpy Ch, scipy.sparse.csc / coo (old paths)."""

    def ch(x):
        return _Py2Object("chumpy.ch", "Ch", {"x": x, "_dirty_vars": set(), "_itr": None})

    reg = model["J_regressor"].tocsc()
    coo = model["cocoplus_regressor"].tocoo()
    return {
        "v_template": ch(model["v_template"]),
        "shapedirs": ch(model["shapedirs"]),
        "posedirs": model["posedirs"],
        "weights": ch(model["weights"]),
        "J_regressor": _Py2Object("scipy.sparse.csc", "csc_matrix", {
            "_shape": reg.shape, "indices": reg.indices, "indptr": reg.indptr, "data": reg.data,
            "maxprint": 50, "format": "csc"}),
        "cocoplus_regressor": _Py2Object("scipy.sparse.coo", "coo_matrix", {
            "shape": coo.shape, "row": coo.row, "col": coo.col, "data": coo.data}),
        "kintree_table": model["kintree_table"],
        "f": model["f"],
        "bs_style": "lbs",
    }  # fmt: skip


def test_python2_official_layout_loads(tmp_path, model):
    path = tmp_path / "basicModel_py2.pkl"
    path.write_bytes(b"\x80\x02" + _py2_dump(py2_model(model)) + b".")
    assert_params_equal(load_smpl_params(path), dense(model))


# ------------------------------------------------------------------ refusing code
class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize(
    "make, global_name",
    [
        (lambda marker: _Evil(os.system, f"touch {marker}"), "system"),
        (lambda marker: _Evil(eval, f"open({str(marker)!r}, 'w')"), "eval"),
        (lambda marker: _Evil(subprocess.call, ["touch", str(marker)]), "call"),
    ],
)
def test_pickle_that_would_run_code_is_refused_and_runs_nothing(
    tmp_path, model, make, global_name, protocol
):
    marker = tmp_path / "pwned"
    payload = dict(model)
    payload["v_template"] = make(marker)
    path = write_pickle(tmp_path / "evil.pkl", payload, protocol)
    with pytest.raises(UnsafePickleError) as info:
        load_smpl_params(path)
    message = str(info.value)
    assert str(path) in message and f".{global_name}'" in message and "refusing" in message
    assert isinstance(info.value, ValueError)
    assert not marker.exists()


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    path = tmp_path / "codec.pkl"
    path.write_bytes(b"c_codecs\nencode\n(Vabc\nVzlib\ntR.")
    with pytest.raises(UnsafePickleError, match="encoding"):
        safe_load_pickle(path)


def test_reconstructor_refuses_non_object_bases(tmp_path):
    path = tmp_path / "recon.pkl"
    path.write_bytes(b"ccopy_reg\n_reconstructor\n(cchumpy.ch\nCh\ncnumpy\nndarray\nNtR.")
    with pytest.raises(UnsafePickleError, match="_reconstructor"):
        safe_load_pickle(path)


# ------------------------------------------------------------------ other formats
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_only_pickle_and_npz_load(tmp_path, model, protocol):
    expected = dense(model)
    plain = {**expected, "cocoplus_regressor": expected["joint_regressor"]}
    del plain["joint_regressor"]
    plain["v_template"] = np.asfortranarray(plain["v_template"])  # layout must not matter
    path = write_pickle(tmp_path / "np.pkl", plain, protocol)
    assert_params_equal(load_smpl_params(path), expected)
    np.savez(tmp_path / "model.npz", **plain)
    assert_params_equal(load_smpl_params(tmp_path / "model.npz"), expected)


def test_save_then_load_round_trips(tmp_path, model):
    expected = dense(model)
    out = save_smpl_params(expected, tmp_path / "sub" / "clean.npz")
    assert out.is_file() and not list(out.parent.glob("*.tmp"))
    assert_params_equal(load_smpl_params(out), expected)
    with np.load(out, allow_pickle=False) as npz:  # no pickled objects inside
        assert set(npz.files) == set(expected)


def test_hmr_19_joint_regressor_loads(tmp_path, model):
    hmr = dict(model)
    hmr["cocoplus_regressor"] = sp.csc_matrix(model["cocoplus_regressor"].toarray()[:19])
    params = load_smpl_params(write_pickle(tmp_path / "hmr.pkl", hmr))
    assert params["joint_regressor"].shape == (19, NUM_VERTS)


def test_file_without_extra_regressor_has_no_joint_regressor(tmp_path, model):
    plain = {k: v for k, v in model.items() if k != "cocoplus_regressor"}
    assert "joint_regressor" not in load_smpl_params(write_pickle(tmp_path / "m.pkl", plain))


def test_shapedirs_with_more_components_keep_the_first_ten(tmp_path, model):
    wide = dict(model)
    extra = np.ones((NUM_VERTS, 3, 290))
    wide["shapedirs"] = np.concatenate([model["shapedirs"], extra], axis=2)
    params = load_smpl_params(write_pickle(tmp_path / "wide.pkl", wide))
    np.testing.assert_array_equal(params["shapedirs"], model["shapedirs"])


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc_array"])
def test_sparse_formats_densify_like_scipy(tmp_path, fmt):
    data = np.arange(1.0, 6.0)
    if fmt == "csr":  # stored duplicates (index 3 twice in row 2) are summed, as scipy does
        mat = sp.csr_matrix((data, [1, 0, 3, 3, 4], [0, 1, 2, 5]), shape=(3, 5))
    elif fmt == "coo":
        mat = sp.coo_matrix((data, ([0, 2, 2, 1, 0], [1, 3, 3, 0, 1])), shape=(3, 5))
    else:
        mat = sp.csc_array(np.arange(15.0).reshape(3, 5) % 4)
    loaded = safe_load_pickle(write_pickle(tmp_path / "m.pkl", {"m": mat}))["m"]
    np.testing.assert_array_equal(loaded.toarray(), mat.toarray())


# ------------------------------------------------------------------ validation errors
def test_missing_key_is_named(tmp_path, model):
    broken = {k: v for k, v in model.items() if k != "posedirs"}
    path = write_pickle(tmp_path / "nopose.pkl", broken)
    with pytest.raises(ValueError, match=r"nopose\.pkl.*missing.*posedirs"):
        load_smpl_params(path)


def test_wrong_shape_is_named(tmp_path, model):
    broken = dict(model)
    broken["posedirs"] = model["posedirs"][:, :, :200]
    with pytest.raises(ValueError, match=r"posedirs.*\(350, 3, 200\).*\(V, 3, 207\)"):
        load_smpl_params(write_pickle(tmp_path / "m.pkl", broken))


def test_inconsistent_vertex_count_is_named(tmp_path, model):
    broken = dict(model)
    broken["weights"] = np.vstack([model["weights"], model["weights"][:1]])
    with pytest.raises(ValueError, match=r"weights.*\(351, 24\).*V, 24"):
        load_smpl_params(write_pickle(tmp_path / "m.pkl", broken))


def test_regressor_with_wrong_vertex_count_is_named(tmp_path, model):
    broken = dict(model)
    broken["cocoplus_regressor"] = np.zeros((25, NUM_VERTS + 1))
    with pytest.raises(ValueError, match=r"joint_regressor.*cocoplus_regressor.*\(25, 351\)"):
        load_smpl_params(write_pickle(tmp_path / "m.pkl", broken))


def test_parent_after_child_is_refused(tmp_path, model):
    broken = dict(model)
    broken["kintree_table"] = model["kintree_table"].copy()
    broken["kintree_table"][0, 4] = 7
    with pytest.raises(ValueError, match="parent of joint 4"):
        load_smpl_params(write_pickle(tmp_path / "m.pkl", broken))


def test_non_dict_and_garbage_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a pickled dict"):
        load_smpl_params(write_pickle(tmp_path / "list.pkl", [1, 2]))
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="garbage.pkl: not a readable pickle"):
        load_smpl_params(garbage)
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        load_smpl_params(tmp_path / "missing.pkl")


def test_unpickler_reads_from_memory_too():
    """The allow-list also holds for in-memory use (no file name needed for the classes)."""
    from src.smpl.io import RestrictedUnpickler

    data = pickle.dumps({"a": np.arange(3.0)}, protocol=2)
    out = RestrictedUnpickler(io.BytesIO(data), "<memory>").load()
    np.testing.assert_array_equal(out["a"], np.arange(3.0))
