"""Released TF1 checkpoints -> the weights folder (docs/original_release.md §3.10, §3.2).

The original release ships two TF1 checkpoints:

- ``hmmr_model.ckpt-1119816``: temporal encoder ``AZ_FC_*``, hallucinator ``fc2_res``, the
  present regressor ``single_view_ief/3D_module`` + ``mean_param``, the delta regressors
  ``single_view_ief_{past5,future5}``, the discriminator ``D_pose`` (when saved), plus
  optimiser state and SMPL constants;
- ``hmr_noS5.ckpt-642561``: the frozen image encoder ``resnet_v2_50/...`` and HMR's regressor
  ``3D_module`` + ``mean_param`` (the trainer's initialisation), plus HMR's ``D`` discriminator.

:func:`convert_checkpoints` reads them with ``tf.train.load_checkpoint``, infers the
:class:`ModelConfig` from the stored shapes, builds the Keras parts, maps every variable by its
TF1 name through :mod:`src.checkpoints.tf1_names` (which checks every shape), classifies what is
left (ignored with a reason, or unmapped), raises :class:`CheckpointError` for anything the models
need and the checkpoint lacks, and only then writes the folder of
:mod:`src.checkpoints.weights_dir`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from src import constants
from src.checkpoints import weights_dir
from src.checkpoints.tf1_names import (
    DISCRIMINATOR_SCOPE,
    HALLUCINATOR_SCOPE,
    IEF_MLP_SCOPE,
    MEAN_PARAM,
    PRESENT_IEF_SCOPE,
    RESNET_SCOPE,
    WeightMapping,
    assign_from_tf1,
    discriminator_weight_map,
    hmmr_weight_map,
    ief_weight_map,
    resnet_weight_map,
    unmapped_names,
)
from src.networks.config import ModelConfig
from src.networks.discriminator import PoseDiscriminator
from src.networks.hmmr import HMMR
from src.networks.ief_regressor import IEFRegressor
from src.networks.resnet_v2 import build_resnet_v2_50

HMMR_KIND = "hmmr"
HMR_KIND = "hmr"
CHECKPOINT_STATE_FILE = "checkpoint"  # TF1's pointer file next to the checkpoint files
_INDEX_SUFFIX = ".index"
_FILE_SUFFIX = re.compile(r"(\.index|\.meta|\.data-\d+-of-\d+)$")

TEMPORAL_CONV_TF1 = "AZ_FC_block2_conv1block_{i}/weights"
PRESENT_FC1_TF1 = f"{PRESENT_IEF_SCOPE}/{IEF_MLP_SCOPE}/fc1/weights"
HMR_FC1_TF1 = f"{IEF_MLP_SCOPE}/fc1/weights"
HALLUCINATOR_FC1_TF1 = f"{HALLUCINATOR_SCOPE}/fc1/weights"
DISC_CONV1_TF1 = f"{DISCRIMINATOR_SCOPE}/D_conv1/weights"
DISC_ALL_FC1_TF1 = f"{DISCRIMINATOR_SCOPE}/D_alljoints_fc1/weights"
_DELTA_FC1_TF1 = re.compile(
    rf"^{PRESENT_IEF_SCOPE}_(past|future)(\d+)/{re.escape(IEF_MLP_SCOPE)}/fc1/weights$"
)

# (regex, reason): variables that are left out on purpose, first match wins.
_TRAINING_STATE_RULES: tuple[tuple[str, str], ...] = (
    (r"/Adam(_\d+)?$", "Adam optimiser slots"),
    (r"(^|/)beta[12]_power(_\d+)?$", "Adam optimiser powers"),
    (r"^global_step$", "training step counter"),
    (
        r"^(v_template|shapedirs|J_regressor|posedirs|lbs_weights|cocoplus_regressor)$",
        "SMPL constants (read from the SMPL model file instead)",
    ),
)
HMMR_IGNORE_RULES: tuple[tuple[str, str], ...] = _TRAINING_STATE_RULES + (
    (r"^D/", "HMR's discriminator"),
    (rf"^{re.escape(IEF_MLP_SCOPE)}/", "HMR's regressor (HMMR's is single_view_ief/3D_module)"),
    (rf"^{RESNET_SCOPE}/", "ResNet (taken from --hmr_ckpt, as the original demo and eval did)"),
)
HMR_IGNORE_RULES: tuple[tuple[str, str], ...] = _TRAINING_STATE_RULES + (
    (r"^D/", "HMR's pose+shape discriminator (HMMR's D_pose trains from scratch)"),
    (rf"^{RESNET_SCOPE}/logits/", "classification logits (unused)"),
)


class CheckpointError(ValueError):
    """A TF1 checkpoint is missing, unreadable, or does not hold what the models need."""


@dataclasses.dataclass
class TF1Checkpoint:
    """An opened TF1 checkpoint.

    Attributes:
        prefix: the checkpoint prefix, e.g. ``models/hmmr_model.ckpt-1119816``.
        shapes: TF1 variable name (no ``:0``) -> stored shape.
    """

    prefix: str
    shapes: dict[str, tuple[int, ...]]
    reader: object = dataclasses.field(repr=False)

    def read(self, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Arrays of ``names`` (each must be in :attr:`shapes`)."""
        out = {}
        for name in names:
            try:
                out[name] = np.asarray(self.reader.get_tensor(name))
            except (tf.errors.OpError, ValueError) as err:
                raise CheckpointError(
                    f"{self.prefix}: cannot read '{name}' ({_first_line(err)})"
                ) from None
        return out


