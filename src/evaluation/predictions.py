"""The model's predictions on the test records of the evaluation (docs/original_release.md §7.2):

1. test records ``<tf_dir>/<dataset>/<split>/*.tfrecord`` (§6.2; one file per video, one record
   per person tube, keypoints in crop pixels); Human3.6M only ``*cam03*`` files;
2. per tube, predictions of the sliding window (§7.2) on the JPEG crops through the ResNet of the
   weights folder, or on ``image/phis`` with ``--use_phi``, as the arrays that
   :mod:`src.evaluation.cache` stores;
3. the body model, loaded on first use (cached predictions need it only for the mesh errors).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from src import constants
from src.checkpoints.weights_dir import CONFIG_FILE, RESNET_PART, available_parts
from src.data.pipeline import dataset_files
from src.data.schema import parse_example_np
from src.evaluation.aggregate import select_test_files
from src.evaluation.cache import CACHED_KEYS
from src.evaluation.options import PROG
from src.inference.models import load_networks
from src.inference.predictor import Predictor
from src.networks.config import ModelConfig
from src.networks.outputs import theta_to_body
from src.smpl.layer import SMPL

PART_ENCODERS = ("temporal_encoder", "hallucinator", "ief_regressor")

# --------------------------------------------------------------------------------------------
# Inputs: files, records, body model


def find_test_files(tf_dir: str, dataset: str, split: str) -> list[str]:
    """Sorted test files of one dataset (H3.6M: ``*cam03*`` only), or a FileNotFoundError that
    names the folder searched."""
    root = Path(tf_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{tf_dir}: test TFRecord root not found (--tf_dir)")
    files = select_test_files(dataset_files(root, dataset, split), dataset)
    if not files:
        which = "*cam03*.tfrecord" if dataset == "h36m" else "*.tfrecord"
        raise FileNotFoundError(
            f"{root / dataset / split}: no {which} files for dataset '{dataset}' split '{split}'"
        )
    return files


def read_tubes(path: str) -> Iterator[dict[str, Any]]:
    """Parsed records (person tubes) of one test file, in order; errors name the file."""
    try:
        records = tf.data.TFRecordDataset(path).as_numpy_iterator()
        for index, record in enumerate(records):
            yield parse_example_np(record, source=f"{path} (record {index})")
    except tf.errors.OpError as err:
        first = str(err.message).splitlines()[0] if err.message else type(err).__name__
        raise ValueError(f"{path}: not a readable TFRecord file ({first})") from None


class BodyModel:
    """The SMPL layer, loaded on first use (cached predictions need it only for meshes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.cached_property
    def layer(self) -> SMPL:
        return SMPL(self.path)

    def vertices(self, betas: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """``(M, 10)`` betas, ``(M, 72)`` axis-angle poses -> ``(M, V, 3)`` float64 metres."""
        theta = np.zeros((len(betas), constants.THETA_DIM))  # the camera plays no part
        theta[:, constants.POSE_SLICE] = poses
        theta[:, constants.SHAPE_SLICE] = betas
        out = theta_to_body(self.layer, tf.constant(theta, tf.float32))
        return np.asarray(out["vertices"], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Predictions


def _decode_crops(jpegs: Sequence[bytes], img_size: int, source: str) -> Iterator[np.ndarray]:
    """JPEG crops -> ``(S, S, 3)`` uint8 RGB frames, one at a time."""
    for index, jpeg in enumerate(jpegs):
        try:
            frame = tf.io.decode_jpeg(jpeg, channels=3).numpy()
        except tf.errors.OpError:
            raise ValueError(f"{source}: frame {index} of 'image/encoded' is not a JPEG") from None
        if frame.shape != (img_size, img_size, 3):
            raise ValueError(
                f"{source}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, the model "
                f"expects {img_size}x{img_size} crops"
            )
        yield frame


class ModelPredictions:
    """Per-tube predictions of a weights folder with the original's sliding window.

    The networks are built and loaded on the first call, so a fully cached evaluation never
    builds them. Checks that need no weights (the parts present, the input) run at once.

    Args:
        folder: resolved weights folder.
        config: its :class:`ModelConfig`.
        body: the body model.
        T: window length; batch_size: windows per forward pass.
        use_phi: predict from the records' ``image/phis`` (else from the JPEG crops); their
            width must be ``config.phi_dim`` (any width; the ResNet path needs 2048).
        precision: arithmetic of the ResNet (``float32`` or ``bfloat16``).

    Call:
        ``predictions(tube, mode, source)`` with a parsed record, ``mode`` ``pred`` or ``hal``
        and a name for errors -> dict of :data:`src.evaluation.cache.CACHED_KEYS` arrays.
    """

    def __init__(
        self,
        folder: Path,
        config: ModelConfig,
        body: BodyModel,
        T: int,
        batch_size: int,
        use_phi: bool,
        precision: str = constants.DEFAULT_PRECISION,
    ) -> None:
        parts = set(available_parts(folder))
        missing = [p for p in PART_ENCODERS if p not in parts]
        if missing:
            raise ValueError(
                f"{folder}: has no {missing} weights (it has {sorted(parts)}); "
                "convert the HMMR checkpoint into it with python -m src.convert"
            )
        self.has_resnet = RESNET_PART in parts
        resnet_width = constants.PHI_DIM  # ResNet-50 v2 features
        if not use_phi and config.phi_dim != resnet_width:
            raise ValueError(
                f"{folder}: phi_dim {config.phi_dim} cannot take the ResNet-50 v2 features of "
                f"the test crops ({resnet_width} per frame); evaluate records whose image/phis "
                f"hold {config.phi_dim} floats per frame with --use_phi"
            )
        # with --use_phi the ResNet only gives the padding phi (§7.2), when its width fits
        self.pad_with_resnet = self.has_resnet and config.phi_dim == resnet_width
        if not use_phi and not self.has_resnet:
            raise ValueError(
                f"{folder}: has no '{RESNET_PART}' part to encode the test crops; convert the HMR "
                "checkpoint into the same folder (python -m src.convert --hmr_ckpt ...), or "
                "evaluate records that hold image/phis with --use_phi"
            )
        if use_phi and not self.pad_with_resnet:
            why = (
                f"has no '{RESNET_PART}' part"
                if not self.has_resnet
                else f"has phi_dim {config.phi_dim}, not its '{RESNET_PART}' part's {resnet_width}"
            )
            print(
                f"{PROG}: warning: {folder} {why}, so the sliding window "
                "pads sequence ends with zero features instead of the feature of a zero image "
                "(docs/original_release.md §7.2): frames within 6 of either end differ from the "
                "original's protocol",
                file=sys.stderr,
            )
        self.folder, self.config, self.body = folder, config, body
        self.T, self.batch_size, self.use_phi = T, batch_size, use_phi
        self.precision = precision
        self._predictors: dict[str, Any] = {}

    @functools.cached_property
    def _networks(self) -> tuple[Any, Any]:
        """(HMMR model, ResNet or None) with the folder's weights."""
        # the ResNet also with --use_phi: its zero-image phi is the padding (§7.2)
        nets = load_networks(
            self.folder, self.config, with_resnet=self.pad_with_resnet, precision=self.precision
        )
        return nets.model, nets.resnet

    def _predictor(self, mode: str) -> Predictor:
        if mode not in self._predictors:
            model, resnet = self._networks
            self._predictors[mode] = Predictor(
                model,
                self.body.layer,
                T=self.T,
                batch_size=self.batch_size,
                resnet=resnet,
                pred_mode=mode,
            )
        return self._predictors[mode]

    def __call__(self, tube: Mapping[str, Any], mode: str, source: str) -> dict[str, np.ndarray]:
        num_frames = int(tube["N"])
        if self.use_phi:
            if tube.get("phi") is None:
                raise ValueError(
                    f"{source}: the record has no image/phis; evaluate it without "
                    "--use_phi (from the JPEG crops)"
                )
            width = int(np.shape(tube["phi"])[1])
            if width != self.config.phi_dim:
                raise ValueError(
                    f"{source}: image/phis holds {width} floats per frame; the model expects "
                    f"{self.config.phi_dim} (phi_dim in {self.folder / CONFIG_FILE})"
                )
            out = self._predictor(mode).predict_phi(tube["phi"])
        else:
            jpegs = tube.get("images") or []
            if len(jpegs) != num_frames:
                raise ValueError(
                    f"{source}: the record has {len(jpegs)} image/encoded crops for "
                    f"{num_frames} frames; records with image/phis need --use_phi"
                )
            crops = _decode_crops(jpegs, self.config.img_size, source)
            out = self._predictor(mode).predict_images(crops)
        return {key: np.asarray(out[key]) for key in CACHED_KEYS}
