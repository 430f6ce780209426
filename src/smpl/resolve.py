"""Which body-model file a run uses: ``--smpl_model_path`` -> file, with the stand-in fallback.

Every tool (training, evaluation, export, demo) resolves the flag here, so they agree on when the
generated stand-in body model is used and say so the same way. Evaluation, export and the demo
fall back to the stand-in (with a loud warning) when the default file is absent
(:func:`resolve_body_model`); training never does: it uses the stand-in only when asked for it
by name (:func:`require_body_model`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from src import paths

log = logging.getLogger(__name__)

STANDIN_WARNING = (
    "!!! {missing} not found: using the GENERATED STAND-IN body model instead of SMPL. It is not "
    "SMPL: meshes and joints differ, and numbers are not comparable with the paper. Put the SMPL "
    "file there (README, 'Using the released model') for real results."
)


@dataclasses.dataclass(frozen=True)
class BodyModelChoice:
    """The resolved body model.

    Attributes:
        path: the model file.
        standin: True for the generated stand-in body model (not SMPL).
        mean_params: ``neutral_smpl_meanwjoints.h5`` beside the file, or None when absent.
    """

    path: Path
    standin: bool
    mean_params: Path | None

    @property
    def description(self) -> str:
        return f"generated stand-in body model ({self.path})" if self.standin else str(self.path)


def is_standin_file(path: str | os.PathLike) -> bool:
    """True for a body-model pickle written by :mod:`src.smpl.standin` (it says so inside)."""
    path = Path(path)
    if path.suffix.lower() != ".pkl":
        return False
    from src.smpl.io import safe_load_pickle

    try:
        raw = safe_load_pickle(path)
    except (OSError, ValueError):
        return False  # the body-model loader reports unreadable files
    return isinstance(raw, dict) and "standin_version" in raw


def _standin() -> BodyModelChoice:
    from src.smpl.standin import default_standin_path

    return BodyModelChoice(default_standin_path(), True, None)


def _is_default(flag: str | os.PathLike) -> bool:
    flag_path = Path(flag)
    if flag_path == paths.SMPL_MODEL_PATH:
        return True
    return not flag_path.is_absolute() and paths.REPO_ROOT / flag_path == paths.SMPL_MODEL_PATH


def resolve_body_model(flag: str | os.PathLike | None) -> BodyModelChoice:
    """``--smpl_model_path`` -> the file to load.

    - ``None``/empty or the default path: SMPL at :data:`src.paths.SMPL_MODEL_PATH` when present,
      else the generated stand-in, with a loud warning;
    - ``"standin"``: the generated stand-in;
    - any other path: that file, which must exist.

    Raises:
        FileNotFoundError: a path other than the default does not exist.
    """
    if flag is not None and str(flag) == paths.STANDIN_NAME:
        return _standin()
    if flag is None or str(flag) == "" or _is_default(flag):
        path = paths.SMPL_MODEL_PATH
        if not path.is_file():
            log.warning(STANDIN_WARNING.format(missing=path))
            return _standin()
    else:
        path = Path(flag)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: body model file not found (--smpl_model_path)")
    return _choice(path)


def _choice(path: Path) -> BodyModelChoice:
    mean = path.parent / paths.MEAN_PARAMS_FILENAME
    return BodyModelChoice(path, is_standin_file(path), mean if mean.is_file() else None)


def require_body_model(flag: str | os.PathLike | None) -> BodyModelChoice:
    """``--smpl_model_path`` -> the file to load, without fallback (training: a run on the
    stand-in by accident would waste days).

    - ``"standin"``: the generated stand-in, chosen explicitly;
    - ``None``/empty or any path: that file (the default path anchored at the repository root),
      which must exist.

    Raises:
        FileNotFoundError: the file does not exist; the one-line message says how to opt in to
            the stand-in (``--smpl_model_path=standin``).
    """
    if flag is not None and str(flag) == paths.STANDIN_NAME:
        return _standin()
    default = flag is None or str(flag) == "" or _is_default(flag)
    path = paths.SMPL_MODEL_PATH if default else Path(flag)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: body model file not found (--smpl_model_path); put the SMPL file there "
            f"(README, 'Using the released model') or pass --smpl_model_path={paths.STANDIN_NAME} "
            "to train on the generated stand-in body model"
        )
    return _choice(path)
