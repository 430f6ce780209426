"""One training run from a :class:`~src.training.config.TrainConfig` (as Model Garden's
``run_experiment``): ``python -m src.main`` parses the flags and calls :func:`run`.

Recipe:

1. the body model (``--smpl_model_path``: the file, or the stand-in only when named ``standin``)
   and the pretrained weights folders (checked unless the run resumes from a checkpoint), so
   that a missing file stops the run before any work; the strategy
   (:mod:`src.training.strategy`), the seed, the body model's mean theta file;
2. the data: generated for the quick config, checked for records and for the phi width;
3. the :class:`~src.training.trainer.Trainer` and its distributed input iterator;
4. the checkpoint: the latest one is restored, otherwise the networks are initialised from
   ``--pretrained_model_path`` (docs/original_release.md §3.10);
5. ``params.json`` (the chief), the loop (:func:`~src.training.trainer.train_loop`), the final
   export of the weights folder (``<run_dir>/export``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from src import paths
from src.data.pipeline import (
    check_phi_width,
    dataset_files,
    make_train_dataset,
    split_balanced_files,
)
from src.data.tfrecord_lib import ReadStats
from src.smpl.resolve import BodyModelChoice, require_body_model
from src.training import checkpointing, export_weights, make_quick_data, strategy, summaries
from src.training import flags as train_flags
from src.training import trainer as tr
from src.training.config import RunSettings, TrainConfig


def ensure_data(settings: RunSettings, smpl_path: Path) -> str:
    """The data directory, generated for the quick config (with the run's body model and
    ``--phi_dim``); fails early when it has no records for the chosen datasets, or when the
    first record of a dataset holds phi of another width than ``--phi_dim``."""
    if not settings.data_dir:
        raise ValueError("--data_dir is required (the TFRecord root)")
    if settings.make_quick_data and not make_quick_data.has_records(settings.data_dir):
        logging.info("generating the quick synthetic data set into %s", settings.data_dir)
        make_quick_data.make_quick_data(
            settings.data_dir, smpl_model_path=smpl_path, phi_dim=settings.phi_dim
        )
    datasets = list(settings.datasets)
    split_balanced_files(
        settings.data_dir, datasets, three_d_datasets=list(settings.three_d_datasets)
    )
    per_dataset = (dataset_files(settings.data_dir, d) for d in datasets)
    firsts = [files[0] for files in per_dataset if files]
    check_phi_width(firsts, settings.phi_dim)
    return settings.data_dir


def model_files(config: TrainConfig) -> tuple[BodyModelChoice, list[str]]:
    """The body model and the pretrained weights folders the run needs, checked before any work:
    training never falls back on its own to the stand-in body model or to training from scratch
    (``--smpl_model_path=standin`` / ``--pretrained_model_path=`` ask for them). The pretrained
    folders are not needed (nor checked) when the run resumes from a checkpoint.

    Raises:
        FileNotFoundError / ValueError: one line naming the missing file and the opt-out flag.
    """
    body = require_body_model(config.run.smpl_model_path)
    if checkpointing.has_checkpoint(config.run_dir):
        return body, []
    return body, tr.resolve_pretrained_paths(list(config.run.pretrained_model_path))


def resumed_data_seed(seed: int, step: int) -> int:
    """The input seed of a run resumed at ``step`` whose input position was not saved (several
    replicas): ``seed + step``, so a run preempted again and again reads new windows each time
    instead of the first ones again; the same on every worker. ``seed`` itself at step 0."""
    return seed + step


def run(config: TrainConfig) -> tuple[tr.Trainer, tr.LoopResult]:
    """Train as ``config`` says.

    Returns:
        ``(trainer, result)``: the :class:`~src.training.trainer.Trainer` and the
        :class:`~src.training.trainer.LoopResult` (its ``interrupted`` is set on Ctrl-C).

    Raises:
        ValueError / FileNotFoundError: missing data, body model (the stand-in is used only when
            ``--smpl_model_path=standin``) or pretrained folder (``--pretrained_model_path=``
            trains from scratch).
    """
    settings = config.run
    body, pretrained = model_files(config)
    dist = strategy.make_strategy(settings.strategy)
    chief = strategy.is_chief(dist)
    keras.utils.set_random_seed(settings.seed)
    smpl_path, mean_path = body.path, body.mean_params
    if mean_path is None and not body.standin:
        logging.warning(
            "no %s beside %s: mean theta starts from zero pose and shape",
            paths.MEAN_PARAMS_FILENAME,
            smpl_path,
        )
    data_dir = ensure_data(settings, smpl_path)
    trainer = tr.Trainer(
        dist, config.model, config.loss_weights, config.loss, config.step, smpl_path, mean_path
    )
    stats = ReadStats()

    def dataset_fn(ctx: tf.distribute.InputContext | None, seed: int) -> tf.data.Dataset:
        return make_train_dataset(
            data_dir,
            list(settings.datasets),
            config.step.batch_size,
            config.step.seq_length,
            split_balanced=settings.split_balanced,
            with_images=settings.summary_images,
            skip_corrupt=settings.skip_corrupt,
            mocap_batch_size=trainer.mocap_batch_size or None,
            mocap_datasets=list(settings.mocap_datasets),
            three_d_datasets=list(settings.three_d_datasets),
            seed=seed,
            stats=stats,
            input_context=ctx,
            phi_dim=settings.phi_dim,
        )

    # One replica: the iterator is checkpointed with the model, so a resumed run reads on from
    # where it stopped. Several: it cannot be, so it is made after the restore (below).
    iterator = None
    if trainer.input_checkpointable:
        iterator = trainer.make_iterator(functools.partial(dataset_fn, seed=settings.seed))
    ckpt = checkpointing.TrainCheckpoint(
        config.run_dir,
        trainer,
        iterator,
        every_steps=settings.checkpoint_every_steps,
        every_secs=settings.checkpoint_every_secs,
        max_to_keep=settings.max_checkpoints_to_keep,
        keep_every_n_hours=settings.keep_checkpoint_every_n_hours or None,
        chief=chief,
        worker_index=strategy.worker_index(dist),
    )
    restored = ckpt.restore_latest()
    if restored:
        logging.info("restored step %d from %s", restored[1], restored[0])
    else:
        if config.resuming:
            logging.warning("%s has no checkpoint yet: starting at step 0", config.run_dir)
        for note in trainer.initialize_from(pretrained, settings.use_hmr_ief_init):
            logging.info(note)
    if iterator is None:
        seed = resumed_data_seed(settings.seed, restored[1] if restored else 0)
        if seed != settings.seed:
            logging.info("input order reseeded to %d (the distributed iterator is not saved)", seed)
        iterator = trainer.make_iterator(functools.partial(dataset_fn, seed=seed))
    if chief:
        train_flags.save_params(config.run_dir, config.params)
    logging.info(
        "run directory %s (%d replica(s), %s)",
        config.run_dir,
        dist.num_replicas_in_sync,
        settings.strategy,
    )
    result = tr.train_loop(
        trainer,
        iterator,
        ckpt,
        summaries.Summaries(config.run_dir, enabled=chief),
        max_iteration=settings.max_iteration,
        summary_every_steps=settings.summary_every_steps,
        log_every_steps=settings.log_every_steps,
        log_img_step=settings.log_img_step,
        log_img_count=settings.log_img_count,
        save_on_interrupt=strategy.num_workers(dist) == 1,
    )
    skipped = stats.as_dict()
    if skipped:
        logging.warning("skipped while reading: %s", skipped)
    if settings.export_at_end and chief and not result.interrupted:
        out = export_weights.export_trainer(trainer, config.run_dir)
        logging.info("exported weights to %s", out)
    return trainer, result
