"""Every flag of the original trainer with its name and default (docs/original_release.md §2), plus
the few this port adds (distribution, XLA, mixed precision, checkpoint cadence, reduced widths).

Defined once, with absl, by :func:`define_flags`; ``--flagfile configs/FILE.cfg`` works as in any
absl program. The resolved values are saved as ``params.json`` in the run directory
(:func:`save_params`); a resumed run takes the saved value of every flag not typed on its
command line (a flagfile given again does not override them, :func:`typed_flag_names`) and
reports the ones that differ (:func:`merge_saved_params`).

Flags kept for compatibility but without effect here (the original ignored most of them too):
``smpl_face_path`` (faces come from the body-model file), ``e_wd``/``d_wd`` (the original never
added its regularisers to a loss), ``log_vid_step`` (unused there), ``freeze_phi`` (no ResNet in
training with precomputed phi), the augmentation flags (used by the converters only).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from absl import flags

from src import constants, paths
from src.networks.config import ModelConfig
from src.training import config as train_config
from src.training.strategy import STRATEGIES

PARAMS_FILE = "params.json"
STANDIN_SMPL = paths.STANDIN_NAME  # --smpl_model_path value for the generated stand-in body model
# the original default, relative to the repository root (src.paths)
DEFAULT_SMPL_MODEL_PATH = str(paths.SMPL_MODEL_PATH.relative_to(paths.REPO_ROOT))
DEFAULT_PRETRAINED = ("models/hmr_noS5.ckpt-642561",)

# Flags whose change makes a checkpoint unusable (they set the shapes of the weights).
ARCHITECTURE_FLAGS = (
    "num_conv_layers",
    "use_hmr_only",  # no temporal encoder (num_conv_layers 0)
    "delta_t_values",
    "num_stage",
    "num_kps",
    "img_size",
    "phi_dim",
    "ief_hidden",
    "hallucinator_hidden",
    "disc_joint_hidden",
    "disc_all_hidden",
)
# Flags that name where this run lives and are never compared on resume.
RUN_LOCATION_FLAGS = ("load_path", "model_dir")

_ORIGINAL_FLAGS: list[str] = []
_NEW_FLAGS: list[str] = []


def _string(fv, name, default, help_text, new=False):
    flags.DEFINE_string(name, default, help_text, flag_values=fv)
    (_NEW_FLAGS if new else _ORIGINAL_FLAGS).append(name)


def _integer(fv, name, default, help_text, new=False, lower_bound=None):
    flags.DEFINE_integer(name, default, help_text, lower_bound=lower_bound, flag_values=fv)
    (_NEW_FLAGS if new else _ORIGINAL_FLAGS).append(name)


def _float(fv, name, default, help_text, new=False, lower_bound=None):
    flags.DEFINE_float(name, default, help_text, lower_bound=lower_bound, flag_values=fv)
    (_NEW_FLAGS if new else _ORIGINAL_FLAGS).append(name)


def _boolean(fv, name, default, help_text, new=False):
    flags.DEFINE_boolean(name, default, help_text, flag_values=fv)
    (_NEW_FLAGS if new else _ORIGINAL_FLAGS).append(name)


def _list(fv, name, default, help_text, new=False):
    flags.DEFINE_list(name, default, help_text, flag_values=fv)
    (_NEW_FLAGS if new else _ORIGINAL_FLAGS).append(name)


def _log_dir(fv: flags.FlagValues) -> None:
    """``--log_dir``: absl.logging already owns a flag of that name (for log files, which this
    program never writes), so take it over with the original's default instead of redefining."""
    help_text = "Where run directories are created (log_dir/<auto name>)."
    if "log_dir" in fv:
        fv.set_default("log_dir", "logs")
        fv["log_dir"].help = help_text
    else:
        flags.DEFINE_string("log_dir", "logs", help_text, flag_values=fv)
    _ORIGINAL_FLAGS.append("log_dir")


