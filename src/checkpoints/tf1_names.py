"""TF1 variable names of the original checkpoints -> Keras weights (docs/original_release.md §3.10).

The checkpoint converter (``src.checkpoints``) builds the models, asks the ``*_weight_map``
functions below for ``WeightMapping`` rows and hands them the arrays read with
``tf.train.load_checkpoint``; :func:`assign_from_tf1` checks shapes and assigns.

Table: TF1 name [TF1 shape] -> Keras weight path (relative to the model) [transform].
``{i}`` = block 0..num_conv_layers-1, ``{n}`` = 1, 2, 3, ``{j}`` = 0..22, D = phi_dim.

``hmmr_model.ckpt-1119816`` -> :class:`HMMR` (:func:`hmmr_weight_map`):
    AZ_FC_block_preact_gn1block_{i}/{gamma,beta} [D]
        -> temporal_encoder/block{i}_gn1/{gamma,beta}
    AZ_FC_block2_conv1block_{i}/weights [3,1,D,D]
        -> temporal_encoder/block{i}_conv1/kernel [3,D,D]   (squeeze_axis1)
    AZ_FC_block2_conv1block_{i}/biases [D]
        -> temporal_encoder/block{i}_conv1/bias
    AZ_FC_block_preact_gn2block_{i}/{gamma,beta} [D]
        -> temporal_encoder/block{i}_gn2/{gamma,beta}
    AZ_FC_block2_conv2block_{i}/{weights,biases} [3,1,D,D], [D]
        -> temporal_encoder/block{i}_conv2/{kernel,bias}    (squeeze_axis1 on the kernel)
    fc2_res/fc{n}/{weights,biases} [D,D], [D]
        -> hallucinator/fc{n}/{kernel,bias}
    single_view_ief/3D_module/fc{n}/{weights,biases} [2133|1024, 1024|85]
        -> ief_regressor/fc{n}/{kernel,bias}
    mean_param [1,85]
        -> ief_regressor/mean_theta
    single_view_ief_past5/3D_module/fc{n}/{weights,biases} [2120|1024, 1024|72]
        -> delta_predictor_past5/ief/fc{n}/{kernel,bias}
    single_view_ief_future5/3D_module/fc{n}/{weights,biases}
        -> delta_predictor_future5/ief/fc{n}/{kernel,bias}

Discriminator -> :class:`PoseDiscriminator` (:func:`discriminator_weight_map`):
    D_pose/D_conv{1,2}/weights [1,1,9|32,32] -> pose_discriminator/conv{1,2}/kernel [9|32,32]
        (conv1x1_to_dense);  D_pose/D_conv{1,2}/biases [32] -> .../conv{1,2}/bias
    D_pose/pose_out_j{j}/{weights,biases} [32,1], [1] -> pose_discriminator/pose_out_j{j}/*
    D_pose/D_alljoints_{fc1,fc2,out}/{weights,biases} [736|1024, 1024|1]
        -> pose_discriminator/alljoints_{fc1,fc2,out}/{kernel,bias}

``hmr_noS5.ckpt-642561`` as the IEF initialisation (:func:`hmr_init_weight_map`):
    3D_module/fc{n}/{weights,biases} -> ief_regressor/fc{n}/{kernel,bias};
    mean_param -> ief_regressor/mean_theta.

slim ``resnet_v2_50/...`` -> :func:`build_resnet_v2_50` (:func:`resnet_weight_map`,
:func:`resnet_tf1_scope`); every layout is identical ([kh, kw, in, out] kernels):
    conv1/{weights,biases}                                  -> layer conv1 {kernel,bias}
    block{b}/unit_{k}/bottleneck_v2/preact/{BN}             -> block{b}_unit_{k}_preact
    block{b}/unit_{k}/bottleneck_v2/shortcut/{weights,biases} (unit_1 only)
                                                            -> block{b}_unit_{k}_shortcut
    block{b}/unit_{k}/bottleneck_v2/conv{1,2}/weights       -> block{b}_unit_{k}_conv{1,2} kernel
    block{b}/unit_{k}/bottleneck_v2/conv{1,2}/BatchNorm/{BN} -> block{b}_unit_{k}_conv{1,2}_bn
    block{b}/unit_{k}/bottleneck_v2/conv3/{weights,biases}  -> block{b}_unit_{k}_conv3
    postnorm/{BN}                                           -> postnorm
    with {BN} = beta, gamma, moving_mean, moving_variance (same Keras names).

Not mapped on purpose (:data:`IGNORED_TF1_PATTERNS`): ``global_step``, Adam slots and powers,
and the SMPL constants saved as variables. ``D_pose/*`` is mapped only by
:func:`discriminator_weight_map`; a converter writing just the encoder lists it as unmapped.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np

from src.networks.delta_predictor import DeltaPredictor, delta_scope_name
from src.networks.discriminator import PoseDiscriminator
from src.networks.hallucinator import Hallucinator
from src.networks.hmmr import HMMR
from src.networks.ief_regressor import IEFRegressor
from src.networks.temporal_encoder import TemporalEncoder

IDENTITY = "identity"
SQUEEZE_AXIS1 = "squeeze_axis1"  # [k, 1, in, out] -> [k, in, out] (temporal conv as Conv1D)
CONV1X1_TO_DENSE = "conv1x1_to_dense"  # [1, 1, in, out] -> [in, out]

PRESENT_IEF_SCOPE = "single_view_ief"
IEF_MLP_SCOPE = "3D_module"
MEAN_PARAM = "mean_param"
HALLUCINATOR_SCOPE = "fc2_res"
DISCRIMINATOR_SCOPE = "D_pose"
RESNET_SCOPE = "resnet_v2_50"

IGNORED_TF1_PATTERNS: tuple[str, ...] = (
    r"^global_step$",
    r"(^|/)beta[12]_power(_\d+)?$",
    r"/Adam(_\d+)?$",
    r"^(v_template|shapedirs|J_regressor|posedirs|lbs_weights|cocoplus_regressor)$",
)

_KERAS_TO_TF1_WEIGHT = {
    "kernel": "weights",
    "bias": "biases",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "moving_mean",
    "moving_variance": "moving_variance",
}


@dataclasses.dataclass(frozen=True)
class WeightMapping:
    """One TF1 variable -> one Keras variable.

    Attributes:
        tf1_name: checkpoint name without ``:0``.
        variable: the Keras variable to fill (``variable.path`` names it).
        transform: ``identity``, ``squeeze_axis1`` or ``conv1x1_to_dense``.
    """

    tf1_name: str
    variable: keras.Variable
    transform: str = IDENTITY

    def convert(self, value: np.ndarray) -> np.ndarray:
        """TF1 array -> array of the Keras variable's shape; ValueError on a shape mismatch."""
        value = np.asarray(value)
        target = tuple(self.variable.shape)
        if self.transform == SQUEEZE_AXIS1 and value.ndim == 4 and value.shape[1] == 1:
            value = value[:, 0]
        elif self.transform == CONV1X1_TO_DENSE and value.ndim == 4 and value.shape[:2] == (1, 1):
            value = value[0, 0]
        if tuple(value.shape) != target:
            raise ValueError(
                f"{self.tf1_name}: shape {tuple(np.shape(value))} does not fit Keras weight "
                f"{self.variable.path} {target} (transform {self.transform})"
            )
        return value.astype(self.variable.dtype)


