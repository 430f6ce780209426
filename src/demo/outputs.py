"""The demo's files: per-frame arrays spooled to disk while they are predicted
(:class:`FrameStore`), the arrays derived from them (original-frame cameras, keypoints in pixels,
translation), and ``hmmr_output.npz`` / the original's ``hmmr_output.pkl`` (keys:
``docs/demo_outputs.md``) / ``hmmr_output.bvh`` (``--bvh``), each written to a temporary name and
renamed."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from src.demo.options import OUTPUT_NAME, DemoError, DemoOptions
from src.geometry.camera import approx_translation, crop_cam_to_original
from src.inference.models import InferenceModels
from src.joints import HMMR_JOINT_NAMES, SMPL_JOINT_NAMES
from src.motion.export import write_result_bvh
from src.smpl import load_smpl_params

PICKLE_PROTOCOL = 4
DERIVED_CHUNK = 4096  # frames per chunk when computing derived arrays
PKL_KEYS = ("cams", "joints", "kps", "poses", "shapes", "verts")  # + omegas (= theta), *_delta


class RowFile:
    """A ``.npy`` file of ``capacity`` rows written and read with plain file I/O.

    Pages a memory map touches count towards the process's resident memory while it is mapped,
    so a memory-mapped mesh store (83 kB per frame) would grow the demo's RSS with the video's
    length; file I/O leaves them to the page cache. Reads give copies.
    """

    def __init__(self, path: Path, dtype: np.dtype, row_shape: tuple[int, ...], capacity: int):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (int(capacity), *self.row_shape)}  # fmt: skip
        with open(self.path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            self.offset = f.tell()
            f.truncate(self.offset + int(capacity) * self.row_bytes)

    def write(self, start: int, rows: np.ndarray) -> None:
        with open(self.path, "r+b") as f:
            f.seek(self.offset + start * self.row_bytes)
            f.write(np.ascontiguousarray(rows, self.dtype).tobytes())

    def read(self, start: int, stop: int) -> np.ndarray:
        count = max(0, stop - start)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            data = np.fromfile(f, self.dtype, count * self.row_bytes // self.dtype.itemsize)
        return data.reshape(count, *self.row_shape)


class RowArray:
    """The first ``length`` rows of a :class:`RowFile`, indexed like an array (rows and slices
    of rows are read from the file when asked for; ``np.asarray`` reads them all)."""

    def __init__(self, file: RowFile, length: int) -> None:
        self.file = file
        self.shape = (int(length), *file.row_shape)
        self.dtype = file.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(len(self))
            return self.file.read(start, max(start, stop))
        if isinstance(index, int | np.integer):
            row = int(index) + len(self) if index < 0 else int(index)
            if not 0 <= row < len(self):
                raise IndexError(f"row {index} out of range for {len(self)} rows")
            return self.file.read(row, row + 1)[0]
        return np.asarray(self)[index]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = self.file.read(0, len(self))
        return rows if dtype is None else rows.astype(dtype)


class FrameStore:
    """Per-frame arrays spooled to ``.npy`` files in ``folder`` (memory stays bounded).

    Each key is appended in order, chunk by chunk (``(n, ...)`` arrays); keys may be appended at
    different moments (crop parameters before predictions). Keys of at most
    ``MEMMAP_ROW_BYTES`` per frame are memory maps; larger rows (the meshes) go to a
    :class:`RowFile`, so that the resident memory does not grow with the video's length.

    Args:
        folder: where the ``.npy`` files go (removed by the caller).
        capacity: most frames per key.
    """

    MEMMAP_ROW_BYTES = 16 * 1024

    def __init__(self, folder: Path, capacity: int) -> None:
        self.folder = Path(folder)
        self.capacity = int(capacity)
        self._arrays: dict[str, np.memmap | RowFile] = {}
        self._counts: dict[str, int] = {}

    def _open(self, key: str, value: np.ndarray) -> np.memmap | RowFile:
        path = self.folder / f"{key}.npy"
        if value[:1].nbytes > self.MEMMAP_ROW_BYTES:
            return RowFile(path, value.dtype, value.shape[1:], self.capacity)
        return np.lib.format.open_memmap(
            path, mode="w+", dtype=value.dtype, shape=(self.capacity, *value.shape[1:])
        )

    def append(self, chunk: Mapping[str, np.ndarray]) -> None:
        for key, value in chunk.items():
            value = np.asarray(value)
            if key not in self._arrays:
                self._arrays[key] = self._open(key, value)
                self._counts[key] = 0
            start = self._counts[key]
            if start + len(value) > self.capacity:
                raise DemoError(f"more frames than the {self.capacity} expected for '{key}'")
            target = self._arrays[key]
            if isinstance(target, RowFile):
                target.write(start, value)
            else:
                target[start : start + len(value)] = value
            self._counts[key] = start + len(value)

    @property
    def num_frames(self) -> int:
        """Frames present for every key."""
        return min(self._counts.values()) if self._counts else 0

    def arrays(self) -> dict[str, np.ndarray | RowArray]:
        n = self.num_frames
        return {
            key: RowArray(array, n) if isinstance(array, RowFile) else array[:n]
            for key, array in self._arrays.items()
        }

    def close(self) -> None:
        for array in self._arrays.values():
            if not isinstance(array, RowFile):
                array.flush()
        self._arrays.clear()


def crop_record(
    frame_id: int, cx: float, cy: float, scale: float, start_pt: np.ndarray
) -> dict[str, np.ndarray]:
    """One frame's crop parameters as ``(1, ...)`` arrays: ``frame_ids``, ``bbox_center``,
    ``bbox_scale``, ``crop_start_pt`` (the crop's top-left corner in the frame)."""
    return {
        "frame_ids": np.array([frame_id], np.int64),
        "bbox_center": np.array([[cx, cy]], np.float64),
        "bbox_scale": np.array([scale], np.float64),
        "crop_start_pt": np.asarray(start_pt)[None].astype(np.int64),
    }


def derived_outputs(
    arrays: Mapping[str, np.ndarray], img_size: tuple[int, int], focal_px: float
) -> dict[str, np.ndarray]:
    """Original-frame cameras, keypoints in frame pixels and the approximate translation.

    Args:
        arrays: ``cams`` (n, 3), ``joints`` (n, 25, 3), ``crop_start_pt`` (n, 2),
            ``bbox_scale`` (n,).
        img_size: ``(H, W)`` of the frames.
        focal_px: focal length in frame pixels for :func:`approx_translation`.
    Returns:
        ``cams_orig`` (n, 3) ``p_px = s (X_xy + t)``, ``cams_orig_norm`` (n, 3) over the frame
        padded to a square, ``kps_px`` (n, 25, 2), ``trans`` (n, 3) metres.
    """
    cam_px, cam_norm = crop_cam_to_original(
        arrays["cams"], arrays["crop_start_pt"], arrays["bbox_scale"], np.asarray(img_size)
    )
    joints_xy = np.asarray(arrays["joints"], np.float64)[..., :2]
    kps_px = cam_px[:, None, :1] * (joints_xy + cam_px[:, None, 1:])
    trans = approx_translation(cam_norm, focal_px, np.asarray(img_size))
    return {
        "cams_orig": cam_px.astype(np.float32),
        "cams_orig_norm": cam_norm.astype(np.float32),
        "kps_px": kps_px.astype(np.float32),
        "trans": trans.astype(np.float32),
    }


def add_derived_outputs(store: FrameStore, img_size: tuple[int, int], focal_px: float) -> None:
    """Append :func:`derived_outputs` of every stored frame to ``store``, chunk by chunk."""
    arrays = store.arrays()
    for start in range(0, store.num_frames, DERIVED_CHUNK):
        chunk = {k: arrays[k][start : start + DERIVED_CHUNK] for k in arrays}
        store.append(derived_outputs(chunk, img_size, focal_px))


def metadata(
    source: Path,
    info_size: tuple[int, int],
    fps: float,
    focal_px: float,
    models: InferenceModels,
    options: DemoOptions,
    rank: int,
    track_id: int,
) -> dict[str, np.ndarray]:
    """Scalars and names stored beside the per-frame arrays."""
    return {
        "img_size": np.asarray(info_size, np.int64),
        "fps": np.float64(fps),
        "focal_px": np.float64(focal_px),
        "delta_t": np.asarray(models.config.delta_t_values, np.int64),
        "joint_names": np.asarray(HMMR_JOINT_NAMES),
        "smpl_joint_names": np.asarray(SMPL_JOINT_NAMES),
        "source": np.asarray(str(source)),
        "track_rank": np.int64(rank),
        "track_id": np.int64(track_id),
        "pred_mode": np.asarray(options.pred_mode),
        "untrained": np.bool_(models.untrained),
        "weights": np.asarray(models.weights),
        "body_model": np.asarray(str(models.body_model)),
        "standin_body": np.bool_(models.standin_body),
        "precision": np.asarray(models.precision),
    }


def atomic_write(path: Path, write: Callable[[object], None]) -> Path:
    """``write(handle)`` into ``.<name>.tmp`` beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def without_vertices(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` less ``verts`` / ``verts_delta`` (saved only with ``--save_verts``)."""
    return {key: value for key, value in arrays.items() if not key.startswith("verts")}


def original_pickle_dict(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The original's ``hmmr_output.pkl`` keys (``omegas`` = theta) plus ``frame_ids``."""
    out = {"frame_ids": np.asarray(arrays["frame_ids"])}
    for key in ("omegas", *PKL_KEYS):
        src = "theta" if key == "omegas" else key
        for suffix in ("", "_delta"):
            if src + suffix in arrays:
                out[key + suffix] = np.asarray(arrays[src + suffix])
    return out


def save_outputs(
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    out_dir: Path,
    write_pkl: bool,
) -> tuple[Path, Path | None]:
    """Write ``hmmr_output.npz`` (and ``.pkl``) into ``out_dir`` (temp names, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = atomic_write(out_dir / f"{OUTPUT_NAME}.npz", lambda f: np.savez(f, **arrays, **meta))
    pkl = None
    if write_pkl:
        data = original_pickle_dict(arrays)
        pkl = atomic_write(
            out_dir / f"{OUTPUT_NAME}.pkl", lambda f: pickle.dump(data, f, PICKLE_PROTOCOL)
        )
    return npz, pkl


def save_bvh(
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, np.ndarray],
    out_dir: Path,
    body_model: Path,
) -> Path:
    """Write ``hmmr_output.bvh`` into ``out_dir`` (``--bvh``): the track's motion on the body
    model's 24-joint skeleton (:mod:`src.motion.export`; docs/demo_outputs.md, "BVH export")."""
    path, _, _ = write_result_bvh(
        {**arrays, **meta},
        load_smpl_params(body_model),
        out_dir / f"{OUTPUT_NAME}.bvh",
        source=str(out_dir / f"{OUTPUT_NAME}.npz"),
        body_source=str(body_model),
    )
    return path