@dataclasses.dataclass
class Conversion:
    """What one checkpoint gave.

    Attributes:
        kind: ``hmmr`` or ``hmr``.
        prefix: the checkpoint prefix read.
        num_variables: variables stored in the checkpoint.
        parts: weights-folder part -> weight name -> array.
        mapped: part -> number of TF1 variables mapped into it.
        ignored: reason -> number of variables left out on purpose.
        unmapped: names neither mapped nor ignored (0 expected for the released files).
        checked_only: variables read and checked but not written (HMR's regressor when the
            HMMR one is kept).
        notes: remarks for the user (e.g. a part kept from the output folder).
    """

    kind: str
    prefix: str
    num_variables: int
    parts: dict[str, dict[str, np.ndarray]]
    mapped: dict[str, int]
    ignored: dict[str, int]
    unmapped: list[str]
    checked_only: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ConversionResult:
    """The written folder, its config and one :class:`Conversion` per checkpoint."""

    out_dir: Path
    config: ModelConfig
    conversions: list[Conversion]


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", "") or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _strip_file_suffix(path: str) -> str:
    """``x.ckpt-5.index`` / ``.meta`` / ``.data-00000-of-00001`` -> ``x.ckpt-5``."""
    return _FILE_SUFFIX.sub("", path)


def _prefix_from_state_file(folder: Path) -> str | None:
    """The prefix named by ``folder/checkpoint``, also when it holds the author's absolute path."""
    if not (folder / CHECKPOINT_STATE_FILE).is_file():
        return None
    try:
        state = tf.train.get_checkpoint_state(str(folder))
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(
            f"{folder / CHECKPOINT_STATE_FILE}: unreadable ({_first_line(err)})"
        ) from None
    if state is None or not state.model_checkpoint_path:
        return None
    named = Path(state.model_checkpoint_path)
    for candidate in (named if named.is_absolute() else folder / named, folder / named.name):
        if Path(f"{candidate}{_INDEX_SUFFIX}").is_file():
            return str(candidate)
    return None