def _dense_rows(layer: keras.layers.Layer, scope: str, transform: str = IDENTITY):
    return [
        WeightMapping(f"{scope}/weights", layer.kernel, transform),
        WeightMapping(f"{scope}/biases", layer.bias),
    ]


def _norm_rows(layer: keras.layers.Layer, scope: str) -> list[WeightMapping]:
    return [WeightMapping(f"{scope}/{w.name}", w) for w in layer.weights]


def temporal_encoder_weight_map(encoder: TemporalEncoder) -> list[WeightMapping]:
    """Rows for ``AZ_FC_block_preact_gn{1,2}block_{i}`` and ``AZ_FC_block2_conv{1,2}block_{i}``."""
    rows: list[WeightMapping] = []
    for i, block in enumerate(encoder.blocks):
        rows += _norm_rows(block["gn1"], f"AZ_FC_block_preact_gn1block_{i}")
        rows += _dense_rows(block["conv1"], f"AZ_FC_block2_conv1block_{i}", SQUEEZE_AXIS1)
        rows += _norm_rows(block["gn2"], f"AZ_FC_block_preact_gn2block_{i}")
        rows += _dense_rows(block["conv2"], f"AZ_FC_block2_conv2block_{i}", SQUEEZE_AXIS1)
    return rows


def hallucinator_weight_map(
    hallucinator: Hallucinator, scope: str = HALLUCINATOR_SCOPE
) -> list[WeightMapping]:
    """Rows for ``fc2_res/fc{1,2,3}/{weights,biases}``."""
    layers = (hallucinator.fc1, hallucinator.fc2, hallucinator.fc3)
    return [row for n, fc in enumerate(layers, 1) for row in _dense_rows(fc, f"{scope}/fc{n}")]


def ief_weight_map(ief: IEFRegressor, scope: str = PRESENT_IEF_SCOPE) -> list[WeightMapping]:
    """Rows for ``<scope>/3D_module/fc{1,2,3}``; ``scope=""`` gives HMR's bare ``3D_module``."""
    prefix = f"{scope}/{IEF_MLP_SCOPE}" if scope else IEF_MLP_SCOPE
    layers = (ief.fc1, ief.fc2, ief.fc3)
    return [row for n, fc in enumerate(layers, 1) for row in _dense_rows(fc, f"{prefix}/fc{n}")]


def delta_scope(predictor: DeltaPredictor) -> str:
    """``single_view_ief_past5`` for dt = -5, ``single_view_ief_future5`` for dt = +5."""
    return f"{PRESENT_IEF_SCOPE}_{delta_scope_name(predictor.delta_t)}"


