"""The two BlazePose model files: unpack them from the mediapipe wheel and find them at run time.

MediaPipe's pose models (Apache-2.0) ship inside the PyPI wheel ``mediapipe==0.10.14``. That wheel
cannot be installed beside TensorFlow 2.21 (protobuf conflict), so the set-up downloads it with
``pip download --no-deps`` and this module extracts only the two ``.tflite`` files::

    make models/blazepose/pose_landmark_full.tflite
    # = pip download --no-deps --only-binary=:all: --python-version 3.11 \
    #       --platform manylinux_2_17_x86_64 -d models/blazepose/.wheel mediapipe==0.10.14
    #   python -m src.video.blazepose_models models/blazepose/.wheel models/blazepose

Nothing is downloaded at run time: :func:`find_models` only looks on disk and, when a file is
missing, says which command fetches it.
"""

from __future__ import annotations

import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.14"
DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
# Member paths inside the wheel (checked on mediapipe-0.10.14-cp311 manylinux2014_x86_64).
WHEEL_MEMBERS: dict[str, str] = {
    DETECTOR_FILE: "mediapipe/modules/pose_detection/pose_detection.tflite",
    LANDMARK_FILE: "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
MAKE_COMMAND = "make models/blazepose/pose_landmark_full.tflite"
MODEL_DIR_ENV = "HMMR_BLAZEPOSE_DIR"


@dataclass(frozen=True)
class BlazePoseModelPaths:
    """Paths of the two BlazePose model files.

    Attributes:
        detector: ``pose_detection.tflite`` (224x224 SSD person detector).
        landmark: ``pose_landmark_full.tflite`` (256x256, 33 landmarks).
    """

    detector: Path
    landmark: Path


def default_model_dir() -> Path:
    """``$HMMR_BLAZEPOSE_DIR`` if set, else ``models/blazepose`` at the repository root."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models" / "blazepose"


def find_models(model_dir: str | os.PathLike | None = None) -> BlazePoseModelPaths:
    """Locate both model files.

    Args:
        model_dir: folder holding the two ``.tflite`` files; default :func:`default_model_dir`.
    Returns:
        their paths.
    Raises:
        FileNotFoundError: naming the missing file and the make command that fetches it.
    """
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    paths = BlazePoseModelPaths(folder / DETECTOR_FILE, folder / LANDMARK_FILE)
    for path in (paths.detector, paths.landmark):
        if not path.is_file():
            raise FileNotFoundError(
                f"BlazePose model {path} not found; fetch it once with `{MAKE_COMMAND}` "
                f"(from the repository root; downloads the mediapipe=={MEDIAPIPE_VERSION} wheel "
                "and unpacks the two .tflite files), or pass the folder that holds them"
            )
    return paths


def models_available(model_dir: str | os.PathLike | None = None) -> bool:
    """Whether both model files are there (:func:`find_models` would succeed)."""
    try:
        find_models(model_dir)
    except FileNotFoundError:
        return False
    return True


def _find_wheel(wheel: Path) -> Path:
    """The wheel file itself, or the single ``mediapipe-*.whl`` inside a folder."""
    if wheel.is_file():
        return wheel
    if wheel.is_dir():
        found = sorted(wheel.glob("mediapipe-*.whl"))
        if found:
            return found[-1]
        raise FileNotFoundError(f"{wheel}: expected a mediapipe-*.whl inside, found none")
    raise FileNotFoundError(f"{wheel}: no such wheel file or folder")


def extract_models(wheel: str | os.PathLike, out_dir: str | os.PathLike) -> BlazePoseModelPaths:
    """Copy the two BlazePose ``.tflite`` files out of the mediapipe wheel.

    Each file is written to ``<name>.tmp`` and renamed, so an interrupted run leaves no half file.

    Args:
        wheel: the ``.whl`` file, or a folder holding it.
        out_dir: destination folder (created).
    Returns:
        paths of the extracted files.
    Raises:
        FileNotFoundError: the wheel is missing.
        ValueError: the file is not a zip archive or lacks one of the members.
    """
    wheel_path = _find_wheel(Path(wheel))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(wheel_path)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{wheel_path}: not a wheel (zip) file: {err}") from None
    with archive:
        names = set(archive.namelist())
        for member in WHEEL_MEMBERS.values():
            if member not in names:
                raise ValueError(
                    f"{wheel_path}: expected member {member} (mediapipe=={MEDIAPIPE_VERSION})"
                )
        for file_name, member in WHEEL_MEMBERS.items():
            target = out / file_name
            tmp = target.with_name(target.name + ".tmp")
            with archive.open(member) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(tmp, target)
    return BlazePoseModelPaths(out / DETECTOR_FILE, out / LANDMARK_FILE)


def main(argv: list[str]) -> int:
    """``python -m src.video.blazepose_models WHEEL_OR_DIR OUT_DIR``."""
    if len(argv) != 2:
        print("usage: python -m src.video.blazepose_models WHEEL_OR_DIR OUT_DIR", file=sys.stderr)
        return 2
    try:
        paths = extract_models(argv[0], argv[1])
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {paths.detector} and {paths.landmark}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