def resolve_prefix(path: str | Path) -> str:
    """The checkpoint prefix behind what a user passes.

    Accepts the prefix itself (``models/hmmr_model.ckpt-1119816``), one of its files
    (``.index``, ``.meta``, ``.data-*``), or a folder holding a ``checkpoint`` pointer file or a
    single ``*.index``.

    Raises:
        CheckpointError: naming ``path`` and what was expected there.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        prefix = _prefix_from_state_file(given)
        if prefix is not None:
            return prefix
        indexes = sorted(given.glob(f"*{_INDEX_SUFFIX}"))
        if len(indexes) == 1:
            return str(indexes[0])[: -len(_INDEX_SUFFIX)]
        if not indexes:
            raise CheckpointError(
                f"{given}: folder holds no TF1 checkpoint (no '{CHECKPOINT_STATE_FILE}' file "
                "and no *.index)"
            )
        names = ", ".join(p.name[: -len(_INDEX_SUFFIX)] for p in indexes)
        raise CheckpointError(
            f"{given}: folder holds several checkpoints ({names}); pass one prefix"
        )
    prefix = _strip_file_suffix(str(given))
    if not Path(prefix + _INDEX_SUFFIX).is_file():
        raise CheckpointError(
            f"{path}: no TF1 checkpoint there (expected {prefix}{_INDEX_SUFFIX} and "
            f"{prefix}.data-00000-of-00001)"
        )
    return prefix


def open_checkpoint(path: str | Path) -> TF1Checkpoint:
    """Resolve ``path`` (see :func:`resolve_prefix`) and read the checkpoint's variable list."""
    prefix = resolve_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = {
            name: tuple(int(d) for d in shape)
            for name, shape in reader.get_variable_to_shape_map().items()
        }
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: unreadable TF1 checkpoint ({_first_line(err)})") from None
    return TF1Checkpoint(prefix=prefix, shapes=shapes, reader=reader)


def _replace_config(base: ModelConfig, source: str, **updates) -> ModelConfig:
    try:
        return dataclasses.replace(base, **updates)
    except ValueError as err:
        raise CheckpointError(f"{source}: stored shapes give an invalid model ({err})") from None


def delta_t_values_from_names(names: Iterable[str]) -> tuple[int, ...]:
    """``single_view_ief_past5`` -> -5, ``single_view_ief_future5`` -> +5 (sorted)."""
    values = []
    for name in names:
        match = _DELTA_FC1_TF1.match(name)
        if match:
            kind, steps = match.groups()
            values.append(-int(steps) if kind == "past" else int(steps))
    return tuple(sorted(values))


def infer_hmmr_config(
    shapes: Mapping[str, Sequence[int]], source: str, base: ModelConfig | None = None
) -> ModelConfig:
    """The :class:`ModelConfig` an HMMR checkpoint was trained with, from its stored shapes.

    Read from the shapes: ``phi_dim`` and ``ief_hidden`` (present fc1 [D + 85, H]),
    ``num_conv_layers`` and ``conv_kernel`` (``AZ_FC_block2_conv1block_{i}`` [k, 1, D, D]),
    ``delta_t_values`` (the ``single_view_ief_{past,future}N`` scopes), ``hallucinator_hidden``
    and the discriminator widths when present. The rest (GroupNorm groups and epsilon, IEF
    stages, dropout) is not stored in a checkpoint and keeps ``base``'s (the original) values.

    Raises:
        CheckpointError: when the checkpoint is not an HMMR one.
    """
    if PRESENT_FC1_TF1 not in shapes:
        hint = " (it looks like the HMR checkpoint: pass it as --hmr_ckpt)"
        raise CheckpointError(
            f"{source}: not an HMMR checkpoint, it has no '{PRESENT_FC1_TF1}'"
            + (hint if HMR_FC1_TF1 in shapes else "")
        )
    in_dim, hidden = shapes[PRESENT_FC1_TF1]
    num_blocks = 0
    while TEMPORAL_CONV_TF1.format(i=num_blocks) in shapes:
        num_blocks += 1
    if num_blocks == 0:
        raise CheckpointError(
            f"{source}: missing the temporal encoder ('{TEMPORAL_CONV_TF1.format(i=0)}')"
        )
    updates = {
        "phi_dim": int(in_dim) - constants.THETA_DIM,
        "ief_hidden": int(hidden),
        "num_conv_layers": num_blocks,
        "conv_kernel": int(shapes[TEMPORAL_CONV_TF1.format(i=0)][0]),
        "delta_t_values": delta_t_values_from_names(shapes),
    }
    if HALLUCINATOR_FC1_TF1 in shapes:
        updates["hallucinator_hidden"] = int(shapes[HALLUCINATOR_FC1_TF1][-1])
    if DISC_CONV1_TF1 in shapes:
        updates["disc_joint_hidden"] = int(shapes[DISC_CONV1_TF1][-1])
    if DISC_ALL_FC1_TF1 in shapes:
        updates["disc_all_hidden"] = int(shapes[DISC_ALL_FC1_TF1][-1])
    return _replace_config(base or ModelConfig(), source, **updates)