def hmmr_weight_map(model: HMMR) -> list[WeightMapping]:
    """Every weight of :class:`HMMR` and its TF1 name in ``hmmr_model.ckpt-*``."""
    _ensure_built(model)
    rows = temporal_encoder_weight_map(model.temporal_encoder)
    rows += hallucinator_weight_map(model.hallucinator)
    rows += ief_weight_map(model.ief_regressor, PRESENT_IEF_SCOPE)
    rows.append(WeightMapping(MEAN_PARAM, model.ief_regressor.mean_theta))
    for predictor in model.delta_predictors:
        rows += ief_weight_map(predictor.ief, delta_scope(predictor))
    return rows


def hmr_init_weight_map(model: HMMR) -> list[WeightMapping]:
    """HMR (``hmr_noS5``) initialisation: bare ``3D_module/*`` and ``mean_param`` (§3.10)."""
    _ensure_built(model)
    rows = ief_weight_map(model.ief_regressor, scope="")
    rows.append(WeightMapping(MEAN_PARAM, model.ief_regressor.mean_theta))
    return rows


def discriminator_weight_map(
    disc: PoseDiscriminator, scope: str = DISCRIMINATOR_SCOPE
) -> list[WeightMapping]:
    """Rows for ``D_pose/D_conv{1,2}``, ``pose_out_j{0..22}``, ``D_alljoints_{fc1,fc2,out}``."""
    _ensure_built(disc)
    rows = _dense_rows(disc.conv1, f"{scope}/D_conv1", CONV1X1_TO_DENSE)
    rows += _dense_rows(disc.conv2, f"{scope}/D_conv2", CONV1X1_TO_DENSE)
    for j, head in enumerate(disc.pose_out):
        rows += _dense_rows(head, f"{scope}/pose_out_j{j}")
    rows += _dense_rows(disc.alljoints_fc1, f"{scope}/D_alljoints_fc1")
    rows += _dense_rows(disc.alljoints_fc2, f"{scope}/D_alljoints_fc2")
    rows += _dense_rows(disc.alljoints_out, f"{scope}/D_alljoints_out")
    return rows


_RESNET_UNIT = re.compile(r"^(block\d+)_(unit_\d+)_(preact|shortcut|conv\d)(_bn)?$")


def resnet_tf1_scope(layer_name: str, scope: str = RESNET_SCOPE) -> str | None:
    """Keras layer name of :func:`build_resnet_v2_50` -> slim variable scope (None: no weights).

    ``block2_unit_4_conv2_bn`` -> ``resnet_v2_50/block2/unit_4/bottleneck_v2/conv2/BatchNorm``.
    """
    if layer_name in ("conv1", "postnorm"):
        return f"{scope}/{layer_name}"
    match = _RESNET_UNIT.match(layer_name)
    if match is None:
        return None
    block, unit, part, bn = match.groups()
    return f"{scope}/{block}/{unit}/bottleneck_v2/{part}" + ("/BatchNorm" if bn else "")


def resnet_weight_map(model: keras.Model, scope: str = RESNET_SCOPE) -> list[WeightMapping]:
    """Every weight of :func:`build_resnet_v2_50`'s model and its slim name (identity layouts)."""
    rows: list[WeightMapping] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        tf1_scope = resnet_tf1_scope(layer.name, scope)
        if tf1_scope is None:
            raise ValueError(f"resnet_weight_map: layer {layer.name!r} has no slim counterpart")
        for w in layer.weights:
            rows.append(WeightMapping(f"{tf1_scope}/{_KERAS_TO_TF1_WEIGHT[w.name]}", w))
    return rows


def assign_from_tf1(
    mappings: Sequence[WeightMapping], values: Mapping[str, np.ndarray], source: str = "checkpoint"
) -> list[str]:
    """Copy TF1 arrays into the Keras variables of ``mappings``.

    Args:
        mappings: rows from the ``*_weight_map`` functions.
        values: TF1 name (no ``:0``) -> array, e.g. from a checkpoint reader or a slim graph.
        source: shown in error messages (e.g. the checkpoint path).
    Returns:
        The TF1 names of ``mappings`` absent from ``values`` (their variables are left as is).
    Raises:
        ValueError naming ``source`` and the variable on a shape mismatch (nothing assigned).
    """
    converted, missing = [], []
    for row in mappings:
        if row.tf1_name not in values:
            missing.append(row.tf1_name)
            continue
        try:
            converted.append((row.variable, row.convert(values[row.tf1_name])))
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
    for variable, value in converted:
        variable.assign(value)
    return missing


def unmapped_names(
    mappings: Sequence[WeightMapping],
    names: Iterable[str],
    ignored: Sequence[str] = IGNORED_TF1_PATTERNS,
) -> list[str]:
    """Checkpoint names neither mapped by ``mappings`` nor matched by an ``ignored`` regex."""
    mapped = {row.tf1_name for row in mappings}
    patterns = [re.compile(p) for p in ignored]
    return sorted(n for n in names if n not in mapped and not any(p.search(n) for p in patterns))


def _ensure_built(model: keras.layers.Layer) -> None:
    if not model.built:
        model.build()