def _define_paths(fv: flags.FlagValues) -> None:
    _string(
        fv,
        "smpl_model_path",
        DEFAULT_SMPL_MODEL_PATH,
        "Neutral SMPL with the 25-joint regressor; its directory also holds "
        "neutral_smpl_meanwjoints.h5. Must exist; 'standin' = the generated stand-in body "
        "model (training never falls back to it on its own).",
    )
    _string(
        fv,
        "smpl_face_path",
        "src/tf_smpl/smpl_faces.npy",
        "Kept for compatibility; faces come from the body-model file.",
    )
    _string(fv, "load_path", None, "Run directory to resume (holds params.json and ckpt/).")
    _list(
        fv,
        "pretrained_model_path",
        list(DEFAULT_PRETRAINED),
        "Weights folder(s) to initialise from when the run has no checkpoint: a converted HMR "
        "checkpoint (ief_regressor [+ resnet_v2_50]) initialises the present IEF and mean theta, "
        "a converted HMMR one every encoder part (§3.10). Each must exist (not read when the "
        "run resumes from a checkpoint); empty = from scratch.",
    )
    _string(fv, "data_dir", None, "TFRecord root: <data_dir>/<dataset>/train/*.tfrecord.")
    _log_dir(fv)
    _string(fv, "model_dir", None, "Run directory; default log_dir/<auto name>.")


def _define_shapes(fv: flags.FlagValues) -> None:
    _integer(fv, "batch_size", 8, "Sequences per (global) batch.", lower_bound=1)
    _integer(fv, "T", constants.SEQUENCE_LENGTH, "Frames per training sequence.", lower_bound=1)
    _integer(fv, "num_kps", constants.NUM_KPS, "Keypoints (must be 25).")
    _integer(
        fv,
        "num_conv_layers",
        constants.NUM_CONV_LAYERS,
        "Residual blocks of the temporal encoder (receptive field 4 n + 1; 0 = none, for "
        "smoke tests).",
        lower_bound=0,
    )
    _list(
        fv,
        "delta_t_values",
        [str(dt) for dt in constants.DELTA_T_VALUES],
        "Past/future offsets of the delta predictors.",
    )
    _integer(fv, "img_size", constants.IMG_SIZE, "Network input size (must be 224).")
    _string(fv, "data_format", "NHWC", "Only NHWC.")
    _integer(fv, "num_stage", constants.NUM_IEF_STAGES, "IEF iterations.", lower_bound=1)
    _string(fv, "image_encoder_model_type", "resnet", "Only 'resnet'.")
    _string(fv, "temporal_encoder_type", "AZ_FC2GN", "Only 'AZ_FC2GN'.")
    _string(fv, "hallucinator_model_type", "fc2_res", "Only 'fc2_res'.")


def _define_loss_weights(fv: flags.FlagValues) -> None:
    for name, default, what in (
        ("e_lw_kp", 60.0, "2D keypoint L1 (all variants)"),
        ("e_lw_joints", 60.0, "3D joint MSE (all variants)"),
        ("e_lw_smpl", 60.0, "SMPL rotation + shape MSE (all variants)"),
        ("e_lw_const", 1.0, "shape constancy"),
        ("e_lw_pose", 1.0, "encoder adversarial term"),
        ("e_lw_shape", 1.0, "L2 prior on predicted betas"),
        ("d_lw_pose", 1.0, "discriminator loss (> 0 also turns the discriminator on)"),
        ("e_lw_hallucinate", 1.0, "hallucinated vs real movie strip MSE"),
    ):
        _float(fv, name, default, f"Weight of the {what}.", lower_bound=0.0)


def _define_optimisation(fv: flags.FlagValues) -> None:
    _float(fv, "e_lr", 1e-5, "Adam learning rate of every non-discriminator weight.")
    _float(fv, "d_lr", 1e-4, "Adam learning rate of the discriminator.")
    _float(fv, "e_wd", 1e-4, "Kept for compatibility (weight decay was effectively off).")
    _float(fv, "d_wd", 1e-4, "Kept for compatibility (weight decay was effectively off).")
    _integer(fv, "max_iteration", 5_000_000, "Stop when the step reaches this.", lower_bound=0)
    _integer(fv, "seed", 1, "Random seed.")
    _integer(
        fv, "log_img_count", 10, "Frames shown in image summaries (centred window).", lower_bound=1
    )
    _integer(fv, "log_img_step", 5000, "Image summary period, steps.", lower_bound=1)
    _integer(fv, "log_vid_step", 100_000, "Kept for compatibility (unused by the original).")


