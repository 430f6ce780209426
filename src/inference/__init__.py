"""Inference: the one model loader (``models``: networks from a weights folder), the original's
sliding-window predictor over sequences of any length (``predictor``) and the SavedModel export
(``export``)."""

from src.inference.predictor import PRED_MODES, Predictor, zero_image_phi

__all__ = ["PRED_MODES", "Predictor", "zero_image_phi"]
