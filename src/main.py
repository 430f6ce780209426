"""Train HMMR: ``python -m src.main --flagfile configs/FILE.cfg [--flag=value ...]``.

Wires the flags (:mod:`src.training.flags`) to the library: the run directory, the strategy, the
input pipeline, the trainer, checkpoints, summaries and the final export. Resume with
``--load_path RUN_DIR`` (flags not given take the run's saved values); a run directory that
already has checkpoints (``--model_dir``) resumes too. Errors print one line and exit 1; Ctrl-C
saves a checkpoint and exits 130.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

from absl import app, flags, logging

from src import paths
from src.smpl.resolve import resolve_body_model
from src.training import flags as train_flags

FLAGS = train_flags.define_flags()
EXIT_INTERRUPTED = 130


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


def prepare_run_dir(fv: flags.FlagValues) -> tuple[Path, bool]:
    """Choose the run directory and apply a resumed run's saved flags.

    ``--load_path`` (or a ``--model_dir`` that holds ``params.json``) resumes: flags not given
    take the saved values, given ones that differ are reported, architecture changes refused.

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
    differences = train_flags.merge_saved_params(fv, saved)
    for difference in differences:
        logging.warning("resuming %s with a changed flag: %s", run_dir, difference)
    return run_dir, True


def _check_checkpoint_cadence(fv: flags.FlagValues) -> None:
    if fv.strategy == "multi_worker_mirrored" and fv.checkpoint_every_steps == 0:
        raise ValueError(
            "--strategy=multi_worker_mirrored needs --checkpoint_every_steps > 0 "
            "(every worker must save at the same steps)"
        )


def _ensure_data(fv: flags.FlagValues, smpl_path: Path) -> str:
    """The data directory, generated for the quick config (with the run's body model and
    ``--phi_dim``); fails early when it has no records for the chosen datasets, or when the
    first record of a dataset holds phi of another width than ``--phi_dim``."""
    from src.data.pipeline import check_phi_width, dataset_files, split_balanced_files
    from src.training import make_quick_data

    if not fv.data_dir:
        raise ValueError("--data_dir is required (the TFRecord root)")
    if fv.make_quick_data and not make_quick_data.has_records(fv.data_dir):
        logging.info("generating the quick synthetic data set into %s", fv.data_dir)
        make_quick_data.make_quick_data(fv.data_dir, smpl_model_path=smpl_path, phi_dim=fv.phi_dim)
    split_balanced_files(fv.data_dir, fv.datasets, three_d_datasets=fv.three_d_datasets)
    firsts = [files[0] for files in (dataset_files(fv.data_dir, d) for d in fv.datasets) if files]
    check_phi_width(firsts, fv.phi_dim)
    return fv.data_dir


def train_from_flags(fv: flags.FlagValues):
    """Run training as the flags say; returns the :class:`~src.training.trainer.Trainer` and
    the :class:`~src.training.trainer.LoopResult`."""
    for warning in train_flags.validate_flags(fv):
        logging.warning(warning)
    _check_checkpoint_cadence(fv)
    run_dir, resuming = prepare_run_dir(fv)

    import keras
    import tensorflow as tf

    from src.data.pipeline import make_train_dataset
    from src.data.tfrecord_lib import ReadStats
    from src.losses.hmmr_losses import LossConfig
    from src.losses.weights import LossWeights
    from src.training import checkpointing, export_weights, strategy, summaries
    from src.training import trainer as tr

    dist = strategy.make_strategy(fv.strategy)
    chief = strategy.is_chief(dist)
    keras.utils.set_random_seed(fv.seed)
    body = resolve_body_model(fv.smpl_model_path)
    smpl_path, mean_path = body.path, body.mean_params
    if mean_path is None and not body.standin:
        logging.warning(
            "no %s beside %s: mean theta starts from zero pose and shape",
            paths.MEAN_PARAMS_FILENAME,
            smpl_path,
        )
    data_dir = _ensure_data(fv, smpl_path)
    pretrained = tr.resolve_pretrained_paths(
        fv.pretrained_model_path, fv["pretrained_model_path"].present
    )
    settings = tr.TrainSettings(
        batch_size=fv.batch_size,
        seq_length=fv.T,
        e_lr=fv.e_lr,
        d_lr=fv.d_lr,
        xla=fv.xla,
        mixed_precision=fv.mixed_precision,
    )
    trainer = tr.Trainer(
        dist,
        train_flags.model_config_from_flags(fv),
        LossWeights.from_flags(fv),
        LossConfig.from_flags(fv),
        settings,
        smpl_path,
        mean_path,
    )
    stats = ReadStats()

    def dataset_fn(ctx: tf.distribute.InputContext | None) -> tf.data.Dataset:
        return make_train_dataset(
            data_dir,
            fv.datasets,
            fv.batch_size,
            fv.T,
            split_balanced=fv.split_balanced,
            with_images=fv.summary_images,
            skip_corrupt=fv.skip_corrupt,
            mocap_batch_size=trainer.mocap_batch_size or None,
            mocap_datasets=fv.mocap_datasets,
            three_d_datasets=fv.three_d_datasets,
            seed=fv.seed,
            stats=stats,
            input_context=ctx,
            phi_dim=fv.phi_dim,
        )

    iterator = trainer.make_iterator(dataset_fn)
    ckpt = checkpointing.TrainCheckpoint(
        run_dir,
        trainer,
        iterator if trainer.iterator_is_checkpointable else None,
        every_steps=fv.checkpoint_every_steps,
        every_secs=fv.checkpoint_every_secs,
        max_to_keep=fv.max_checkpoints_to_keep,
        keep_every_n_hours=fv.keep_checkpoint_every_n_hours or None,
        chief=chief,
        worker_index=strategy.worker_index(dist),
    )
    restored = ckpt.restore_latest()
    if restored:
        logging.info("restored step %d from %s", restored[1], restored[0])
    else:
        if resuming:
            logging.warning("%s has no checkpoint yet: starting at step 0", run_dir)
        for note in trainer.initialize_from(pretrained, fv.use_hmr_ief_init):
            logging.info(note)
    if chief:
        train_flags.save_params(run_dir, train_flags.resolved_params(fv))
    logging.info(
        "run directory %s (%d replica(s), %s)", run_dir, dist.num_replicas_in_sync, fv.strategy
    )
    result = tr.train_loop(
        trainer,
        iterator,
        ckpt,
        summaries.Summaries(run_dir, enabled=chief),
        max_iteration=fv.max_iteration,
        summary_every_steps=fv.summary_every_steps,
        log_every_steps=fv.log_every_steps,
        log_img_step=fv.log_img_step,
        log_img_count=fv.log_img_count,
        save_on_interrupt=strategy.num_workers(dist) == 1,
    )
    skipped = stats.as_dict()
    if skipped:
        logging.warning("skipped while reading: %s", skipped)
    if fv.export_at_end and chief and not result.interrupted:
        out = export_weights.export_trainer(trainer, run_dir)
        logging.info("exported weights to %s", out)
    return trainer, result


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _, result = train_from_flags(FLAGS)
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"hmmr-train: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:
        import tensorflow as tf  # already loaded when TF raised

        if not isinstance(err, tf.errors.OpError):
            raise
        # e.g. a damaged record met while training
        print(f"hmmr-train: {err.message.strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


def run() -> None:
    """Console entry point (``hmmr-train``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)


if __name__ == "__main__":
    run()
