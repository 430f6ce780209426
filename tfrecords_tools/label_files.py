"""Reading the raw datasets' label files: pickles loaded without running anything in them, and
malformed content turned into one ``ValueError`` that names the file and what was expected.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src.smpl.io import RestrictedUnpickler, count_elements


def load_pickle(path: str | os.PathLike, what: str = "pickle") -> Any:
    """Unpickle a dataset file (Python 2 or 3; latin-1 strings) allowing only plain data
    (numpy arrays, lists, dicts, strings): nothing in the file is executed.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable, or not plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    # Read into memory first: a length field claiming gigabytes then reads what the file holds.
    data = path.read_bytes()
    try:
        loaded = RestrictedUnpickler(io.BytesIO(data), path).load()
        count_elements(loaded)  # a few shared lists can unfold into billions of elements
        return loaded
    except Exception as err:  # corrupt or truncated pickles raise many types
        text = " ".join(str(err).split())[:300]
        if not text.startswith(str(path)):
            text = f"{path}: {text}"
        raise ValueError(f"not a readable {what} ({type(err).__name__}): {text}") from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Errors raised deep inside a reader of ``path`` (a string where numbers belong, a list
    where a dict was expected) become one ``ValueError`` naming the file."""
    try:
        yield
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read") from None
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError) as err:
        message = " ".join(str(err).split())
        if type(err) is ValueError and str(path) in message:
            raise
        raise ValueError(
            f"{path}: unexpected content ({type(err).__name__}: {message[:200]})"
        ) from None


def require_keys(data: Any, keys: Sequence[str], path: Path, what: str) -> None:
    """ValueError naming ``path`` when ``data`` is not a dict with all ``keys``."""
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{path}: expected a {what} dict with keys {list(keys)}, got {type(data).__name__}"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{path}: {what} lacks key(s) {missing} (has {sorted(map(str, data))})")


def as_array(
    value: Any, path: Path, key: str, shape: tuple[int | None, ...], dtype: Any = np.float64
) -> np.ndarray:
    """``value`` as an array of ``shape`` (None = any size), or a ValueError naming the file."""
    if np.iscomplexobj(value):  # the cast below would drop the imaginary part silently
        raise ValueError(f"{path}: '{key}' holds complex numbers")
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: '{key}' is not numeric") from None
    ok = array.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, array.shape, strict=True)
    )
    if not ok:
        wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{path}: '{key}' has shape {array.shape}, expected {wanted}")
    return array