def _define_switches(fv: flags.FlagValues) -> None:
    _boolean(fv, "use_3d_label", True, "3D joint and SMPL losses where GT exists.")
    _boolean(fv, "freeze_phi", True, "Kept for compatibility (no ResNet in training).")
    _boolean(
        fv,
        "use_hmr_ief_init",
        True,
        "Initialise the present IEF and mean theta from a converted HMR checkpoint.",
    )
    _boolean(fv, "predict_delta", True, "Supervise the past/future predictors.")
    _boolean(fv, "precomputed_phi", True, "Read phi from the records (the only mode supported).")
    _boolean(
        fv,
        "use_delta_from_pred",
        True,
        "Delta IEF starts from the present prediction (the only mode supported).",
    )
    _boolean(
        fv,
        "use_hmr_only",
        False,
        "Per-frame HMR ablation (the paper's Table 2 baseline): no temporal encoder (the model is "
        "built with num_conv_layers 0, --num_conv_layers is ignored), the present IEF regresses "
        "each frame's phi alone (e_*_static losses); with --do_hallucinate only the hallucinated "
        "predictions are trained.",
    )
    _boolean(fv, "split_balanced", True, "Half of each batch from the 3D side (h36m).")
    _boolean(fv, "do_hallucinate", False, "Train the hallucinator branch.")
    _boolean(
        fv,
        "do_hallucinate_preds",
        False,
        "Also the past/future losses on hallucinated predictions.",
    )
    _boolean(fv, "mosh_ignore", False, "Treat every sample as without SMPL GT.")


def _define_augmentation(fv: flags.FlagValues) -> None:
    what = "(converters only; kept for compatibility)"
    _integer(fv, "trans_max", 20, f"Max translation jitter, px {what}.")
    _integer(fv, "delta_trans_max", 20, f"Max frame-to-frame translation change {what}.")
    _float(fv, "scale_max", 0.3, f"Scale jitter exponent range {what}.")
    _float(fv, "delta_scale_max", 0.3, f"Max frame-to-frame scale change {what}.")
    _integer(fv, "rotate_max", 0, f"Rotation jitter, degrees {what}.")
    _integer(fv, "delta_rotate_max", 5, f"Max frame-to-frame rotation change {what}.")


def _define_data(fv: flags.FlagValues) -> None:
    _list(fv, "datasets", ["h36m", "penn_action", "insta_variety"], "Training datasets.")
    _list(
        fv,
        "mocap_datasets",
        ["CMU", "H3.6", "jointLim"],
        "Mocap sets under <data_dir>/mocap_neutrMosh for the discriminator.",
    )
    _list(
        fv,
        "three_d_datasets",
        ["h36m"],
        "Which of --datasets form the 3D side of the split-balanced mix (the original: h36m).",
        new=True,
    )


def _define_new(fv: flags.FlagValues) -> None:
    new = {"new": True}
    flags.DEFINE_enum(
        "strategy",
        "mirrored",
        list(STRATEGIES),
        "tf.distribute strategy: one_device, mirrored (all local GPUs, else CPU), "
        "multi_worker_mirrored (cluster from TF_CONFIG).",
        flag_values=fv,
    )
    _NEW_FLAGS.append("strategy")
    _boolean(fv, "xla", False, "Compile the forward/backward pass with XLA (jit_compile).", **new)
    _boolean(
        fv,
        "mixed_precision",
        False,
        "mixed_float16 compute with dynamic loss scaling (GPUs).",
        **new,
    )
    _integer(
        fv,
        "checkpoint_every_steps",
        0,
        "Checkpoint period in steps; 0 = every checkpoint_every_secs.",
        lower_bound=0,
        **new,
    )
    _integer(
        fv,
        "checkpoint_every_secs",
        600,
        "Checkpoint period in seconds when checkpoint_every_steps is 0 (the original's 600).",
        lower_bound=1,
        **new,
    )
    _integer(fv, "max_checkpoints_to_keep", 5, "Recent checkpoints kept.", lower_bound=1, **new)
    _float(
        fv,
        "keep_checkpoint_every_n_hours",
        5.0,
        "Also keep one checkpoint per this many hours (the original's 5).",
        **new,
    )
    _boolean(
        fv,
        "skip_corrupt",
        False,
        "Skip damaged records (counted, reported) instead of stopping.",
        **new,
    )
    _integer(
        fv, "summary_every_steps", 1, "TensorBoard scalar period, steps.", lower_bound=1, **new
    )
    _integer(fv, "log_every_steps", 100, "Console log period, steps.", lower_bound=1, **new)
    _boolean(
        fv,
        "summary_images",
        False,
        "Decode the JPEG crops of every batch so image summaries draw on them (otherwise on "
        "a blank canvas).",
        **new,
    )
    _boolean(
        fv,
        "make_quick_data",
        False,
        "Generate the synthetic quick data set into data_dir when it has no records.",
        **new,
    )
    _boolean(
        fv, "export_at_end", True, "Write <run_dir>/export (the weights folder) at the end.", **new
    )
    _float(
        fv,
        "dropout_rate",
        0.5,
        "IEF dropout (the original's keep_prob 0.5).",
        lower_bound=0.0,
        **new,
    )
    _integer(
        fv,
        "phi_dim",
        constants.PHI_DIM,
        "Per-frame feature width D of the records' image/phis and of the model (2048 = "
        "ResNet-50 v2 features; a multiple of the 32 GroupNorm groups). Reduced-width runs on "
        "matching records (make_quick_data --phi_dim) usually also set --hallucinator_hidden.",
        lower_bound=1,
        **new,
    )
    _integer(fv, "ief_hidden", 1024, "Width of the IEF hidden layers.", lower_bound=1, **new)
    _integer(
        fv,
        "hallucinator_hidden",
        constants.PHI_DIM,
        "Width of the hallucinator's hidden layers (2048 like phi; reduced runs set it too).",
        lower_bound=1,
        **new,
    )
    _integer(
        fv,
        "disc_joint_hidden",
        32,
        "Discriminator per-joint embedding width.",
        lower_bound=1,
        **new,
    )
    _integer(fv, "disc_all_hidden", 1024, "Discriminator all-joint FC width.", lower_bound=1, **new)


