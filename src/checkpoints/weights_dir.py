"""The weights folder that every tool loads with ``--load_path``.

One folder, written by the checkpoint converter (``python -m src.convert``), by the trainer at the
end of a run (``<run_dir>/export``) and by ``python -m src.training.export_weights``::

    DIR/model_config.json      {"format_version", "model_config", "parts", "source"}
    DIR/<part>.npz             one file per part present: weight name -> array

Parts: ``temporal_encoder``, ``hallucinator``, ``ief_regressor`` (with ``mean_theta``), one
``delta_predictor_<past|future>N`` per delta t, ``discriminator``, ``resnet_v2_50``. A folder may
hold only some of them: the HMR checkpoint converts to ``ief_regressor`` + ``resnet_v2_50``
(what the trainer initialises from, docs/original_release.md §3.10), the HMMR checkpoint to the
rest. Weight names are the Keras variable paths relative to the part, so a file reads back into any
model built from the same :class:`~src.networks.config.ModelConfig`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import keras
import numpy as np

from src.networks.config import ModelConfig

FORMAT_VERSION = 1
CONFIG_FILE = "model_config.json"
RESNET_PART = "resnet_v2_50"
DISCRIMINATOR_PART = "discriminator"


class WeightsDirError(ValueError):
    """A weights folder is missing, incomplete or does not fit the model."""


def hmmr_parts(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """The named parts of an :class:`~src.networks.hmmr.HMMR` model, built if needed."""
    if not model.built:
        model.build()
    parts = {
        "temporal_encoder": model.temporal_encoder,
        "hallucinator": model.hallucinator,
        "ief_regressor": model.ief_regressor,
    }
    for predictor in model.delta_predictors:
        parts[predictor.name] = predictor
    return parts


def _relative_name(path: str, part_name: str) -> str:
    """'hmmr/ief_regressor/fc1/kernel' -> 'fc1/kernel' for the part 'ief_regressor'."""
    segments = path.split("/")
    if part_name in segments:
        segments = segments[segments.index(part_name) + 1 :]
    return "/".join(segments)


def part_arrays(layer: keras.layers.Layer, part_name: str | None = None) -> dict[str, np.ndarray]:
    """Every weight of ``layer`` as name -> array (names relative to the part)."""
    part_name = part_name or layer.name
    arrays = {}
    for weight in layer.weights:
        name = _relative_name(weight.path, part_name)
        if name in arrays:
            raise WeightsDirError(f"part '{part_name}': two weights named '{name}'")
        arrays[name] = np.asarray(weight.numpy())
    return arrays


def assign_part(
    layer: keras.layers.Layer, arrays: Mapping[str, np.ndarray], part_name: str, source: str
) -> None:
    """Load ``arrays`` into ``layer``: same names, same shapes, nothing left over."""
    expected = {_relative_name(w.path, part_name): w for w in layer.weights}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise WeightsDirError(
            f"{source}: part '{part_name}' does not fit the model "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    for name, weight in expected.items():
        value = np.asarray(arrays[name])
        if tuple(value.shape) != tuple(weight.shape):
            raise WeightsDirError(
                f"{source}: '{part_name}/{name}' has shape {value.shape}, "
                f"the model expects {tuple(weight.shape)}"
            )
        weight.assign(value.astype(weight.dtype))


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_weights_dir(
    out_dir: str | os.PathLike,
    config: ModelConfig,
    parts: Mapping[str, Mapping[str, np.ndarray]],
    source: str = "",
) -> Path:
    """Write ``parts`` (part name -> weight name -> array) and the config to ``out_dir``.

    Parts already in the folder and not in ``parts`` are kept and stay listed, so the HMR and
    HMMR conversions may write into the same folder one after the other.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    listed = set()
    config_path = out / CONFIG_FILE
    if config_path.exists():
        previous = read_manifest(out)
        if ModelConfig.from_dict(previous["model_config"]) != config:
            raise WeightsDirError(
                f"{config_path}: holds a different model config; write to an empty folder"
            )
        listed = set(previous["parts"])
    for name, arrays in parts.items():
        _atomic_savez(out / f"{name}.npz", arrays)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_config": config.to_dict(),
        "parts": sorted(listed | set(parts)),
        "source": source,
    }
    _atomic_write_text(config_path, json.dumps(manifest, indent=2) + "\n")
    return out