def infer_hmr_config(
    shapes: Mapping[str, Sequence[int]], source: str, base: ModelConfig | None = None
) -> ModelConfig:
    """``base`` with ``phi_dim`` and ``ief_hidden`` read from HMR's ``3D_module/fc1`` [D + 85, H].

    Raises:
        CheckpointError: when the checkpoint is not an HMR one.
    """
    if HMR_FC1_TF1 not in shapes:
        hint = " (it looks like the HMMR checkpoint: pass it as --hmmr_ckpt)"
        raise CheckpointError(
            f"{source}: not an HMR checkpoint, it has no '{HMR_FC1_TF1}'"
            + (hint if PRESENT_FC1_TF1 in shapes else "")
        )
    in_dim, hidden = shapes[HMR_FC1_TF1]
    return _replace_config(
        base or ModelConfig(),
        source,
        phi_dim=int(in_dim) - constants.THETA_DIM,
        ief_hidden=int(hidden),
    )


def _config_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    return [f"{key} {da[key]} vs {db[key]}" for key in da if da[key] != db[key]]


def _classify_ignored(names: Iterable[str], rules: Sequence[tuple[str, str]]) -> dict[str, int]:
    """reason -> count of ``names`` matching it (first rule wins)."""
    compiled = [(re.compile(pattern), reason) for pattern, reason in rules]
    counts: dict[str, int] = {}
    for name in names:
        for pattern, reason in compiled:
            if pattern.search(name):
                counts[reason] = counts.get(reason, 0) + 1
                break
    return counts


def _check_coverage(part: str, layer: keras.layers.Layer, rows: Sequence[WeightMapping]) -> None:
    """Every weight of ``layer`` has a TF1 source (else it would be saved with its random init)."""
    covered = {id(row.variable) for row in rows}
    left = [w.path for w in layer.weights if id(w) not in covered]
    if left:
        raise RuntimeError(f"tf1_names maps no TF1 variable to {part} weights {left[:5]}")


def _fill_parts(
    ckpt: TF1Checkpoint,
    groups: Mapping[str, tuple[keras.layers.Layer, Sequence[WeightMapping]]],
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, int]]:
    """Check presence, read, check shapes and assign; returns the part arrays and row counts."""
    rows = [row for _, part_rows in groups.values() for row in part_rows]
    missing = [row.tf1_name for row in rows if row.tf1_name not in ckpt.shapes]
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        raise CheckpointError(f"{ckpt.prefix}: missing {len(missing)} variable(s): {shown}")
    for part, (layer, part_rows) in groups.items():
        _check_coverage(part, layer, part_rows)
        values = ckpt.read(row.tf1_name for row in part_rows)
        assign_from_tf1(part_rows, values, source=ckpt.prefix)  # shapes checked here
    parts = {
        part: weights_dir.part_arrays(layer, _layer_part_name(part, layer))
        for part, (layer, _) in groups.items()
    }
    return parts, {part: len(part_rows) for part, (_, part_rows) in groups.items()}


def _layer_part_name(part: str, layer: keras.layers.Layer) -> str:
    """The name :func:`weights_dir.load_into` strips weight paths with."""
    if part in (weights_dir.DISCRIMINATOR_PART, weights_dir.RESNET_PART):
        return layer.name
    return part


def _has_unignored(names: Iterable[str], prefix: str, rules: Sequence[tuple[str, str]]) -> bool:
    compiled = [re.compile(pattern) for pattern, _ in rules]
    return any(
        name.startswith(prefix) and not any(p.search(name) for p in compiled) for name in names
    )


def _finish(
    ckpt: TF1Checkpoint,
    kind: str,
    groups: Mapping[str, tuple[keras.layers.Layer, Sequence[WeightMapping]]],
    rules: Sequence[tuple[str, str]],
    not_written: Sequence[WeightMapping] = (),
) -> Conversion:
    """Fill ``groups`` from ``ckpt`` and classify every other stored variable."""
    parts, mapped = _fill_parts(ckpt, groups)
    all_rows = [row for _, part_rows in groups.values() for row in part_rows] + list(not_written)
    unmapped = unmapped_names(all_rows, ckpt.shapes, ignored=[p for p, _ in rules])
    handled = {row.tf1_name for row in all_rows}
    ignored = _classify_ignored((n for n in ckpt.shapes if n not in handled), rules)
    return Conversion(
        kind, ckpt.prefix, len(ckpt.shapes), parts, mapped, ignored, unmapped, len(not_written)
    )


