"""HMMR losses (docs/original_release.md §5): each term a pure function, weights with the original
flag names.

- ``terms``: one function per loss term, returning a ``Ratio`` (numerators, denominators) so that
  the TF1 "divide by the number of non-zero weights" reduction stays exact across replicas.
- ``weights``: ``LossWeights`` (``e_lw_kp`` = 60, ...).
- ``hmmr_losses``: assembles every term of §5.2 from a batch and the model outputs.
"""

from src.losses.terms import Ratio, add_ratios, ratio_value
from src.losses.weights import LossWeights

__all__ = ["LossWeights", "Ratio", "add_ratios", "ratio_value"]