def save_models(
    out_dir: str | os.PathLike,
    model: keras.Model | None = None,
    discriminator: keras.Model | None = None,
    resnet: keras.Model | None = None,
    config: ModelConfig | None = None,
    source: str = "",
) -> Path:
    """Save whichever models are given (HMMR parts, discriminator, ResNet) as a weights folder."""
    parts: dict[str, dict[str, np.ndarray]] = {}
    if model is not None:
        config = config or model.config
        for name, layer in hmmr_parts(model).items():
            parts[name] = part_arrays(layer, name)
    if discriminator is not None:
        parts[DISCRIMINATOR_PART] = part_arrays(discriminator, discriminator.name)
    if resnet is not None:
        parts[RESNET_PART] = part_arrays(resnet, resnet.name)
    if config is None:
        raise WeightsDirError("save_models: give a model or a config")
    return save_weights_dir(out_dir, config, parts, source)


def resolve(path: str | os.PathLike) -> Path:
    """The weights folder behind ``path``: the folder itself, or a training run's ``export/``."""
    path = Path(path)
    for candidate in (path, path / "export"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    if not path.exists():
        raise WeightsDirError(f"{path}: no such weights folder")
    raise WeightsDirError(
        f"{path}: not a weights folder (no {CONFIG_FILE}); convert released checkpoints with "
        "`python -m src.convert`, or export a training run with "
        "`python -m src.training.export_weights --load_path RUN_DIR`"
    )


def read_manifest(path: str | os.PathLike) -> dict:
    """The parsed ``model_config.json`` of a weights folder."""
    folder = resolve(path)
    config_path = folder / CONFIG_FILE
    try:
        manifest = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise WeightsDirError(f"{config_path}: unreadable ({err})") from err
    for key in ("format_version", "model_config", "parts"):
        if key not in manifest:
            raise WeightsDirError(f"{config_path}: missing key '{key}'")
    if manifest["format_version"] > FORMAT_VERSION:
        raise WeightsDirError(
            f"{config_path}: format version {manifest['format_version']} is newer than this "
            f"code ({FORMAT_VERSION})"
        )
    return manifest


def read_model_config(path: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` a weights folder was written for."""
    return ModelConfig.from_dict(read_manifest(path)["model_config"])


def read_part(path: str | os.PathLike, part: str) -> dict[str, np.ndarray]:
    """Arrays of one part; raises :class:`WeightsDirError` when the folder lacks it."""
    folder = resolve(path)
    manifest = read_manifest(folder)
    if part not in manifest["parts"]:
        raise WeightsDirError(f"{folder}: has no part '{part}' (it has {manifest['parts']})")
    file = folder / f"{part}.npz"
    try:
        with np.load(file) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise WeightsDirError(f"{file}: unreadable ({err})") from err


def copy_part(source: str | os.PathLike, target: str | os.PathLike, part: str) -> bool:
    """Copy ``part`` from the weights folder ``source`` into ``target`` when ``source`` has it.

    Returns:
        True when copied; False when ``source`` is not a weights folder or lacks the part.
    """
    try:
        if part not in available_parts(source):
            return False
        arrays = read_part(source, part)
    except WeightsDirError:
        return False
    manifest = read_manifest(target)
    config = ModelConfig.from_dict(manifest["model_config"])
    save_weights_dir(target, config, {part: arrays}, manifest["source"])
    return True


def available_parts(path: str | os.PathLike) -> list[str]:
    """Names of the parts a weights folder holds."""
    return list(read_manifest(path)["parts"])


def load_into(
    path: str | os.PathLike,
    model: keras.Model | None = None,
    discriminator: keras.Model | None = None,
    resnet: keras.Model | None = None,
    only: Iterable[str] | None = None,
    require_all: bool = True,
) -> list[str]:
    """Assign the folder's weights to the given models; returns the parts loaded.

    Args:
        only: restrict to these part names (e.g. ``["ief_regressor"]`` for the HMR init).
        require_all: raise when a part of a given model is absent from the folder.
    """
    folder = resolve(path)
    have = set(available_parts(folder))
    targets: dict[str, keras.layers.Layer] = {}
    if model is not None:
        targets.update(hmmr_parts(model))
    if discriminator is not None:
        targets[DISCRIMINATOR_PART] = discriminator
    if resnet is not None:
        targets[RESNET_PART] = resnet
    if only is not None:
        wanted = set(only)
        targets = {name: layer for name, layer in targets.items() if name in wanted}
    absent = sorted(set(targets) - have)
    if absent and require_all:
        hint = ""
        if RESNET_PART in absent:
            hint = (
                f"; add the image encoder the features were computed with: python -m src.convert "
                f"--hmr_ckpt models/hmr_noS5.ckpt-642561 --out {folder}"
            )
        raise WeightsDirError(f"{folder}: missing parts {absent} (it has {sorted(have)}){hint}")
    loaded = []
    for name, layer in targets.items():
        if name not in have:
            continue
        layer_name = layer.name if name in (DISCRIMINATOR_PART, RESNET_PART) else name
        assign_part(layer, read_part(folder, name), layer_name, str(folder / f"{name}.npz"))
        loaded.append(name)
    return loaded
