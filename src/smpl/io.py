"""Reading, validating and saving body-model files (docs/original_release.md §4.1), without chumpy.

The official SMPL ``.pkl`` files are Python 2 pickles that hold chumpy ``Ch`` arrays and a scipy
``csc_matrix`` ``J_regressor``. Unpickling them with the standard loader would need chumpy
installed and would run whatever the file names. Here a restricted unpickler resolves only:

- numpy's array/dtype/scalar reconstructors,
- scipy.sparse csc/csr/coo matrices (old and new module paths), read into a small stand-in,
- any ``chumpy.*`` class, read into a stand-in that keeps the array chumpy stored,
- ``set``/``frozenset``/``object``, ``copy_reg._reconstructor`` (Python 2 protocol 0/1 objects)
  and ``_codecs.encode`` limited to latin-1 (Python 3 protocol-2 bytes).

Every other global raises :class:`UnsafePickleError` before anything is called.

Public functions: :func:`load_smpl_params` (any ``.pkl`` / ``.npz``), :func:`validate_smpl_params`,
:func:`save_smpl_params` (clean ``.npz``, written to a temp name then renamed).
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from src.constants import NUM_SHAPE, NUM_SMPL_JOINTS, POSE_FEATURE_DIM

# Keys every model file must hold, and the optional extra joint regressor.
REQUIRED_KEYS = (
    "v_template",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "f",
)
EXTRA_REGRESSOR_KEYS = ("cocoplus_regressor", "joint_regressor")  # file key -> "joint_regressor"

_MAX_CHUMPY_DEPTH = 64
# Largest array a body-model file may declare (SMPL's biggest, posedirs, is 6890 x 3 x 207 float64
# = 34 MB): a corrupt or hostile file claiming more is refused before anything is allocated.
MAX_ARRAY_BYTES = 1 << 30
MAX_LIST_ELEMENTS = 5_000_000  # arrays stored as nested lists (counted in Python: kept smaller)


def _check_size(shape: Any, itemsize: int, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, refused (ValueError) when negative or over
    :data:`MAX_ARRAY_BYTES` at ``itemsize`` bytes per element."""
    try:
        dims = tuple(int(d) for d in (shape if isinstance(shape, tuple | list) else (shape,)))
    except (TypeError, ValueError):
        raise ValueError(f"{what}: shape {shape!r} is not a tuple of integers") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{what}: negative dimension in shape {dims}")
    count = 1
    for d in dims:
        count *= d  # Python ints: no overflow
    if count * max(int(itemsize), 1) > MAX_ARRAY_BYTES:
        raise ValueError(
            f"{what}: shape {dims} would need {count * max(int(itemsize), 1):.3g} bytes, more "
            f"than the {MAX_ARRAY_BYTES} a body-model array may take"
        )
    return dims


class UnsafePickleError(ValueError):
    """A pickle names a global outside the allow-list (it would run code if loaded normally)."""


# --------------------------------------------------------------------------------------------
# Stand-ins for the foreign classes a model pickle may name


class SparseStandIn:
    """Keeps the pickled state of a scipy.sparse csc/csr/coo matrix and densifies it with numpy.

    Subclasses set ``sparse_format`` ("csc", "csr" or "coo"); nothing from scipy is executed.
    """

    sparse_format = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = _state_dict(state, f"scipy.sparse {self.sparse_format} matrix")

    def _field(self, *names: str) -> Any:
        for name in names:
            if name in self.state:
                return self.state[name]
        raise ValueError(f"sparse {self.sparse_format} matrix state lacks '{names[0]}'")

    def toarray(self) -> np.ndarray:
        """Dense float64 array of shape ``_shape``; duplicate entries are summed (as scipy does)."""
        shape = _check_size(tuple(self._field("_shape", "shape")), 8, "sparse matrix")
        if len(shape) != 2:
            raise ValueError(f"sparse matrix shape {shape} is not 2-D")
        data = np.asarray(_as_array(self._field("data")), dtype=np.float64).ravel()
        if self.sparse_format == "coo":
            if "coords" in self.state:
                rows, cols = (np.asarray(c) for c in self.state["coords"])
            else:
                rows, cols = np.asarray(self._field("row")), np.asarray(self._field("col"))
        else:
            indices = np.asarray(_as_array(self._field("indices")), dtype=np.int64).ravel()
            indptr = np.asarray(_as_array(self._field("indptr")), dtype=np.int64).ravel()
            n_outer = shape[1] if self.sparse_format == "csc" else shape[0]
            if indptr.size != n_outer + 1 or indptr[-1] != data.size or indices.size != data.size:
                raise ValueError(f"sparse {self.sparse_format} matrix arrays are inconsistent")
            outer = np.repeat(np.arange(n_outer), np.diff(indptr))
            rows, cols = (indices, outer) if self.sparse_format == "csc" else (outer, indices)
        rows, cols = rows.astype(np.int64).ravel(), cols.astype(np.int64).ravel()
        if rows.size != data.size or cols.size != data.size:
            raise ValueError("sparse matrix index and data lengths differ")
        if data.size and (
            rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]
        ):
            raise ValueError(f"sparse matrix index out of range for shape {shape}")
        dense = np.zeros(_check_size(shape, 8, "sparse matrix"), dtype=np.float64)
        np.add.at(dense, (rows, cols), data)
        return dense


