"""The configuration of one training run, typed: :class:`TrainConfig` and its parts.

One route from the command line to the run (as Model Garden's ``run_experiment``)::

    flags (src.training.flags)  --command_line.train_config-->  TrainConfig  --run.run-->  run

:meth:`TrainConfig.from_flags` is the only reader of flag values. It is strict both ways: a
field whose flag is missing from the values, and a flag that no field reads (and that is not
listed in :data:`NO_EFFECT_FLAGS`, :data:`CHECKED_FLAGS` or :data:`RUN_DIR_FLAGS`), are errors
naming them, so a renamed flag or field cannot be ignored silently.

Sections (all frozen dataclasses):

- ``model``: :class:`~src.networks.config.ModelConfig` (network sizes);
- ``loss_weights``: :class:`~src.losses.weights.LossWeights` (``e_lw_*``, ``d_lw_pose``);
- ``loss``: :class:`~src.losses.hmmr_losses.LossConfig` (which loss terms exist);
- ``step``: :class:`TrainSettings` (what the compiled step needs: batch, T, learning rates, ...);
- ``run``: :class:`RunSettings` (data, body model, initialisation, loop cadences, strategy);

plus the run directory, whether it resumes, the flags given on the command line and every
flag's resolved value (written unchanged to ``params.json``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from src.losses.hmmr_losses import LossConfig
from src.losses.weights import LossWeights
from src.networks.config import ModelConfig

# Flags kept for compatibility that change nothing here (docs/original_release.md §2.6).
NO_EFFECT_FLAGS = (
    "smpl_face_path",
    "e_wd",
    "d_wd",
    "log_vid_step",
    "freeze_phi",
    "trans_max",
    "delta_trans_max",
    "scale_max",
    "delta_scale_max",
    "rotate_max",
    "delta_rotate_max",
)
# Flags with one supported value, checked by src.training.flags.validate_flags (and the
# temporal encoder's name, also part of the automatic run name).
CHECKED_FLAGS = (
    "num_kps",
    "data_format",
    "image_encoder_model_type",
    "temporal_encoder_type",
    "hallucinator_model_type",
    "precomputed_phi",
    "use_delta_from_pred",
)
# Flags that choose the run directory (src.training.command_line), held as TrainConfig.run_dir.
RUN_DIR_FLAGS = ("load_path", "model_dir", "log_dir")

# ModelConfig field -> flag, where the names differ; fields absent from the flags are fixed.
_MODEL_FLAG_NAMES = {"num_ief_stages": "num_stage"}
_MODEL_FIXED_FIELDS = ("gn_groups", "gn_epsilon", "conv_kernel")  # src.constants' values
# TrainSettings field -> flag, where the names differ
_STEP_FLAG_NAMES = {"seq_length": "T"}


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What the step needs besides the model and loss configurations.

    Args:
        batch_size: GLOBAL batch B (sequences); divided over the replicas (``--batch_size``).
        seq_length: T (``--T``).
        e_lr: encoder Adam learning rate.
        d_lr: discriminator Adam learning rate.
        xla: compile the forward pass (and its gradient) with XLA.
        mixed_precision: ``mixed_float16`` compute and dynamic loss scaling.
    """

    batch_size: int = 8
    seq_length: int = 20
    e_lr: float = 1e-5
    d_lr: float = 1e-4
    xla: bool = False
    mixed_precision: bool = False


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Everything else the run reads from its flags (field names are the flag names).

    Args:
        data_dir: TFRecord root ``<data_dir>/<dataset>/train/*.tfrecord``.
        datasets: training datasets.
        mocap_datasets: mocap sets for the discriminator.
        three_d_datasets: which of ``datasets`` form the 3D side of the split-balanced mix.
        split_balanced: half of each batch from the 3D side.
        skip_corrupt: skip damaged records instead of stopping.
        summary_images: decode the JPEG crops for image summaries.
        make_quick_data: generate the quick synthetic data set when ``data_dir`` has no records.
        phi_dim: per-frame feature width of the records.
        smpl_model_path: body-model file (or ``standin``).
        pretrained_model_path: weights folders to initialise from (empty strings dropped later).
        use_hmr_ief_init: initialise the present IEF and mean theta from a converted HMR.
        strategy: ``one_device``, ``mirrored`` or ``multi_worker_mirrored``.
        seed: random seed.
        max_iteration: stop when the step reaches this.
        checkpoint_every_steps / checkpoint_every_secs / max_checkpoints_to_keep /
        keep_checkpoint_every_n_hours: checkpoint cadence and retention.
        summary_every_steps / log_every_steps / log_img_step / log_img_count: summary cadence.
        export_at_end: write ``<run_dir>/export`` at the end.
    """

    data_dir: str | None
    datasets: tuple[str, ...]
    mocap_datasets: tuple[str, ...]
    three_d_datasets: tuple[str, ...]
    split_balanced: bool
    skip_corrupt: bool
    summary_images: bool
    make_quick_data: bool
    phi_dim: int
    smpl_model_path: str
    pretrained_model_path: tuple[str, ...]
    use_hmr_ief_init: bool
    strategy: str
    seed: int
    max_iteration: int
    checkpoint_every_steps: int
    checkpoint_every_secs: int
    max_checkpoints_to_keep: int
    keep_checkpoint_every_n_hours: float
    summary_every_steps: int
    log_every_steps: int
    log_img_step: int
    log_img_count: int
    export_at_end: bool

    def __post_init__(self) -> None:
        for name in ("datasets", "mocap_datasets", "three_d_datasets", "pretrained_model_path"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The whole configuration of a training run.

    Args:
        model: network sizes.
        loss_weights: loss weights.
        loss: which loss terms exist.
        step: batch, sequence length, learning rates, XLA, mixed precision.
        run: data, body model, initialisation, strategy, loop cadences.
        run_dir: the run directory (chosen from ``--load_path``/``--model_dir``/``--log_dir``).
        resuming: the run directory is an existing run (its ``params.json`` was merged).
        given: names of the flags typed on the command line itself, not read from a flagfile
            (on resume they are the ones that override ``params.json``).
        params: every flag's resolved value, JSON-friendly; written as ``params.json``.

    Example:
        >>> config = TrainConfig.from_flags(resolved_params(fv), run_dir=Path("logs/run"))
        >>> config.model.phi_dim, config.step.seq_length
        (2048, 20)
    """

    model: ModelConfig
    loss_weights: LossWeights
    loss: LossConfig
    step: TrainSettings
    run: RunSettings
    run_dir: Path
    resuming: bool = False
    given: frozenset[str] = frozenset()
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_flags(
        cls,
        values: Mapping[str, Any],
        *,
        run_dir: str | Path,
        resuming: bool = False,
        given: Collection[str] = (),
    ) -> TrainConfig:
        """Build the configuration from every training flag's value (``name -> value``, e.g.
        :func:`src.training.flags.resolved_params`).

        Raises:
            ValueError: naming the field whose flag is missing from ``values``, the flags of
                ``values`` that no field reads, or a bad value.
        """
        reader = _Reader(values)
        model = model_config_from_values(values, reader)
        loss_weights = reader.read("loss_weights", LossWeights)
        loss = reader.read("loss", LossConfig, convert={"delta_t_values": _delta_t_values})
        step = reader.read("step", TrainSettings, _STEP_FLAG_NAMES)
        run = reader.read("run", RunSettings)
        reader.check_all_read()
        unknown_given = sorted(set(given) - set(values))
        if unknown_given:
            raise ValueError(f"TrainConfig: given flags {unknown_given} are not among the values")
        return cls(
            model=model,
            loss_weights=loss_weights,
            loss=loss,
            step=step,
            run=run,
            run_dir=Path(run_dir),
            resuming=resuming,
            given=frozenset(given),
            params=types.MappingProxyType(dict(values)),
        )


def model_config_from_values(
    values: Mapping[str, Any], reader: _Reader | None = None
) -> ModelConfig:
    """The :class:`ModelConfig` the flag values describe: ``--num_stage`` -> ``num_ief_stages``;
    ``--use_hmr_only`` builds the model without temporal encoder (``num_conv_layers`` 0);
    GroupNorm groups/epsilon and the kernel width are fixed (:mod:`src.constants`)."""
    reader = reader or _Reader(values)
    config = reader.read(
        "model",
        ModelConfig,
        _MODEL_FLAG_NAMES,
        fixed=_MODEL_FIXED_FIELDS,
        convert={"delta_t_values": _delta_t_values},
    )
    if reader.take("use_hmr_only"):  # per-frame HMR: no temporal encoder
        config = dataclasses.replace(config, num_conv_layers=0)
    return config


def _delta_t_values(value: Any) -> tuple[int, ...]:
    """``--delta_t_values`` (strings, as the original's flag) as sorted ints."""
    try:
        return tuple(sorted(int(v) for v in value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"--delta_t_values: expected integers, got {value}") from err


class _Reader:
    """Reads dataclass fields from flag values and remembers which flags were read."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.read_names: set[str] = set()

    def take(self, flag: str, field: str | None = None) -> Any:
        if flag not in self.values:
            where = f"field {field}" if field else "it"
            raise ValueError(f"TrainConfig: no flag --{flag} among the values ({where} reads it)")
        self.read_names.add(flag)
        return self.values[flag]

    def read(
        self,
        section: str,
        cls: type,
        flag_names: Mapping[str, str] | None = None,
        fixed: Collection[str] = (),
        convert: Mapping[str, Any] | None = None,
    ) -> Any:
        """``cls(**{field: values[flag]})`` for every field not in ``fixed``."""
        flag_names = flag_names or {}
        convert = convert or {}
        fields = {f.name for f in dataclasses.fields(cls)}
        stale = sorted((set(flag_names) | set(fixed) | set(convert)) - fields)
        if stale:
            raise ValueError(f"TrainConfig.{section}: {cls.__name__} has no field(s) {stale}")
        kwargs = {}
        for name in sorted(fields - set(fixed)):
            value = self.take(flag_names.get(name, name), f"{section}.{name}")
            kwargs[name] = convert[name](value) if name in convert else value
        return cls(**kwargs)

    def check_all_read(self) -> None:
        known = self.read_names | set(NO_EFFECT_FLAGS) | set(CHECKED_FLAGS) | set(RUN_DIR_FLAGS)
        unknown = sorted(set(self.values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: no field reads the flag(s) {unknown}")
