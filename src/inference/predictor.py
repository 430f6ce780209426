"""Sliding-window inference over sequences of any length (docs/original_release.md §7.1-7.2).

The temporal encoder sees ``fov = 4 n + 1`` frames (13), so a frame needs ``m = fov // 2`` (6)
frames of context on each side. As the original ``Tester.predict_all_images``:

1. prepend ``m`` padding frames and append padding frames at the end; the original pads with
   **zero images** (0 in [-1, 1] space, i.e. mid-gray), so the padding feature is the phi of a
   zero image;
2. cut windows of ``T`` frames starting every ``g = T - 2 m`` frames (8 for T = 20);
3. run the windows in batches of ``batch_size`` (GroupNorm statistics come from each whole
   window, padding included, so the padding value matters);
4. keep outputs ``[m : T - m)`` of each window, concatenate, truncate to N.

Frame i is therefore predicted in window ``i // g`` at position ``m + i % g``.

Here the windows are produced while the input streams in (:meth:`Predictor.iter_predict`), so
memory is bounded by one batch of windows, not by the video. Every batch has exactly
``batch_size`` windows (the last one is filled with all-padding windows, as the original), so the
graph is traced once.

Outputs per frame (numpy float32), with the original's keys:

- ``theta`` (N, 85) camera | pose | shape;
- ``cams`` (N, 3) crop camera ``[s, tx, ty]``;
- ``joints`` (N, 25, 3) in SMPL model space (metres, no translation);
- ``kps`` (N, 25, 2) projected joints, normalised to [-1, 1] over the crop;
- ``poses`` (N, 24, 3, 3) rotation matrices (``poses[:, 0]``: global orientation);
- ``shapes`` (N, 10);
- ``verts`` (N, V, 3) only with ``with_verts=True`` (27.6 MB per 1000 frames) or
  ``with_present_verts=True`` (``verts`` without ``verts_delta``: what a renderer needs; the
  present bodies then run the full body model instead of the joints-only one);
- the same keys with ``_delta`` and an extra axis of size ``len(delta_t_values)`` after N, in
  sorted delta-t order (default 0 = past -5, 1 = future +5). As the original, the past/future
  bodies are projected with the **present** camera, and ``cams_delta`` repeats it;
  ``theta_delta`` keeps each predictor's raw 85 values.

``pred_mode``:

- ``"pred"``: temporal encoder (the model);
- ``"hal"``: hallucinator on each frame alone (single-image prediction of present, past, future);
- ``"const"``: the constant baseline of the paper's Table 5: the hallucinator's present
  prediction is used as the past and the future too (the original's const evaluation reads the
  hallucinator outputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf

from src import constants
from src.networks.hmmr import HMMR
from src.networks.outputs import theta_to_body

PRED_MODES: tuple[str, ...] = ("pred", "hal", "const")
DEFAULT_BATCH_SIZE = 8  # windows per forward pass, as the original's eval/demo
UINT8_MAX = 255.0

# theta_to_body key -> per-frame output key (the original's names); the export uses them too
BODY_KEYS: dict[str, str] = {
    "cam": "cams",
    "joints": "joints",
    "kp2d": "kps",
    "rotmats": "poses",
    "shape": "shapes",
}
VERTS_KEY = ("vertices", "verts")


def window_margin(model: HMMR) -> int:
    """Context frames needed on each side: ``receptive_field // 2`` (6 for 3 conv layers)."""
    return model.config.receptive_field // 2