class _CscStandIn(SparseStandIn):
    sparse_format = "csc"


class _CsrStandIn(SparseStandIn):
    sparse_format = "csr"


class _CooStandIn(SparseStandIn):
    sparse_format = "coo"


class ChumpyStandIn:
    """Keeps the pickled ``__dict__`` of a chumpy object; :meth:`to_array` recovers its value.

    ``Ch`` stores its array under ``x``. The reordering ops that may appear in model files
    (``Select``, ``Reshape``, ``transpose``) are evaluated from their stored operands; any other
    chumpy expression raises a clear error instead of guessing.
    """

    chumpy_name = "chumpy.ch.Ch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = _state_dict(state, self.chumpy_name)

    def to_array(self, depth: int = 0) -> np.ndarray:
        """The array this chumpy node evaluates to (float64 for float data)."""
        if depth > _MAX_CHUMPY_DEPTH:
            raise ValueError(f"chumpy expression nested deeper than {_MAX_CHUMPY_DEPTH}")
        kind = self.chumpy_name.rsplit(".", 1)[-1]
        operand = self.state.get("a")
        if kind == "Select" and operand is not None:
            out = _as_array(operand, depth + 1).ravel()[np.asarray(self.state["idxs"])]
            shape = self.state.get("preferred_shape")
            return out.reshape(shape) if shape is not None else out
        if kind == "Reshape" and operand is not None:
            return _as_array(operand, depth + 1).reshape(self.state["newshape"])
        if kind == "transpose" and operand is not None:
            return np.transpose(_as_array(operand, depth + 1), self.state.get("axes"))
        if "x" in self.state:
            return _as_array(self.state["x"], depth + 1)
        raise ValueError(
            f"chumpy expression '{self.chumpy_name}' cannot be evaluated without "
            "chumpy (only Ch arrays, Select, Reshape and transpose are supported)"
        )


def _state_dict(state: Any, what: str) -> dict[str, Any]:
    """Pickle state as a dict (merging the (dict, slots) pair form)."""
    if isinstance(state, tuple) and len(state) == 2:
        merged: dict[str, Any] = dict(state[0] or {})
        merged.update(state[1] or {})
        return merged
    if isinstance(state, dict):
        return state
    raise ValueError(f"unexpected pickled state of type {type(state).__name__} for {what}")


_chumpy_classes: dict[str, type[ChumpyStandIn]] = {}


def _chumpy_class(module: str, name: str) -> type[ChumpyStandIn]:
    """One stand-in subclass per chumpy class name (so ``Select`` and ``Ch`` stay distinct)."""
    full = f"{module}.{name}"
    if full not in _chumpy_classes:
        _chumpy_classes[full] = type(
            f"ChumpyStandIn_{name}", (ChumpyStandIn,), {"chumpy_name": full}
        )
    return _chumpy_classes[full]


