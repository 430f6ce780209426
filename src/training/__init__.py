"""Training HMMR on tf.distribute (docs/original_release.md §2, §3.10, §5.5-5.6).

- ``flags``: every original flag (names, defaults), params.json, resume comparison.
- ``config``: ``TrainConfig``, the typed configuration of a run, read from the flags by one strict
  ``TrainConfig.from_flags``.
- ``command_line``: parsed flags -> ``TrainConfig`` (validation, run directory, resume merge).
- ``run``: ``run(config)``, one training run (as Model Garden's ``run_experiment``).
- ``strategy``: one_device / mirrored / multi_worker_mirrored from a flag.
- ``trainer``: models, the two Adam optimisers, the exact cross-replica step, the loop.
- ``checkpointing``: CheckpointManager in ``<run_dir>/ckpt``.
- ``summaries``: TensorBoard scalars and keypoint images, console line.
- ``export_weights``: run -> weights folder (``python -m src.training.export_weights``).
- ``make_quick_data``: the synthetic data set of ``configs/cpu_quick.cfg``.

Entry point: ``python -m src.main --flagfile configs/FILE.cfg`` (parses the flags, then
``run(command_line.train_config(FLAGS))``).
"""