def convert_hmmr(ckpt: TF1Checkpoint, config: ModelConfig) -> Conversion:
    """HMMR checkpoint -> parts ``temporal_encoder``, ``hallucinator``, ``ief_regressor``,
    ``delta_predictor_*`` and, when ``D_pose`` is stored, ``discriminator``."""
    model = HMMR(config)
    model.build()
    layers = weights_dir.hmmr_parts(model)
    owner = {id(w): part for part, layer in layers.items() for w in layer.weights}
    rows_by_part: dict[str, list[WeightMapping]] = {part: [] for part in layers}
    for row in hmmr_weight_map(model):
        rows_by_part[owner[id(row.variable)]].append(row)
    groups = {part: (layers[part], rows_by_part[part]) for part in layers}
    if _has_unignored(ckpt.shapes, f"{DISCRIMINATOR_SCOPE}/", HMMR_IGNORE_RULES):
        disc = PoseDiscriminator(config.disc_joint_hidden, config.disc_all_hidden)
        disc.build()
        groups[weights_dir.DISCRIMINATOR_PART] = (disc, discriminator_weight_map(disc))
    conversion = _finish(ckpt, HMMR_KIND, groups, HMMR_IGNORE_RULES)
    if any(name.startswith(f"{RESNET_SCOPE}/") for name in ckpt.shapes):
        conversion.notes.append(
            f"its {RESNET_SCOPE}/* is not used: the image encoder comes from --hmr_ckpt"
        )
    if weights_dir.DISCRIMINATOR_PART not in groups:
        conversion.notes.append(
            f"no {DISCRIMINATOR_SCOPE}/* stored: the discriminator was not converted"
        )
    return conversion


def convert_hmr(
    ckpt: TF1Checkpoint, config: ModelConfig, with_regressor: bool = True
) -> Conversion:
    """HMR checkpoint -> parts ``resnet_v2_50`` and (``with_regressor``) ``ief_regressor``.

    ``3D_module/*`` and ``mean_param`` are HMMR's initialisation (§3.10). With
    ``with_regressor=False`` they are still checked but not written (HMMR's own regressor wins).
    """
    resnet = build_resnet_v2_50(img_size=config.img_size)
    groups = {weights_dir.RESNET_PART: (resnet, resnet_weight_map(resnet))}
    ief = IEFRegressor.present_from_config(config)
    ief.build()
    ief_rows = ief_weight_map(ief, scope="") + [WeightMapping(MEAN_PARAM, ief.mean_theta)]
    if with_regressor:
        groups["ief_regressor"] = (ief, ief_rows)
        conversion = _finish(ckpt, HMR_KIND, groups, HMR_IGNORE_RULES)
    else:
        _fill_parts(ckpt, {"ief_regressor": (ief, ief_rows)})  # present and well shaped
        conversion = _finish(ckpt, HMR_KIND, groups, HMR_IGNORE_RULES, not_written=ief_rows)
    width = conversion.parts[weights_dir.RESNET_PART]["postnorm/gamma"].shape[0]
    if width != config.phi_dim:
        conversion.notes.append(
            f"warning: the ResNet gives {width}-D features but the regressor expects "
            f"phi_dim {config.phi_dim}"
        )
    return conversion


def _existing_folder(out_dir: Path) -> dict | None:
    if not (out_dir / weights_dir.CONFIG_FILE).is_file():
        return None
    return weights_dir.read_manifest(out_dir)


def _merge_sources(previous: str, new: Sequence[str]) -> str:
    items = [s for s in previous.split("; ") if s] if previous else []
    items += [s for s in new if s not in items]
    return "; ".join(items)