# --------------------------------------------------------------------------------------------
# The restricted unpickler


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copy_reg._reconstructor`` limited to the stand-in classes built on ``object``."""
    if base is object and isinstance(cls, type) and issubclass(cls, ChumpyStandIn | SparseStandIn):
        return object.__new__(cls)
    raise UnsafePickleError(f"copy_reg._reconstructor called with {cls!r}, {base!r}")


def _bounded_ndarray(shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> np.ndarray:
    """``numpy.ndarray`` as a pickle global: its size is checked before it is allocated."""
    dtype = np.dtype(dtype)
    return np.ndarray(_check_size(shape, dtype.itemsize, "pickled array"), dtype, *args, **kwargs)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:  # numpy >= 2
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.26
        from numpy.core import multiarray, numeric

    def bounded_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        """``_reconstruct(ndarray, shape, dtype)`` (numpy's pickles: shape ``(0,)``, the data
        comes in ``__setstate__``), refusing other classes and huge shapes."""
        if subtype is not _bounded_ndarray and subtype is not np.ndarray:
            raise UnsafePickleError(f"_reconstruct called with {subtype!r}")
        dtype = np.dtype(dtype)
        return multiarray._reconstruct(
            np.ndarray, _check_size(shape, dtype.itemsize, "pickled array"), dtype
        )

    table: dict[tuple[str, str], Any] = {
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): _bounded_ndarray,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = bounded_reconstruct
        table[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise UnsafePickleError(f"_codecs.encode called with encoding {encoding!r}")
    return text.encode("latin1")


_BUILTINS = {"set": set, "frozenset": frozenset, "object": object}
_SPARSE = {"csc": _CscStandIn, "csr": _CsrStandIn, "coo": _CooStandIn}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` resolves only numpy, scipy.sparse and chumpy names."""

    def __init__(self, file: Any, path: str | os.PathLike) -> None:
        super().__init__(file, encoding="latin1")
        self._path = str(path)
        self._numpy = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._numpy:
            return self._numpy[(module, name)]
        if module in ("__builtin__", "builtins") and name in _BUILTINS:
            return _BUILTINS[name]
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if (
            module.startswith("scipy.sparse")
            and name[:3] in _SPARSE
            and name[3:] in ("_matrix", "_array")
        ):
            return _SPARSE[name[:3]]
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_class(module, name)
        raise UnsafePickleError(
            f"{self._path}: refusing to load the pickle global '{module}.{name}' (only numpy "
            "arrays, scipy.sparse matrices and chumpy arrays are allowed in a body-model file)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._path}: pickle uses persistent ids, which are refused")


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` (Python 2 or 3, latin-1 strings) with the restricted unpickler.

    Raises:
        FileNotFoundError: no such file.
        UnsafePickleError: the pickle names a global outside the allow-list; nothing is run.
        ValueError: the file is not a readable pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: body-model file not found")
    # Read into memory first: a length field claiming gigabytes then reads what the file holds
    # instead of having the buffered file reader allocate the claimed size.
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path}: empty file (0 bytes), expected a pickled body model")
    try:
        return RestrictedUnpickler(io.BytesIO(data), path).load()
    except UnsafePickleError as err:
        message = str(err)
        raise UnsafePickleError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None
    except RecursionError:
        raise ValueError(f"{path}: not a readable pickle (nested too deeply)") from None
    except Exception as err:  # corrupt/truncated pickles raise many types
        message = " ".join(str(err).split())[:200]
        raise ValueError(
            f"{path}: not a readable pickle ({type(err).__name__}: {message})"
        ) from None


# --------------------------------------------------------------------------------------------
# Conversion and validation


def _as_array(value: Any, depth: int = 0) -> np.ndarray:
    """numpy array from an ndarray, a chumpy/sparse stand-in or a nested list."""
    if isinstance(value, ChumpyStandIn):
        return value.to_array(depth)
    if isinstance(value, SparseStandIn):
        return value.toarray()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list | tuple):
        count_elements(value)  # shared sub-lists: a small pickle, a huge nested list
        return np.asarray(value)
    if isinstance(value, int | float | np.generic):
        return np.asarray(value)
    raise ValueError(f"cannot read an array from an object of type {type(value).__name__}")


def count_elements(value: Any, limit: int = MAX_LIST_ELEMENTS) -> int:
    """Elements of nested lists, tuples and dicts (an array counts as one), refused past
    ``limit``: a pickle can share one list many times over, so that a few hundred bytes unfold
    into an exponentially large nested list. Counting stops at ``limit`` (bounded time).

    Raises:
        ValueError: more than ``limit`` elements.
    """
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        count += 1
        if count > limit:
            raise ValueError(f"nested lists of more than {limit} elements")
    return count


def _raw_arrays(path: Path) -> dict[str, Any]:
    """Key -> raw value of a ``.npz`` or pickle file."""
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: body-model file not found")
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as err:
            raise ValueError(f"{path}: not a readable .npz ({type(err).__name__}: {err})") from None
    raw = safe_load_pickle(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a pickled dict of arrays, found {type(raw).__name__}")
    return raw


def _fetch(raw: dict[str, Any], key: str, path: Path, dtype: Any) -> np.ndarray:
    try:
        arr = _as_array(raw[key])
    except ValueError as err:
        raise ValueError(f"{path}: key '{key}': {err}") from None
    if np.asarray(arr).dtype.kind not in "biuf":  # complex would lose its imaginary part
        raise ValueError(f"{path}: key '{key}' is not real numbers (dtype {arr.dtype})")
    try:
        return np.asarray(arr, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: key '{key}' is not numeric (dtype {arr.dtype})") from None


def load_smpl_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a body-model file (official SMPL ``.pkl``, numpy-only ``.pkl`` or ``.npz``).

    Returns a validated dict of numpy arrays (floats as float64, integers as int64):
        ``v_template`` (V, 3), ``shapedirs`` (V, 3, 10) (the first 10 if the file has more),
        ``posedirs`` (V, 3, 207), ``J_regressor`` (24, V) dense, ``weights`` (V, 24),
        ``kintree_table`` (2, 24) with the root's parent set to -1, ``f`` (F, 3), and
        ``joint_regressor`` (K, V) when the file has ``cocoplus_regressor`` (25 joints in the
        HMMR file, 19 in HMR's) or ``joint_regressor``.

    Raises:
        FileNotFoundError, UnsafePickleError, ValueError (message names the file and the key).
    """
    path = Path(path)
    raw = _raw_arrays(path)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ValueError(
            f"{path}: missing body-model keys {missing} (expected {list(REQUIRED_KEYS)})"
        )
    params = {
        k: _fetch(raw, k, path, np.int64 if k in ("kintree_table", "f") else np.float64)
        for k in REQUIRED_KEYS
    }
    for key in EXTRA_REGRESSOR_KEYS:
        if key in raw:
            params["joint_regressor"] = _fetch(raw, key, path, np.float64)
            break
    if params["shapedirs"].ndim == 3 and params["shapedirs"].shape[2] > NUM_SHAPE:
        params["shapedirs"] = np.ascontiguousarray(params["shapedirs"][:, :, :NUM_SHAPE])
    kintree = params["kintree_table"]
    if kintree.shape == (2, NUM_SMPL_JOINTS):
        kintree[0, 0] = -1  # SMPL stores 4294967295 (uint32 -1) for the root
    validate_smpl_params(params, path)
    return params


def _expect_shape(
    params: dict[str, np.ndarray], key: str, expected: tuple[int, ...], path: Any, pattern: str
) -> None:
    shape = params[key].shape
    if shape != expected:
        raise ValueError(f"{path}: '{key}' has shape {shape}, expected {pattern} = {expected}")


def validate_smpl_params(params: dict[str, np.ndarray], path: Any = "<params>") -> None:
    """Check shapes, vertex-count consistency, the kinematic tree and finiteness.

    Raises:
        ValueError naming ``path``, the key, its shape and the expected one.
    """
    v_template = params["v_template"]
    if v_template.ndim != 2 or v_template.shape[1] != 3 or v_template.shape[0] < 4:
        raise ValueError(f"{path}: 'v_template' has shape {v_template.shape}, expected (V, 3)")
    num_verts = v_template.shape[0]
    j = NUM_SMPL_JOINTS
    _expect_shape(params, "shapedirs", (num_verts, 3, NUM_SHAPE), path, "(V, 3, 10)")
    _expect_shape(params, "posedirs", (num_verts, 3, POSE_FEATURE_DIM), path, "(V, 3, 207)")
    _expect_shape(params, "J_regressor", (j, num_verts), path, "(24, V)")
    _expect_shape(params, "weights", (num_verts, j), path, "(V, 24)")
    _expect_shape(params, "kintree_table", (2, j), path, "(2, 24)")
    if "joint_regressor" in params:
        reg = params["joint_regressor"]
        if reg.ndim != 2 or reg.shape[1] != num_verts or reg.shape[0] < 1:
            raise ValueError(
                f"{path}: 'joint_regressor' (cocoplus_regressor) has shape "
                f"{reg.shape}, expected (K, V) with V = {num_verts}"
            )
    faces = params["f"]
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: 'f' has shape {faces.shape}, expected (F, 3)")
    if faces.size and (faces.min() < 0 or faces.max() >= num_verts):
        raise ValueError(f"{path}: 'f' indexes vertices outside [0, {num_verts})")
    parents = params["kintree_table"][0]
    for i in range(1, j):
        if not 0 <= parents[i] < i:
            raise ValueError(
                f"{path}: 'kintree_table' parent of joint {i} is {parents[i]}; "
                "expected a joint listed before it (0 <= parent < index)"
            )
    if not np.array_equal(params["kintree_table"][1], np.arange(j)):
        raise ValueError(f"{path}: 'kintree_table' row 1 must be the joint ids 0..{j - 1}")
    for key, arr in params.items():
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: '{key}' contains NaN or infinite values")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fh)`` on a unique temp file next to ``path``, then rename it into place.

    Readers and concurrent writers never see a partial file; the file gets mode 0644.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_smpl_params(params: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write validated params to a clean ``.npz`` (temp file in the same folder, then rename)."""
    validate_smpl_params(params, path)
    arrays = {k: np.asarray(v) for k, v in params.items()}
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))
