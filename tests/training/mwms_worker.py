"""One worker of the MultiWorkerMirroredStrategy test: ``python -m src.main``'s training with
TF_CONFIG from the environment, then its final weights saved to ``--weights_out`` (npz)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from src import main as hmmr_main  # noqa: E402  (defines the training flags)
from src.training import command_line  # noqa: E402
from src.training.run import run  # noqa: E402

flags.DEFINE_string("weights_out", None, "npz of the final weights of this worker")


def main(argv: list[str]) -> None:
    del argv
    trainer, result = run(command_line.train_config(hmmr_main.FLAGS, sys.argv))
    arrays = {w.path: w.numpy() for w in trainer.model.weights + trainer.discriminator.weights}
    arrays["__step__"] = np.array(result.step)
    np.savez(flags.FLAGS.weights_out, **arrays)


if __name__ == "__main__":
    app.run(main)
