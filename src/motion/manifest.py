"""The CMU folder's ``MANIFEST.tsv``: per clip its subject, skeleton and leading frames to drop.

Columns used: ``file``, ``cmu_subject``, ``skeleton`` (``cmu31-mb``, ``cmu31-asf`` or ``daz43``),
``frame0_is_ref_pose`` (yes/no) and ``notes``. Frame 0 of many cgspeed clips is an inserted
reference pose; in the DAZ-friendly release frame 1 is also a blend between it and frame 2, which
the notes say as "motion proper starts at frame 2".
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

MANIFEST_NAME = "MANIFEST.tsv"
_STARTS_AT = re.compile(r"motion proper starts at frame (\d+)")
_CLIP_NAME = re.compile(r"^(\d+)_(\d+)")


def read_manifest(folder: str | Path) -> dict[str, dict[str, str]]:
    """File name -> its row, from ``folder/MANIFEST.tsv``; ``{}`` when there is none.

    Raises:
        ValueError: the manifest exists but has no ``file`` column.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if rows and "file" not in rows[0]:
        raise ValueError(f"{path}: expected a tab-separated header with a 'file' column")
    return {row["file"]: row for row in rows}


def manifest_row(clip: str | Path) -> dict[str, str] | None:
    """The manifest row of ``clip`` when a ``MANIFEST.tsv`` sits beside it, else None."""
    clip = Path(clip)
    return read_manifest(clip.parent).get(clip.name)


def leading_frames_to_drop(row: dict[str, str] | None) -> int:
    """Reference-pose (and blend) frames at the start of a clip, from its manifest row."""
    if row is None:
        return 0
    match = _STARTS_AT.search(row.get("notes", ""))
    if match:
        return int(match.group(1))
    return 1 if row.get("frame0_is_ref_pose", "").strip().lower() == "yes" else 0


def subject_of(clip: str | Path, row: dict[str, str] | None = None) -> int:
    """CMU subject number from the manifest row, else from a ``SS_TT.bvh`` name; -1 if unknown."""
    if row is not None and row.get("cmu_subject", "").strip().isdigit():
        return int(row["cmu_subject"])
    match = _CLIP_NAME.match(Path(clip).name)
    return int(match.group(1)) if match else -1