def images_to_model_range(images: np.ndarray) -> np.ndarray:
    """Images to float32 in [-1, 1]: ``uint8`` is mapped by ``x / 255 * 2 - 1``; floats are
    assumed to be in [-1, 1] already (the original's convention).

    Args:
        images: ``(..., H, W, 3)`` uint8 or float.
    Returns:
        ``(..., H, W, 3)`` float32.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return (images.astype(np.float32) / UINT8_MAX) * 2.0 - 1.0
    return images.astype(np.float32)


def zero_image_phi(resnet: Callable, img_size: int = constants.IMG_SIZE) -> np.ndarray:
    """phi of one zero image (mid-gray in [-1, 1] space): the original's padding feature.

    Args:
        resnet: image encoder, ``(B, S, S, 3)`` in [-1, 1] -> ``(B, D)``.
        img_size: S.
    Returns:
        ``(D,)`` float32.
    """
    zeros = tf.zeros((1, img_size, img_size, 3), tf.float32)
    return np.asarray(resnet(zeros, training=False), dtype=np.float32)[0]


class Predictor:
    """Per-frame HMMR predictions for a sequence of any length with the original's sliding window.

    Args:
        model: a built :class:`src.networks.hmmr.HMMR` (weights loaded).
        smpl: the SMPL layer given to :func:`src.networks.outputs.theta_to_body`.
        T: window length (the training ``sequence_length``, 20).
        batch_size: windows per forward pass (8); bounds memory with T and D.
        resnet: optional image encoder ``(B, S, S, 3)`` in [-1, 1] -> ``(B, D)``; needed by
            :meth:`predict_images`, and when given the padding feature is its phi of a zero
            image.
        pad_phi: ``(D,)`` padding feature when ``resnet`` is not given. Predictions next to the
            sequence ends (and, through GroupNorm, of short windows) depend on it; to match the
            original on precomputed features pass ``zero_image_phi(resnet)`` computed once with
            the same encoder. Default: zeros (documented approximation).
        pred_mode: ``"pred"``, ``"hal"`` or ``"const"`` (see the module docstring).
        with_verts: also return ``verts`` / ``verts_delta``.
        with_present_verts: also return ``verts`` (the present frames' only).

    Example:
        >>> predictor = Predictor(model, smpl, resnet=encoder)
        >>> out = predictor.predict_images(crops)  # crops (N, 224, 224, 3) in [-1, 1]
        >>> out["joints"].shape, out["kps_delta"].shape
        ((N, 25, 3), (N, 2, 25, 2))
    """

    def __init__(
        self,
        model: HMMR,
        smpl: Callable,
        T: int = constants.SEQUENCE_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        resnet: Callable | None = None,
        pad_phi: np.ndarray | None = None,
        pred_mode: str = "pred",
        with_verts: bool = False,
        with_present_verts: bool = False,
    ) -> None:
        if pred_mode not in PRED_MODES:
            raise ValueError(f"Predictor: pred_mode must be one of {PRED_MODES}, got {pred_mode!r}")
        self.model = model
        self.smpl = smpl
        self.T = int(T)
        self.batch_size = int(batch_size)
        self.resnet = resnet
        self.pred_mode = pred_mode
        self.with_verts = bool(with_verts)
        self.with_present_verts = self.with_verts or bool(with_present_verts)
        self.phi_dim = int(model.config.phi_dim)
        self.img_size = int(model.config.img_size)
        self.margin = window_margin(model)
        self.good_frames = self.T - 2 * self.margin
        if self.good_frames <= 0 or self.batch_size <= 0:
            raise ValueError(
                f"Predictor: need T > 2 * margin = {2 * self.margin} and batch_size > 0, got "
                f"T={self.T}, batch_size={self.batch_size}"
            )
        if not model.built:
            model.build((None, None, self.phi_dim))
        self.pad_phi = self._resolve_pad_phi(pad_phi)
        self._forward = tf.function(  # no tensor-dependent Python control flow: no autograph
            self._forward_windows,  # (halves the trace, paid once per video by the demo)
            input_signature=[tf.TensorSpec((self.batch_size, self.T, self.phi_dim), tf.float32)],
            autograph=False,
        )

    # ----------------------------------------------------------------------------------------
    # Set-up

    def _resolve_pad_phi(self, pad_phi: np.ndarray | None) -> np.ndarray:
        """The ``(D,)`` padding feature: resnet's zero-image phi, else ``pad_phi``, else zeros."""
        if self.resnet is not None:
            pad = zero_image_phi(self.resnet, self.img_size)
        elif pad_phi is not None:
            pad = np.asarray(pad_phi, dtype=np.float32).reshape(-1)
        else:
            pad = np.zeros(self.phi_dim, np.float32)
        if pad.shape != (self.phi_dim,):
            raise ValueError(
                f"Predictor: padding feature must have shape ({self.phi_dim},), got {pad.shape}"
            )
        return pad

    @property
    def frames_per_batch(self) -> int:
        """Output frames per forward pass: ``batch_size * (T - 2 m)``."""
        return self.batch_size * self.good_frames

    # ----------------------------------------------------------------------------------------
    # One batch of windows

    def _regress(self, windows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(B, T, D)`` windows -> theta ``(B g, 85)``, theta_delta ``(B g, ndt, 85)`` of the
        kept frames ``[m : T - m)``."""
        m, g = self.margin, self.good_frames
        num_dt = len(self.model.config.delta_t_values)
        if self.pred_mode == "pred":
            out = self.model(windows, training=False)
            theta = tf.reshape(out["theta"][:, m : m + g], [-1, constants.THETA_DIM])
            theta_delta = tf.reshape(
                out["theta_delta"][:, m : m + g], [-1, num_dt, constants.THETA_DIM]
            )
            return theta, theta_delta
        out = self.model.predict_single(tf.reshape(windows[:, m : m + g], [-1, self.phi_dim]))
        theta = out["theta"]
        if self.pred_mode == "const":
            return theta, tf.repeat(theta[:, tf.newaxis], num_dt, axis=1)
        return theta, out["theta_delta"]

    def _body(
        self, theta: tf.Tensor, cam: tf.Tensor | None, vertices: bool
    ) -> dict[str, tf.Tensor]:
        """theta ``(M, 85)`` -> per-frame outputs under the original's keys (+ ``verts``)."""
        body = theta_to_body(self.smpl, theta, cam=cam, with_vertices=vertices)
        out = {dst: body[src] for src, dst in BODY_KEYS.items()}
        if vertices:
            out[VERTS_KEY[1]] = body[VERTS_KEY[0]]
        return out

    def _forward_windows(self, windows: tf.Tensor) -> dict[str, tf.Tensor]:
        """``(B, T, D)`` -> dict of ``(B g, ...)`` present and ``(B g, ndt, ...)`` delta outputs."""
        theta, theta_delta = self._regress(windows)
        present = self._body(theta, None, self.with_present_verts)
        num_dt = theta_delta.shape[1]
        cam_rep = tf.repeat(present["cams"], num_dt, axis=0)  # present camera for every dt
        flat = self._body(
            tf.reshape(theta_delta, [-1, constants.THETA_DIM]), cam_rep, self.with_verts
        )
        out = {"theta": theta, "theta_delta": theta_delta, **present}
        for key, value in flat.items():
            shape = tf.concat([[-1, num_dt], tf.shape(value)[1:]], axis=0)
            out[f"{key}_delta"] = tf.reshape(value, shape)
        return out

    def _run_batch(self, padded: np.ndarray, num_windows: int) -> dict[str, np.ndarray]:
        """Forward the first ``num_windows`` windows of ``padded`` (starting every g frames),
        filling the batch with all-padding windows; returns ``num_windows * g`` frames."""
        T, g = self.T, self.good_frames
        batch = np.empty((self.batch_size, T, self.phi_dim), np.float32)
        batch[:] = self.pad_phi
        for w in range(num_windows):
            batch[w] = padded[w * g : w * g + T]
        out = self._forward(tf.constant(batch))
        keep = num_windows * g
        return {k: np.asarray(v)[:keep] for k, v in out.items()}

    # ----------------------------------------------------------------------------------------
    # Streaming

    def _check_phi(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 1:
            chunk = chunk[None]
        if chunk.ndim != 2 or chunk.shape[1] != self.phi_dim:
            raise ValueError(
                f"Predictor: expected phi frames (D,) or (n, D) with D = {self.phi_dim}, got "
                f"{chunk.shape}"
            )
        return chunk

    def iter_predict(self, phi_frames: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Stream predictions while phi streams in.

        Args:
            phi_frames: iterable of ``(D,)`` frames or ``(n, D)`` chunks (e.g. an ``(N, D)``
                array, or a generator over a long video).
        Yields:
            dicts of per-frame outputs for consecutive frames, in order; each covers up to
            :attr:`frames_per_batch` frames, and together they cover every input frame.
        """
        m, g, B = self.margin, self.good_frames, self.batch_size
        need = (B - 1) * g + self.T  # padded frames for a full batch of windows
        buffer = np.tile(self.pad_phi, (m, 1))  # buffer[0] = left context of the next window
        pending: list[np.ndarray] = []
        num_pending = 0
        real_left = 0  # real frames in buffer + pending not yet output
        for item in phi_frames:
            chunk = self._check_phi(item)
            pending.append(chunk)
            num_pending += len(chunk)
            real_left += len(chunk)
            if len(buffer) + num_pending < need:
                continue
            buffer = np.concatenate([buffer, *pending])
            pending, num_pending = [], 0
            while len(buffer) >= need:
                yield self._run_batch(buffer, B)
                buffer = buffer[B * g :]
                real_left -= B * g
        if pending:
            buffer = np.concatenate([buffer, *pending])
        while real_left > 0:
            num_windows = min(B, math.ceil(real_left / g))
            fill = (num_windows - 1) * g + self.T - len(buffer)
            if fill > 0:
                buffer = np.concatenate([buffer, np.tile(self.pad_phi, (fill, 1))])
            out = self._run_batch(buffer, num_windows)
            keep = min(real_left, num_windows * g)
            yield {k: v[:keep] for k, v in out.items()}
            buffer = buffer[num_windows * g :]
            real_left -= keep

    def iter_phi_from_images(self, images: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Encode images to phi in chunks of :attr:`frames_per_batch` frames.

        Args:
            images: iterable of ``(S, S, 3)`` frames or ``(n, S, S, 3)`` chunks, uint8 or float
                in [-1, 1].
        Yields:
            ``(n, D)`` float32 phi chunks.
        """
        if self.resnet is None:
            raise ValueError("Predictor: predict_images needs an image encoder (resnet=...)")
        expected = (self.img_size, self.img_size, 3)
        pending: list[np.ndarray] = []
        for item in images:
            chunk = images_to_model_range(item)
            if chunk.ndim == 3:
                chunk = chunk[None]
            if chunk.shape[1:] != expected:
                raise ValueError(
                    f"Predictor: expected images {expected} or (n, *{expected}), got {chunk.shape}"
                )
            pending.extend(chunk)
            while len(pending) >= self.frames_per_batch:
                yield self._encode(pending[: self.frames_per_batch])
                pending = pending[self.frames_per_batch :]
        if pending:
            yield self._encode(pending)

    def _encode(self, frames: list[np.ndarray]) -> np.ndarray:
        """``n`` images -> ``(n, D)`` phi with the encoder in inference mode."""
        phi = self.resnet(tf.constant(np.stack(frames)), training=False)
        return np.asarray(phi, dtype=np.float32)

    def iter_predict_images(self, images: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """:meth:`iter_predict` on images encoded by ``resnet`` on the fly (streaming)."""
        return self.iter_predict(self.iter_phi_from_images(images))

    # ----------------------------------------------------------------------------------------
    # Whole sequences

    @staticmethod
    def _collect(chunks: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {}
        for chunk in chunks:
            for key, value in chunk.items():
                parts.setdefault(key, []).append(value)
        return {key: np.concatenate(values) for key, values in parts.items()}

    def predict_phi(self, phi: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame outputs for a whole sequence of features.

        Args:
            phi: ``(N, D)`` per-frame features, N >= 1.
        Returns:
            dict of ``(N, ...)`` arrays (see the module docstring).
        """
        phi = self._check_phi(phi)
        if len(phi) == 0:
            raise ValueError("Predictor: expected at least one frame, got an empty sequence")
        return self._collect(self.iter_predict([phi]))

    def predict_images(self, images: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
        """Per-frame outputs for a whole sequence of crops.

        Args:
            images: ``(N, S, S, 3)`` array or iterable of ``(S, S, 3)`` crops, uint8 or float
                in [-1, 1].
        Returns:
            dict of ``(N, ...)`` arrays.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = [images]
        out = self._collect(self.iter_predict_images(images))
        if not out:
            raise ValueError("Predictor: expected at least one image, got an empty sequence")
        return out
