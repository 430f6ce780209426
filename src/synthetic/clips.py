"""Retargeted motion clips for the synthetic world, cached per clip.

``load_clips(mocap_dir, cache_dir)`` retargets every ``.bvh``/``.bvh.gz`` of ``mocap_dir`` onto the
body model at the world's frame rate (:func:`src.motion.retarget.retarget_file`, which trims the
reference frames that ``MANIFEST.tsv`` names) and keeps each result as ``<cache_dir>/<name>.npz``,
so a second call reads the cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from src.synthetic.world import Clip


def clip_files(mocap_dir: str | os.PathLike, per_subject: int | None = None) -> list[Path]:
    """Sorted BVH files of ``mocap_dir``; with ``per_subject``, the first that many per subject
    (the CMU file name ``<subject>_<trial>``)."""
    folder = Path(mocap_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of .bvh/.bvh.gz clips")
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".bvh", ".bvh.gz")))
    if not files:
        raise FileNotFoundError(f"{folder}: no .bvh or .bvh.gz files")
    if per_subject is None:
        return files
    kept: list[Path] = []
    counts: dict[str, int] = {}
    for path in files:
        subject = path.name.split("_")[0]
        if counts.get(subject, 0) < per_subject:
            kept.append(path)
            counts[subject] = counts.get(subject, 0) + 1
    return kept


def load_clips(
    files: list[Path],
    cache_dir: str | os.PathLike,
    fps: float,
    smpl_model_path: str | os.PathLike,
    progress: bool = True,
) -> list[Clip]:
    """Retargeted clips (cached as ``<cache_dir>/<name>.npz``: poses, trans, subject, fps)."""
    from tqdm import tqdm

    from src.motion.retarget import retarget_file

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    clips = []
    for path in tqdm(
        files, desc="retarget", unit="clip", file=sys.stderr, disable=None if progress else True
    ):
        name = path.name.split(".")[0]
        target = cache / f"{name}.npz"
        if target.is_file():
            with np.load(target) as data:
                if float(data["fps"]) != fps:
                    raise ValueError(
                        f"{target}: cached at {float(data['fps'])} fps, not {fps}; "
                        "use another cache folder"
                    )
        else:
            clip = retarget_file(path, fps=fps, smpl_model_path=smpl_model_path)
            tmp = cache / f"{name}.tmp.npz"
            np.savez(
                tmp, poses=clip["poses"], trans=clip["trans"], subject=clip["subject"], fps=fps
            )
            os.replace(tmp, target)
        with np.load(target) as data:
            clips.append(Clip(name, int(data["subject"]), data["poses"], data["trans"]))
    return clips