def _plan_config(
    hmmr: TF1Checkpoint | None,
    hmr: TF1Checkpoint | None,
    existing: dict | None,
    out_dir: Path,
) -> ModelConfig:
    """One config for everything written: from the HMMR shapes, else the folder's, else HMR's."""
    folder_config = ModelConfig.from_dict(existing["model_config"]) if existing else None
    if hmmr is not None:
        config = infer_hmmr_config(hmmr.shapes, hmmr.prefix)
        if folder_config is not None and folder_config != config:
            diff = ", ".join(_config_differences(config, folder_config))
            raise CheckpointError(
                f"{out_dir}: holds weights of another model config ({diff}); use an empty folder"
            )
    else:
        config = folder_config or infer_hmr_config(hmr.shapes, hmr.prefix)
    if hmr is not None:
        from_hmr = infer_hmr_config(hmr.shapes, hmr.prefix, base=config)
        if from_hmr != config:
            diff = ", ".join(_config_differences(from_hmr, config))
            raise CheckpointError(f"{hmr.prefix}: regressor does not fit the model ({diff})")
    return config


def convert_checkpoints(
    out_dir: str | Path,
    hmmr_ckpt: str | Path | None = None,
    hmr_ckpt: str | Path | None = None,
    strict: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ConversionResult:
    """Convert the released checkpoints into the weights folder ``out_dir``.

    Everything is read and checked before anything is written; each file of the folder is then
    written to a temporary name and renamed. ``out_dir`` may already hold a conversion of the
    other checkpoint (same config); its parts are kept. When the folder (or this call) holds the
    HMMR regressor, HMR's ``3D_module`` is checked but not written over it.

    Args:
        out_dir: the weights folder (created if needed).
        hmmr_ckpt: ``hmmr_model.ckpt-*`` prefix, file or folder, or None.
        hmr_ckpt: ``hmr_noS5.ckpt-*`` prefix, file or folder, or None.
        strict: raise when a variable is neither mapped nor ignored.
        progress: called with a line per step (e.g. ``print``).
    Raises:
        CheckpointError: unreadable/incomplete checkpoints, shape mismatches, config clashes
            (or unmapped variables with ``strict``).
    """
    if hmmr_ckpt is None and hmr_ckpt is None:
        raise CheckpointError("give --hmmr_ckpt, --hmr_ckpt or both")
    say = progress or (lambda _line: None)
    out = Path(out_dir)
    try:
        existing = _existing_folder(out)
    except weights_dir.WeightsDirError as err:
        raise CheckpointError(str(err)) from None
    hmmr = open_checkpoint(hmmr_ckpt) if hmmr_ckpt is not None else None
    hmr = open_checkpoint(hmr_ckpt) if hmr_ckpt is not None else None
    config = _plan_config(hmmr, hmr, existing, out)
    conversions = []
    if hmmr is not None:
        say(f"reading {hmmr.prefix} ({len(hmmr.shapes)} variables)")
        conversions.append(convert_hmmr(hmmr, config))
    if hmr is not None:
        say(f"reading {hmr.prefix} ({len(hmr.shapes)} variables)")
        keep_hmmr_regressor = hmmr is not None or (
            existing is not None and "temporal_encoder" in existing["parts"]
        )
        conversion = convert_hmr(hmr, config, with_regressor=not keep_hmmr_regressor)
        if keep_hmmr_regressor:
            conversion.notes.append(
                "kept HMMR's ief_regressor; HMR's 3D_module/mean_param were checked, not written "
                "(convert --hmr_ckpt alone into its own folder for a training initialisation)"
            )
        conversions.append(conversion)
    unmapped = [name for c in conversions for name in c.unmapped]
    if strict and unmapped:
        raise CheckpointError(
            f"{len(unmapped)} unmapped variable(s) (--strict): {', '.join(unmapped[:8])}"
        )
    parts = {name: arrays for c in conversions for name, arrays in c.parts.items()}
    have = set(parts) | set(existing["parts"] if existing else ())
    if weights_dir.RESNET_PART not in have:
        conversions[-1].notes.append(
            f"{out} has no {weights_dir.RESNET_PART} yet: the demo, evaluation and export also "
            "need --hmr_ckpt (into the same folder)"
        )
    source = _merge_sources(
        existing.get("source", "") if existing else "",
        [f"{c.kind}: {c.prefix}" for c in conversions],
    )
    try:
        written = weights_dir.save_weights_dir(out, config, parts, source=source)
    except weights_dir.WeightsDirError as err:
        raise CheckpointError(str(err)) from None
    return ConversionResult(out_dir=written, config=config, conversions=conversions)