def define_flags(fv: flags.FlagValues | None = None) -> flags.FlagValues:
    """Define every training flag on ``fv`` (default ``absl.flags.FLAGS``); idempotent."""
    fv = flags.FLAGS if fv is None else fv
    if "e_lw_kp" in fv:
        return fv
    _ORIGINAL_FLAGS.clear()
    _NEW_FLAGS.clear()
    for define in (
        _define_paths,
        _define_shapes,
        _define_loss_weights,
        _define_optimisation,
        _define_switches,
        _define_augmentation,
        _define_data,
        _define_new,
    ):
        define(fv)
    return fv


def original_flag_names() -> tuple[str, ...]:
    """Names of the flags the original release had (§2)."""
    return tuple(_ORIGINAL_FLAGS)


def flag_names() -> tuple[str, ...]:
    """Every flag this module defines, original ones first."""
    return tuple(_ORIGINAL_FLAGS + _NEW_FLAGS)


# ----------------------------------------------------------------------------------------------
# Resolved values, params.json, resume


def resolved_params(fv: flags.FlagValues) -> dict[str, Any]:
    """Every training flag's value, JSON-friendly (lists, not tuples)."""
    return {name: _jsonable(fv[name].value) for name in flag_names()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def save_params(run_dir: str | os.PathLike, params: Mapping[str, Any]) -> Path:
    """Write ``params.json`` atomically (temp file, then rename)."""
    path = Path(run_dir) / PARAMS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(PARAMS_FILE + ".tmp")
    tmp.write_text(json.dumps(dict(params), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load_params(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``<run_dir>/params.json``.

    Raises:
        FileNotFoundError / ValueError naming the file.
    """
    path = Path(run_dir) / PARAMS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no params.json; --load_path must be a training run directory"
        )
    try:
        params = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a JSON object of flag values")
    return params


def typed_flag_names(argv: Sequence[str], fv: flags.FlagValues) -> frozenset[str]:
    """The training flags typed on the command line itself (``argv[1:]``), not read from a
    flagfile.

    absl marks a flag ``present`` whether it came from the command line or from a
    ``--flagfile``; a resumed run must tell them apart (a flagfile given again on resume must not
    override ``params.json``), so the tokens are read here: ``--name=value``, ``--name value``,
    ``--name`` / ``--noname`` for booleans, with one or two dashes; ``--flagfile`` and what it
    holds do not count; reading stops at ``--``.
    """
    names = set(flag_names())
    typed: set[str] = set()
    tokens = iter(argv[1:])
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        name, has_value, _ = token.lstrip("-").partition("=")
        if name in names:
            typed.add(name)
            if not has_value and not fv[name].boolean:
                next(tokens, None)  # --name value
        elif name.startswith("no") and name[2:] in names and fv[name[2:]].boolean:
            typed.add(name[2:])
        elif name == "flagfile" and not has_value:
            next(tokens, None)
    return frozenset(typed)


@dataclasses.dataclass(frozen=True)
class FlagDifference:
    """A flag whose value in this invocation differs from the saved run's."""

    name: str
    saved: Any
    current: Any

    def __str__(self) -> str:
        return f"--{self.name}: saved {self.saved!r}, now {self.current!r}"


@dataclasses.dataclass(frozen=True)
class ResumeMerge:
    """What :func:`merge_saved_params` did.

    Attributes:
        changed: flags typed on the command line whose value differs from ``params.json``: the
            command line wins.
        kept: flags set by a flagfile (or a default) whose value differs from ``params.json``:
            the saved value wins (``current`` is the flagfile's, not applied).
    """

    changed: tuple[FlagDifference, ...] = ()
    kept: tuple[FlagDifference, ...] = ()


def merge_saved_params(
    fv: flags.FlagValues,
    saved: Mapping[str, Any],
    typed: Collection[str],
    ignore: Iterable[str] = RUN_LOCATION_FLAGS,
) -> ResumeMerge:
    """Resume semantics: ``params.json`` wins except for the flags typed on the command line
    (``typed``, see :func:`typed_flag_names`); flags from a flagfile take the saved values too.

    Returns:
        The typed flags that differ (``changed``) and the flagfile values that were not applied
        (``kept``), for the caller to report.
    Raises:
        ValueError: an architecture flag (:data:`ARCHITECTURE_FLAGS`) typed with another value,
            which would make the checkpoint unusable; the message lists every such flag.
    """
    ignore = set(ignore)
    changed, kept = [], []
    for name in flag_names():
        if name in ignore or name not in saved:
            continue
        current = _jsonable(fv[name].value)
        if current == saved[name]:
            continue
        if name in typed:
            changed.append(FlagDifference(name, saved[name], current))
            continue
        if fv[name].present:
            kept.append(FlagDifference(name, saved[name], current))
        fv[name].value = saved[name]
    fatal = [d for d in changed if d.name in ARCHITECTURE_FLAGS]
    if fatal:
        listed = "; ".join(str(d) for d in fatal)
        raise ValueError(f"resumed run's architecture flags differ from its params.json: {listed}")
    return ResumeMerge(tuple(changed), tuple(kept))


# ----------------------------------------------------------------------------------------------
# Flags -> configuration objects


def delta_t_values(fv: flags.FlagValues) -> tuple[int, ...]:
    """``--delta_t_values`` as sorted ints (the flag holds strings, as the original's)."""
    try:
        return tuple(sorted(int(v) for v in fv.delta_t_values))
    except ValueError as err:
        raise ValueError(f"--delta_t_values: expected integers, got {fv.delta_t_values}") from err


def model_config_from_flags(fv: flags.FlagValues) -> ModelConfig:
    """The :class:`ModelConfig` the flags describe (phi width ``--phi_dim``, the records'), read
    as :meth:`~src.training.config.TrainConfig.from_flags` reads it."""
    return train_config.model_config_from_values(resolved_params(fv))


_ONLY_VALUES = {
    "data_format": "NHWC",
    "image_encoder_model_type": "resnet",
    "temporal_encoder_type": "AZ_FC2GN",
    "hallucinator_model_type": "fc2_res",
    "num_kps": constants.NUM_KPS,
    "img_size": constants.IMG_SIZE,
    "precomputed_phi": True,
    "use_delta_from_pred": True,
}


def validate_flags(fv: flags.FlagValues) -> list[str]:
    """Refuse settings the port does not implement; return warnings for ones without effect.

    Raises:
        ValueError: the first unsupported setting, named with what is expected.
    """
    for name, only in _ONLY_VALUES.items():
        if fv[name].value != only:
            raise ValueError(f"--{name}={fv[name].value!r} is not supported (only {only!r})")
    dts = delta_t_values(fv)
    # past/future predictions are supervised on the temporal path (not with use_hmr_only) and,
    # with do_hallucinate_preds, on the hallucinated one
    if fv.use_hmr_only:
        deltas_supervised = fv.do_hallucinate and fv.do_hallucinate_preds
    else:
        deltas_supervised = fv.predict_delta
    if deltas_supervised and dts and fv.T <= max(abs(dt) for dt in dts):
        raise ValueError(
            f"--T={fv.T} must exceed the largest |delta_t| of {list(dts)} so that "
            "past/future predictions have frames to compare with"
        )
    if fv.dropout_rate >= 1.0:
        raise ValueError(f"--dropout_rate={fv.dropout_rate} must be < 1")
    warnings = []
    if fv.use_hmr_only and fv.num_conv_layers != 0:
        warnings.append(
            f"--num_conv_layers={fv.num_conv_layers} is ignored with --use_hmr_only: the model is "
            "built without temporal encoder (num_conv_layers 0, per-frame HMR)"
        )
    if fv.do_hallucinate_preds and not fv.do_hallucinate:
        warnings.append("--do_hallucinate_preds has no effect without --do_hallucinate")
    if fv.strategy != "multi_worker_mirrored" and os.environ.get("TF_CONFIG"):
        warnings.append("TF_CONFIG is set but --strategy is not multi_worker_mirrored")
    return warnings
