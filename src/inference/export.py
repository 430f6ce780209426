"""SavedModel export for TF Serving (docs/original_release.md §7.1); the models come from
:func:`src.inference.models.build_inference_models`.

One SavedModel (tag ``serve``) holds the ResNet-50 v2 image encoder, the HMMR model and the body
model, with four named signatures (``B`` tubes of ``T`` frames, ``N`` independent crops,
``S`` = ``img_size`` = 224, ``D`` = 2048, ``V`` vertices, ``K`` = 25 joints, ``J`` = 24 SMPL
joints, ``P`` = 2 delta predictors in sorted delta-t order: 0 = past -5, 1 = future +5):

``serving_default``
    input ``images`` (B, T, S, S, 3) float32 in [-1, 1] (crops as the demo cuts them) ->
    ResNet -> temporal encoder -> regressors -> body model.
``serve_phi``
    input ``phi`` (B, T, D) float32 precomputed ResNet features -> same outputs.
``hallucinate``
    input ``images`` (N, S, S, 3) float32 in [-1, 1]: each crop alone through the hallucinator
    -> present (``theta`` ...) and past/future (``*_delta``) outputs with leading dim N.
``encode``
    input ``images`` (N, S, S, 3) -> output ``phi`` (N, D): features for ``serve_phi``, so a
    client can run the original's sliding window (:mod:`src.inference.predictor`) itself.

Outputs of the first three (leading dims ``L`` = (B, T) or (N,)), all float32:

==================  ======================  ==================================================
``theta``           (*L, 85)                camera 3 | pose 72 (axis-angle) | shape 10
``cams``            (*L, 3)                 weak-perspective crop camera [s, tx, ty]
``poses``           (*L, 24, 3, 3)          rotation matrices (``[..., 0, :, :]`` global)
``shapes``          (*L, 10)                SMPL betas
``joints``          (*L, 25, 3)             3D joints, model space, metres, no translation
``kps``             (*L, 25, 2)             projected joints in [-1, 1] over the crop
``verts``           (*L, V, 3)              only when exported ``with_verts``
``*_delta``         (*L, P, ...)            the same for the past/future predictors; their
                                            bodies use the present camera (``cams_delta``
                                            repeats ``cams``), ``theta_delta`` keeps each
                                            predictor's own 85 values
==================  ======================  ==================================================

A tube is predicted as one window (GroupNorm statistics over its T frames), as the original's
inference graph; for long videos send overlapping windows (T = 20, keep frames 6..13 of each)
or use :class:`src.inference.predictor.Predictor`. See ``docs/serving.md``.

TF Serving loads SavedModels through the TF1 loader in a session; the export is checked that way
(``tf.compat.v1.saved_model.loader.load`` and ``saved_model_cli run``) in the tests.

``precision="bfloat16"`` (``--precision bfloat16``) exports a ResNet that computes in bf16
(:func:`src.inference.models.build_resnet`); the signatures, their inputs and outputs and every
other part stay float32, so a client sees no difference but the numbers (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from src import constants
from src.inference.models import InferenceModels, build_inference_models
from src.inference.predictor import BODY_KEYS, VERTS_KEY
from src.networks.hmmr import HMMR
from src.networks.outputs import theta_to_body
from src.smpl import lbs
from src.smpl.layer import SMPL

log = logging.getLogger(__name__)

SIGNATURE_IMAGES = "serving_default"
SIGNATURE_PHI = "serve_phi"
SIGNATURE_HALLUCINATE = "hallucinate"
SIGNATURE_ENCODE = "encode"
SIGNATURES = (SIGNATURE_IMAGES, SIGNATURE_PHI, SIGNATURE_HALLUCINATE, SIGNATURE_ENCODE)
SERVE_TAG = "serve"

BODY_OUTPUTS = BODY_KEYS  # theta_to_body key -> output key (the original's names)
VERTS_OUTPUT = VERTS_KEY


# ------------------------------------------------------------------------------------------------
# Signature functions


def body_outputs(
    smpl: SMPL, theta: tf.Tensor, theta_delta: tf.Tensor, with_verts: bool
) -> dict[str, tf.Tensor]:
    """Named outputs of present and delta thetas (deltas projected with the present camera).

    Args:
        theta: (*L, 85).
        theta_delta: (*L, P, 85).
    Returns:
        dict of (*L, ...) and (*L, P, ...) tensors (see the module docstring).
    """
    present = theta_to_body(smpl, theta, with_vertices=with_verts)
    cam_shape = tf.concat([tf.shape(theta_delta)[:-1], [constants.NUM_CAM]], axis=0)
    cam = tf.broadcast_to(present["cam"][..., tf.newaxis, :], cam_shape)  # (*L, P, 3)
    delta = theta_to_body(smpl, theta_delta, cam=cam, with_vertices=with_verts)
    keys = dict(BODY_OUTPUTS)
    if with_verts:
        keys[VERTS_OUTPUT[0]] = VERTS_OUTPUT[1]
    out = {"theta": theta, "theta_delta": theta_delta}
    for src, dst in keys.items():
        out[dst] = present[src]
        out[f"{dst}_delta"] = delta[src]
    return out


class ServingFunctions:
    """The signature functions over built models (plain Python; the export traces them).

    Args:
        model: :class:`HMMR`.
        resnet: image encoder ``(N, S, S, 3)`` -> ``(N, D)``.
        smpl: body model.
        with_verts: also output ``verts`` / ``verts_delta``.
    """

    def __init__(self, model: HMMR, resnet: keras.Model, smpl: SMPL, with_verts: bool = False):
        self.model = model
        self.resnet = resnet
        self.smpl = smpl
        self.with_verts = bool(with_verts)
        self.img_size = int(model.config.img_size)
        self.phi_dim = int(model.config.phi_dim)

    def input_signatures(self) -> dict[str, list[tf.TensorSpec]]:
        """Signature name -> ``[TensorSpec]`` with the input's name."""
        s, d = self.img_size, self.phi_dim
        return {
            SIGNATURE_IMAGES: [tf.TensorSpec((None, None, s, s, 3), tf.float32, name="images")],
            SIGNATURE_PHI: [tf.TensorSpec((None, None, d), tf.float32, name="phi")],
            SIGNATURE_HALLUCINATE: [tf.TensorSpec((None, s, s, 3), tf.float32, name="images")],
            SIGNATURE_ENCODE: [tf.TensorSpec((None, s, s, 3), tf.float32, name="images")],
        }

    def functions(self) -> dict[str, Callable]:
        return {
            SIGNATURE_IMAGES: self.serve_images,
            SIGNATURE_PHI: self.serve_phi,
            SIGNATURE_HALLUCINATE: self.hallucinate,
            SIGNATURE_ENCODE: self.encode,
        }

    def encode(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """images (N, S, S, 3) in [-1, 1] -> {"phi": (N, D)}."""
        return {"phi": self.resnet(images, training=False)}

    def serve_phi(self, phi: tf.Tensor) -> dict[str, tf.Tensor]:
        """phi (B, T, D) -> outputs with leading (B, T)."""
        out = self.model(phi, training=False)
        return body_outputs(self.smpl, out["theta"], out["theta_delta"], self.with_verts)

    def serve_images(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """images (B, T, S, S, 3) in [-1, 1] -> outputs with leading (B, T)."""
        lead = tf.shape(images)[:2]
        flat = tf.reshape(images, [-1, self.img_size, self.img_size, 3])
        phi = self.resnet(flat, training=False)
        return self.serve_phi(tf.reshape(phi, tf.concat([lead, [self.phi_dim]], 0)))

    def hallucinate(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """images (N, S, S, 3) in [-1, 1] -> hallucinated present / past / future, leading (N,)."""
        phi = self.resnet(images, training=False)
        out = self.model.predict_single(phi)
        return body_outputs(self.smpl, out["theta"], out["theta_delta"], self.with_verts)


# ------------------------------------------------------------------------------------------------
# Export


def export_saved_model(
    out_dir: str | os.PathLike,
    model: HMMR,
    resnet: keras.Model,
    smpl: SMPL,
    with_verts: bool = False,
) -> Path:
    """Write the SavedModel with the four signatures to ``out_dir``.

    The archive is written to a temporary folder beside ``out_dir`` and renamed, so ``out_dir``
    never holds a partial export. An existing ``out_dir`` must be empty or a previous export
    (it is replaced).

    Returns:
        ``out_dir`` as a Path.
    Raises:
        ValueError: ``out_dir`` is a file, or a non-empty folder that is not a SavedModel.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "saved_model.pb").is_file():
        raise ValueError(f"{out}: folder is not empty and holds no SavedModel; refusing to replace")
    fns = ServingFunctions(model, resnet, smpl, with_verts)
    # Not archive.track(model): the variables the endpoints use are tracked automatically, and
    # tracking the Keras layers as well would store every weight twice.
    archive = keras.export.ExportArchive()
    specs = fns.input_signatures()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp"))
    try:
        with lbs.portable():  # no XLA kernels in the graph: TF Serving runs none by default
            for name, fn in fns.functions().items():
                archive.add_endpoint(name=name, fn=fn, input_signature=specs[name])
            archive.write_out(str(tmp), verbose=False)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def export_from_weights(
    load_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    smpl_model_path: str | os.PathLike | None = None,
    with_verts: bool = False,
    precision: str = constants.DEFAULT_PRECISION,
) -> tuple[Path, InferenceModels]:
    """Build the models from a weights folder (the ResNet computing in ``precision``) and export
    them (``python -m src.export``)."""
    models = build_inference_models(
        load_path, smpl_model_path, allow_untrained=False, precision=precision
    )
    path = export_saved_model(out_dir, models.model, models.resnet, models.smpl, with_verts)
    return path, models
