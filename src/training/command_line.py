"""From the parsed training flags to a :class:`~src.training.config.TrainConfig`.

:func:`train_config` is what ``python -m src.main`` does before the run:

1. refuse settings the port does not implement, log the ones without effect
   (:func:`src.training.flags.validate_flags`);
2. choose the run directory (:func:`prepare_run_dir`): ``--load_path``, or a ``--model_dir`` that
   holds ``params.json``, resumes (``params.json`` wins except for the flags typed on the command
   line, which are reported when they differ; a flagfile given again does not override it;
   architecture changes refused); otherwise ``--model_dir`` or ``<log_dir>/<auto name>``;
3. read every flag into the typed configuration, strictly
   (:meth:`~src.training.config.TrainConfig.from_flags`).
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from pathlib import Path

from absl import flags, logging

from src.training import flags as train_flags
from src.training.config import TrainConfig


def auto_run_name(fv: flags.FlagValues, now: datetime.datetime | None = None) -> str:
    """The run directory's name, like the original's: model, deltas, hallucination, batch,
    data, weights, init and date, e.g. ``AZ_FC2GN_L3_D-5.5_hal-preds_B8_T20_h36m-penn_action-
    insta_variety_const1_shape1_from-hmr_noS5_Jan02_1504`` (``HMR_only_...`` for the per-frame
    ablation ``--use_hmr_only``)."""
    now = now or datetime.datetime.now()
    if fv.use_hmr_only:  # per-frame HMR: no temporal encoder, no temporal past/future
        parts = ["HMR_only"]
    else:
        parts = [f"{fv.temporal_encoder_type}_L{fv.num_conv_layers}"]
    if fv.predict_delta and not fv.use_hmr_only:
        parts.append("D" + ".".join(str(v) for v in train_flags.delta_t_values(fv)))
    if fv.do_hallucinate:
        parts.append("hal-preds" if fv.do_hallucinate_preds else "hal")
    parts.append(f"B{fv.batch_size}_T{fv.T}")
    parts.append("-".join(fv.datasets))
    parts.append(f"const{fv.e_lw_const:g}_shape{fv.e_lw_shape:g}")
    pretrained = [p for p in fv.pretrained_model_path if p]
    if pretrained:
        parts.append("from-" + Path(pretrained[0].rstrip("/")).name.split(".ckpt")[0])
    parts.append(now.strftime("%b%d_%H%M%S"))
    return "_".join(parts)


def prepare_run_dir(fv: flags.FlagValues, typed: Collection[str]) -> tuple[Path, bool]:
    """Choose the run directory and apply a resumed run's saved flags to ``fv``: ``params.json``
    wins except for the flags in ``typed`` (typed on the command line, not from a flagfile);
    the typed ones that differ are logged as warnings, the flagfile values not applied as info.

    Returns:
        ``(run_dir, resuming)``.
    """
    if fv.load_path:
        run_dir = Path(fv.load_path)
        saved = train_flags.load_params(run_dir)
    elif fv.model_dir and (Path(fv.model_dir) / train_flags.PARAMS_FILE).is_file():
        run_dir = Path(fv.model_dir)
        saved = train_flags.load_params(run_dir)
    else:
        if fv.strategy == "multi_worker_mirrored" and not fv.model_dir:
            raise ValueError(
                "--strategy=multi_worker_mirrored needs --model_dir (every worker "
                "must use the same run directory)"
            )
        run_dir = Path(fv.model_dir) if fv.model_dir else Path(fv.log_dir) / auto_run_name(fv)
        return run_dir, False
    merge = train_flags.merge_saved_params(fv, saved, typed)
    for difference in merge.changed:
        logging.warning("resuming %s with a changed flag: %s", run_dir, difference)
    if merge.kept:
        logging.info(
            "resuming %s: params.json wins over the flagfile for %s (type a flag on the command "
            "line to change it)",
            run_dir,
            "; ".join(f"--{d.name}={d.saved!r} (flagfile {d.current!r})" for d in merge.kept),
        )
    return run_dir, True


def check_checkpoint_cadence(fv: flags.FlagValues) -> None:
    """Every worker of a multi-worker run must save at the same steps."""
    if fv.strategy == "multi_worker_mirrored" and fv.checkpoint_every_steps == 0:
        raise ValueError(
            "--strategy=multi_worker_mirrored needs --checkpoint_every_steps > 0 "
            "(every worker must save at the same steps)"
        )


def train_config(fv: flags.FlagValues, argv: Sequence[str]) -> TrainConfig:
    """The run's configuration from parsed flags (validated, run directory chosen, a resumed
    run's saved flags merged into ``fv``).

    Args:
        fv: the parsed flags.
        argv: the command line they were parsed from (``sys.argv``): the flags typed there, not
            read from a flagfile, override a resumed run's ``params.json``.

    Raises:
        ValueError / FileNotFoundError: an unsupported setting, a resume without
            ``params.json``, an architecture change on resume, a flag the config cannot read.
    """
    for warning in train_flags.validate_flags(fv):
        logging.warning(warning)
    check_checkpoint_cadence(fv)
    typed = train_flags.typed_flag_names(argv, fv)
    run_dir, resuming = prepare_run_dir(fv, typed)
    return TrainConfig.from_flags(
        train_flags.resolved_params(fv), run_dir=run_dir, resuming=resuming, given=typed
    )
