"""Export a training run's weights as the weights folder the evaluator and the demo load.

    python -m src.training.export_weights --load_path RUN_DIR [--out DIR] [--checkpoint PREFIX]

Reads ``RUN_DIR/params.json`` for the model configuration, restores the newest checkpoint of
``RUN_DIR/ckpt`` (or the one given) and writes :func:`src.checkpoints.weights_dir.save_models`
into ``RUN_DIR/export`` (default). The trainer calls :func:`export_trainer` at the end of a run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXPORT_DIR = "export"


def export_trainer(
    trainer: Any, run_dir: str | os.PathLike, out: str | os.PathLike | None = None, source: str = ""
) -> Path:
    """Write the trainer's model and discriminator to ``out`` (default ``<run_dir>/export``)."""
    from src.checkpoints import weights_dir

    out = Path(out) if out is not None else Path(run_dir) / EXPORT_DIR
    step = int(trainer.step.numpy())
    folder = weights_dir.save_models(
        out,
        model=trainer.model,
        discriminator=trainer.discriminator,
        source=source or f"training run {run_dir}, step {step}",
    )
    _add_image_encoder(folder, Path(run_dir))
    return folder


def _add_image_encoder(folder: Path, run_dir: Path) -> None:
    """Copy the ResNet of the run's ``--pretrained_model_path`` folder into the export, so the
    export is self-contained for the demo and the evaluator (the features phi the run trained on
    came from that ResNet)."""
    from src.checkpoints import weights_dir
    from src.training import flags as train_flags

    try:
        pretrained = train_flags.load_params(run_dir).get("pretrained_model_path") or []
    except (OSError, ValueError):
        return
    if isinstance(pretrained, str):
        pretrained = [pretrained]
    for path in pretrained:
        if path and weights_dir.copy_part(path, folder, weights_dir.RESNET_PART):
            return


def export_run(
    load_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    checkpoint: str | None = None,
) -> tuple[Path, int]:
    """Restore a run's checkpoint into fresh models and export them.

    Returns:
        ``(folder written, step of the checkpoint)``.
    Raises:
        FileNotFoundError / ValueError naming the run, the checkpoint or the parameter file.
    """
    import tensorflow as tf

    from src.checkpoints import weights_dir
    from src.networks.discriminator import PoseDiscriminator
    from src.networks.hmmr import HMMR
    from src.training import checkpointing
    from src.training import flags as train_flags

    run_dir = Path(load_path)
    params = train_flags.load_params(run_dir)
    prefix = checkpoint or checkpointing.latest_checkpoint(run_dir)
    if prefix is None:
        raise FileNotFoundError(f"{checkpointing.checkpoint_dir(run_dir)}: no checkpoint")
    config = _model_config(params, run_dir)
    model = HMMR(config)
    model.build()
    discriminator = PoseDiscriminator(
        joint_hidden=config.disc_joint_hidden, all_hidden=config.disc_all_hidden
    )
    discriminator.build()
    step = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(
        model=checkpointing.named_variables(model),
        discriminator=checkpointing.named_variables(discriminator),
        step=step,
    )
    try:
        ckpt.restore(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        raise ValueError(
            f"{prefix}: does not fit the model of {run_dir}/params.json ({err})"
        ) from err
    out = Path(out) if out is not None else run_dir / EXPORT_DIR
    folder = weights_dir.save_models(
        out, model=model, discriminator=discriminator, source=f"{prefix}, step {int(step.numpy())}"
    )
    _add_image_encoder(folder, run_dir)
    return folder, int(step.numpy())


def _model_config(params: dict, run_dir: Path):
    """The model configuration of a run's saved flags."""
    from absl import flags

    from src.training import flags as train_flags

    fv = flags.FlagValues()
    train_flags.define_flags(fv)
    fv(["export"])
    for name, value in params.items():
        if name in fv:
            try:
                fv[name].value = value
            except (flags.IllegalFlagValueError, TypeError) as err:
                raise ValueError(f"{run_dir}/params.json: bad value for {name} ({err})") from err
    return train_flags.model_config_from_flags(fv)


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a training run as a weights folder.")
    parser.add_argument("--load_path", required=True, help="training run directory")
    parser.add_argument("--out", default=None, help="output folder (default RUN_DIR/export)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint prefix (default newest)")
    args = parser.parse_args(argv)
    try:
        folder, step = export_run(args.load_path, args.out, args.checkpoint)
    except (OSError, ValueError) as err:
        print(f"export_weights: {err}", file=sys.stderr)
        return 1
    print(f"exported step {step} to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
