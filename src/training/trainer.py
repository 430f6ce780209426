"""The HMMR trainer: one compiled step that updates the encoder and the discriminator (§5.5-5.6).

Recipe of one step, per replica (the same code under every strategy):

1. forward: the HMMR model on phi (B, T, 2048) (with the hallucinator when ``do_hallucinate``), the
   body model on every prediction, every loss term of §5.2 as a ``Ratio`` (numerators over
   counts), the discriminator on the predicted and the mocap rotations; optionally XLA-compiled;
2. the counts (denominators) are summed over replicas, so each replica's loss is its share of the
   GLOBAL batch's loss, exactly as the original divides by the number of non-zero weights of the
   whole batch; the optimisers then sum the replicas' gradients, which equals the gradient of the
   global loss on one device;
3. encoder and discriminator gradients are both taken from that forward pass, then two Adam
   optimisers apply them (β1 0.9, β2 0.999, ε 1e-8; ``e_lr`` on every non-discriminator weight,
   ``d_lr`` on the discriminator), as the original's two ``minimize`` ops in one ``sess.run``;
4. the step counter advances by ONE (the original advanced its global step twice per iteration,
   once per optimiser: its checkpoint 1,119,816 is about 560k iterations).

The step runs fused where that is faster on the same weights (``fused``, the default; issue
#13): Adam as one XLA kernel per variable (:class:`~src.training.fused_adam.FusedAdam`, the same
optimiser variables as ``keras.optimizers.Adam``), the temporal convolutions as one matmul each,
the discriminator's 23 per-joint heads as one batched product. ``fused=False`` runs the Keras
reference ops (tests, ``bench/train_step.py --unfused``); both agree to float32 rounding and
read each other's checkpoints.

The single-frame HMR ablation (``use_hmr_only``) runs the same step on a model without temporal
encoder (``num_conv_layers=0``, the identity): the present IEF then regresses each frame's phi
alone, exactly the original's per-frame ``single_view_ief`` on phi reshaped to (B T, 2048), and the
losses take the ``_static`` keys (:class:`~src.losses.hmmr_losses.LossConfig`). The exported
weights are then an ordinary HMMR folder whose forward pass is per-frame HMR.

Initialisation (only when the run has no checkpoint, §3.10): mean theta from
``neutral_smpl_meanwjoints.h5`` next to the body model (§3.7), then each weights folder of
``--pretrained_model_path``: a converted HMR checkpoint (``ief_regressor`` without HMMR parts)
initialises the present IEF and ``mean_theta`` (``use_hmr_ief_init``), and so does the export of
a ``--use_hmr_only`` run (the paper's recipe: HMMR fine-tunes from a trained HMR); a converted
HMMR one initialises every encoder part it holds. Dispatch is on the folder's content, not its
name.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from src.checkpoints import weights_dir
from src.losses.hmmr_losses import (
    HAL,
    PRED,
    STATIC,
    LossConfig,
    adversarial_loss_terms,
    discriminator_inputs,
    encoder_loss_terms,
    num_real_mocap,
    predict_bodies,
    weighted_total,
)
from src.losses.terms import Ratio, ratio_value
from src.losses.weights import LossWeights
from src.networks.config import ModelConfig
from src.networks.discriminator import PoseDiscriminator
from src.networks.hmmr import HMMR
from src.networks.ief_regressor import initial_mean_theta
from src.networks.outputs import theta_to_body
from src.training.config import TrainSettings
from src.training.fused_adam import FusedAdam

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8  # TF1 AdamOptimizer's; Keras' default is 1e-7
BATCH_KEYS = ("phi", "kp2d", "pose", "shape", "joints3d", "has_3d_joints", "has_smpl")
MOCAP_KEY = "mocap_pose"
_REDUCE = tf.distribute.ReduceOp.SUM


def _adam(
    learning_rate: float, name: str, mixed_precision: bool, fused: bool = True
) -> keras.optimizers.Optimizer:
    adam = FusedAdam if fused else keras.optimizers.Adam
    optimizer = adam(
        learning_rate, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON, name=name
    )
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
    return optimizer


class Trainer:
    """Models, optimisers, step counter and the compiled training step, under one strategy.

    Args:
        strategy: a ``tf.distribute.Strategy`` (see :mod:`src.training.strategy`).
        model_config: sizes of the networks.
        loss_weights: the ``e_lw_*`` / ``d_lw_pose`` weights (``d_lw_pose`` 0 = no discriminator).
        loss_config: which terms exist (hallucination, deltas, 3D labels).
        settings: batch, learning rates, XLA, mixed precision.
        smpl_model_path: body-model file (SMPL or the stand-in).
        mean_params_path: ``neutral_smpl_meanwjoints.h5`` for the initial mean theta, or None
            (the model's default: camera [0.9, 0, 0], root [pi, 0, 0], zero pose and shape).
        fused: the fused step (default) or the Keras reference ops (see the module docstring);
            the same variables and results either way.

    Attributes:
        model (:class:`HMMR`), discriminator (:class:`PoseDiscriminator`), smpl, e_optimizer,
        d_optimizer, step (int64 ``tf.Variable``, one per iteration).

    Example:
        >>> trainer = Trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), ModelConfig(...), ...)
        >>> iterator = trainer.make_iterator(dataset_fn)
        >>> values, extras = trainer.train_step(next(iterator))
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model_config: ModelConfig,
        loss_weights: LossWeights,
        loss_config: LossConfig,
        settings: TrainSettings,
        smpl_model_path: str | os.PathLike,
        mean_params_path: str | os.PathLike | None = None,
        *,
        fused: bool = True,
    ) -> None:
        self.strategy = strategy
        self.fused = fused
        self.model_config = model_config
        self.loss_weights = loss_weights
        self.loss_config = loss_config
        self.settings = settings
        self.use_discriminator = loss_weights.use_discriminator
        self._check_batch(strategy.num_replicas_in_sync)
        if tuple(loss_config.delta_t_values) != tuple(model_config.delta_t_values):
            raise ValueError(
                f"Trainer: loss delta_t_values {loss_config.delta_t_values} differ from the "
                f"model's {model_config.delta_t_values}"
            )
        if loss_config.use_hmr_only and model_config.num_conv_layers != 0:
            raise ValueError(
                "Trainer: use_hmr_only (per-frame HMR) needs a model without temporal encoder "
                f"(num_conv_layers=0), got num_conv_layers={model_config.num_conv_layers}"
            )
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if settings.mixed_precision else "float32"
        )
        with strategy.scope():
            self.model = HMMR(model_config)
            self.model.build()
            self.model.temporal_encoder.conv_as_matmul = fused
            self.discriminator = PoseDiscriminator(
                joint_hidden=model_config.disc_joint_hidden, all_hidden=model_config.disc_all_hidden
            )
            self.discriminator.build()
            self.discriminator.batched_heads = fused
            self.smpl = _body_model(smpl_model_path)
            self.e_optimizer = _adam(settings.e_lr, "e_adam", settings.mixed_precision, fused)
            self.e_optimizer.build(self.model.trainable_variables)
            self.d_optimizer = _adam(settings.d_lr, "d_adam", settings.mixed_precision, fused)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name="global_step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        if mean_params_path is not None:
            self.model.ief_regressor.set_mean_theta(initial_mean_theta(mean_params_path))
        self._forward_fn = (
            tf.function(self._forward, jit_compile=True) if settings.xla else self._forward
        )
        self.iterator_is_checkpointable = False
        self._term_keys: list[str] | None = None

    # ------------------------------------------------------------------------------------------
    # sizes

    def _check_batch(self, replicas: int) -> None:
        if self.settings.batch_size % replicas:
            raise ValueError(
                f"--batch_size={self.settings.batch_size} must be a multiple of the "
                f"{replicas} replicas"
            )

    @property
    def mocap_batch_size(self) -> int:
        """GLOBAL number of real mocap poses per step (= fake poses, §5.5); 0 without D."""
        if not self.use_discriminator:
            return 0
        cfg = self.loss_config
        return num_real_mocap(
            self.settings.batch_size,
            self.settings.seq_length,
            len(cfg.delta_t_values),
            cfg.do_hallucinate,
            cfg.do_hallucinate_preds,
            cfg.predict_delta,
            cfg.use_hmr_only,
        )

    @property
    def encoder_variables(self) -> list[tf.Variable]:
        """Every trainable non-discriminator weight (the E optimiser's list)."""
        return self.model.trainable_variables

    @property
    def discriminator_variables(self) -> list[tf.Variable]:
        return self.discriminator.trainable_variables

    # ------------------------------------------------------------------------------------------
    # data

    @property
    def input_checkpointable(self) -> bool:
        """Whether :meth:`make_iterator` gives an iterator a checkpoint can hold: one replica on
        one worker (a distributed iterator's position cannot be saved)."""
        return self.strategy.num_replicas_in_sync == 1 and _num_workers(self.strategy) == 1

    def make_iterator(
        self, dataset_fn: Callable[[tf.distribute.InputContext | None], tf.data.Dataset]
    ) -> Any:
        """Iterator of batches for :meth:`train_step`.

        With one replica on one worker the dataset is iterated directly, so its iterator can be
        checkpointed (``iterator_is_checkpointable``); otherwise it goes through
        ``distribute_datasets_from_function`` (``dataset_fn`` gets the input context and must
        return per-replica batches).
        """
        options = tf.data.Options()
        options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
        if self.input_checkpointable:
            self.iterator_is_checkpointable = True
            return iter(dataset_fn(None).with_options(options))
        self.iterator_is_checkpointable = False
        return iter(
            self.strategy.distribute_datasets_from_function(
                lambda ctx: dataset_fn(ctx).with_options(options)
            )
        )

    def distribute_batch(self, batch: Mapping[str, np.ndarray | tf.Tensor]) -> Any:
        """Split one GLOBAL batch (leading axis = batch / mocap samples) over the replicas, in
        order (tests and benchmarks feed fixed batches this way)."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            return {k: tf.convert_to_tensor(v) for k, v in batch.items()}

        def value_fn(ctx: tf.distribute.ValueContext) -> dict[str, tf.Tensor]:
            out = {}
            for key, value in batch.items():
                value = np.asarray(value)
                size = value.shape[0] // replicas
                start = ctx.replica_id_in_sync_group * size
                out[key] = tf.convert_to_tensor(value[start : start + size])
            return out

        return self.strategy.experimental_distribute_values_from_function(value_fn)

    # ------------------------------------------------------------------------------------------
    # the step

    def _body_fn(self, theta: tf.Tensor) -> dict[str, tf.Tensor]:
        # the losses and summaries read joints, kp2d and rotmats only: skip the mesh
        return theta_to_body(self.smpl, theta, with_vertices=False)

    def _forward(self, batch: Mapping[str, tf.Tensor]) -> tuple[dict[str, Ratio], dict]:
        """One replica's forward pass.

        Args:
            batch: :data:`BATCH_KEYS` (B, T, ...) and, with the discriminator, ``mocap_pose``
                (M, 72).
        Returns:
            ``(terms, extras)``: key -> Ratio with LOCAL numerators and denominators;
            ``kp2d_pred`` (B, T, 25, 2) (and ``kp2d_hal``) for image summaries; ``kp2d_pred`` is
            the first supervised present prediction (temporal, else static, else hallucinated,
            as the original showed with ``use_hmr_only``).
        """
        cfg = self.loss_config
        outputs = self.model(batch["phi"], training=True, hallucinate=cfg.do_hallucinate)
        outputs = {k: tf.cast(v, tf.float32) for k, v in outputs.items()}
        bodies = predict_bodies(outputs, self._body_fn, cfg)
        terms = encoder_loss_terms(batch, outputs, None, self.loss_weights, cfg, bodies=bodies)
        if self.use_discriminator:
            fake, real = discriminator_inputs(bodies, batch[MOCAP_KEY])
            d_fake = tf.cast(self.discriminator(fake), tf.float32)
            d_real = tf.cast(self.discriminator(real), tf.float32)
            terms.update(adversarial_loss_terms(d_real, d_fake))
        main = next(key for key in ((PRED, 0), (STATIC, 0), (HAL, 0)) if key in bodies)
        extras = {"kp2d_pred": bodies[main]["kp2d"]}
        if main != (HAL, 0) and (HAL, 0) in bodies:
            extras["kp2d_hal"] = bodies[(HAL, 0)]["kp2d"]
        return terms, extras

    def _losses_and_gradients(self, batch: Mapping[str, tf.Tensor]) -> tuple:
        """Replica context: global-exact loss values and this replica's gradients.

        Returns:
            ``(values, e_grads, d_grads, extras)``; ``values`` key -> this replica's share of
            the global value (summing over replicas gives the global batch's value).
        """
        batch = {k: v for k, v in batch.items() if k in BATCH_KEYS or k == MOCAP_KEY}
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape(persistent=True) as tape:
            terms, extras = self._forward_fn(batch)
            local = {key: ratio.denominator for key, ratio in terms.items()}
            dens = tf.nest.map_structure(tf.stop_gradient, ctx.all_reduce(_REDUCE, local))
            e_loss, d_loss = weighted_total(terms, self.loss_weights, dens)
            e_scaled = self.e_optimizer.scale_loss(e_loss)
            d_scaled = self.d_optimizer.scale_loss(d_loss)
        e_grads = tape.gradient(e_scaled, self.encoder_variables)
        d_grads = (
            tape.gradient(d_scaled, self.discriminator_variables) if self.use_discriminator else []
        )
        del tape
        values = {key: ratio_value(ratio, dens[key]) for key, ratio in terms.items()}
        values["e_loss"] = e_loss
        values["d_loss"] = d_loss
        return values, e_grads, d_grads, extras

    def _replica_step(self, batch: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, dict]:
        values, e_grads, d_grads, extras = self._losses_and_gradients(batch)
        _apply(self.e_optimizer, e_grads, self.encoder_variables)
        if self.use_discriminator:
            _apply(self.d_optimizer, d_grads, self.discriminator_variables)
        if self._term_keys is None:
            self._term_keys = list(values)
        packed = tf.stack([tf.cast(values[k], tf.float32) for k in self._term_keys])
        return packed, extras

    @tf.function
    def _train_step(self, batch: Any) -> tuple[tf.Tensor, Any]:
        packed, extras = self.strategy.run(self._replica_step, args=(batch,))
        packed = self.strategy.reduce(_REDUCE, packed, axis=None)
        self.step.assign_add(1)
        return packed, extras

    def train_step(self, batch: Any) -> tuple[dict[str, float], Any]:
        """One iteration on a (distributed) batch.

        Returns:
            ``(values, extras)``: global loss values by key (every term, ``e_loss``,
            ``d_loss``) as floats; ``extras`` per replica (see :meth:`_forward`).
        """
        packed, extras = self._train_step(batch)
        values = dict(zip(self._term_keys, packed.numpy().tolist(), strict=True))
        return values, extras

    @tf.function
    def _global_gradients(self, batch: Any) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        def replica(replica_batch):
            _, e_grads, d_grads, _ = self._losses_and_gradients(replica_batch)
            return _zeros_for_none(e_grads, self.encoder_variables), _zeros_for_none(
                d_grads, self.discriminator_variables
            )

        e_grads, d_grads = self.strategy.run(replica, args=(batch,))
        return (
            [self.strategy.reduce(_REDUCE, g, axis=None) for g in e_grads],
            [self.strategy.reduce(_REDUCE, g, axis=None) for g in d_grads],
        )

    def global_gradients(self, batch: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of the global losses summed over replicas, without applying them (what the
        optimisers receive; without mixed precision). Checks and diagnostics."""
        e_grads, d_grads = self._global_gradients(batch)
        return [g.numpy() for g in e_grads], [g.numpy() for g in d_grads]

    # ------------------------------------------------------------------------------------------
    # initialisation

    def initialize_from(self, paths: Sequence[str], use_hmr_ief_init: bool = True) -> list[str]:
        """§3.10 restore logic from weights folders; returns what was loaded, for the log."""
        notes = []
        for path in paths:
            notes.append(_initialize_from_one(self.model, path, use_hmr_ief_init))
        return notes

    def learning_rates(self) -> dict[str, float]:
        return {"e_lr": float(self.settings.e_lr), "d_lr": float(self.settings.d_lr)}


def _apply(
    optimizer: keras.optimizers.Optimizer, grads: list, variables: list[tf.Variable]
) -> None:
    """Apply the gradients that exist (a branch switched off has none, as TF1 skipped them)."""
    pairs = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
    if pairs:
        optimizer.apply_gradients(pairs)


def _zeros_for_none(grads: list, variables: list[tf.Variable]) -> list[tf.Tensor]:
    return [
        tf.zeros(v.shape, v.dtype) if g is None else g
        for g, v in zip(grads, variables, strict=True)
    ]


def _num_workers(strategy: tf.distribute.Strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1))


def _body_model(path: str | os.PathLike) -> keras.layers.Layer:
    from src.smpl import SMPL

    return SMPL(path, dtype="float32")


def _initialize_from_one(model: HMMR, path: str, use_hmr_ief_init: bool) -> str:
    """Load one weights folder into ``model`` by §3.10's cases (decided by its content)."""
    folder = weights_dir.resolve(path)
    parts = set(weights_dir.available_parts(folder))
    encoder_parts = set(weights_dir.hmmr_parts(model))
    temporal_parts = encoder_parts - {"ief_regressor"}
    # a single-frame run of ours (--use_hmr_only: no temporal encoder) trained only its present
    # IEF; its other parts are untrained, so it initialises HMMR as a converted HMR does
    single_frame = weights_dir.read_model_config(folder).num_conv_layers == 0
    single_frame_export = single_frame and bool(parts & temporal_parts)
    if parts & temporal_parts and not single_frame:
        loaded = weights_dir.load_into(folder, model=model, require_all=False)
        return f"{folder}: HMMR weights, initialised {sorted(loaded)}"
    if "ief_regressor" in parts:
        if not use_hmr_ief_init:
            return f"{folder}: HMR weights, IEF init skipped (--nouse_hmr_ief_init)"
        weights_dir.load_into(folder, model=model, only=["ief_regressor"])
        kind = "single-frame (--use_hmr_only) weights" if single_frame_export else "HMR weights"
        return f"{folder}: {kind}, initialised the present IEF regressor and mean theta"
    return f"{folder}: holds {sorted(parts)}; nothing to initialise with precomputed phi"


def resolve_pretrained_paths(paths: Sequence[str]) -> list[str]:
    """The weights folders among ``--pretrained_model_path`` (empty entries dropped).

    Every named folder must exist: a missing one (the default included) is an error naming it
    and saying how to train from scratch (``--pretrained_model_path=``); a TF1 checkpoint
    prefix is an error saying to convert it first.

    Raises:
        ValueError: one line naming the folder.
    """
    found = []
    for path in paths:
        if not path:
            continue
        try:
            found.append(str(weights_dir.resolve(path)))
        except weights_dir.WeightsDirError as err:
            if Path(str(path) + ".index").is_file():
                raise ValueError(
                    f"{path}: a TF1 checkpoint; convert it first with `python -m src.convert` and "
                    "pass the weights folder"
                ) from err
            raise ValueError(
                f"--pretrained_model_path: {err}; convert the released HMR checkpoint with "
                "`python -m src.convert` (docs/converting_checkpoints.md) or pass "
                "--pretrained_model_path= to train from scratch"
            ) from err
    return found


class StepTimer:
    """Steps per second between calls."""

    def __init__(self, step: int) -> None:
        self._step = step
        self._time = time.monotonic()

    def rate(self, step: int) -> float:
        now = time.monotonic()
        elapsed = max(now - self._time, 1e-9)
        rate = (step - self._step) / elapsed
        self._step, self._time = step, now
        return rate


# ----------------------------------------------------------------------------------------------
# The loop


@dataclasses.dataclass
class LoopResult:
    """How :func:`train_loop` ended: the last step, whether it was interrupted, the last
    values."""

    step: int
    interrupted: bool
    values: dict[str, float]


def _first_local(strategy: tf.distribute.Strategy, value: Any) -> Any:
    """The first local replica's part of a (possibly per-replica) structure."""
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], value)


class StopRequest:
    """Ctrl-C / SIGTERM during training, seen between steps.

    The first signal only sets :attr:`requested`: the loop finishes the step it is in, saves and
    returns. Raising ``KeyboardInterrupt`` from the handler instead interrupted TensorFlow's own
    Python code wherever it stood; inside an image summary's ops that crashed the process with
    a segmentation fault (CI, under load). A second signal raises ``KeyboardInterrupt`` at once,
    for a step that never ends.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt(f"signal {signum} (second)")
        self.requested = True

    def __enter__(self) -> StopRequest:
        import signal

        for name in self.SIGNALS:
            signum = getattr(signal, name)
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: the caller handles its signals
                break
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


def train_loop(
    trainer: Trainer,
    iterator: Any,
    checkpoint: Any,
    summaries: Any,
    *,
    max_iteration: int,
    summary_every_steps: int = 1,
    log_every_steps: int = 100,
    log_img_step: int = 5000,
    log_img_count: int = 10,
    save_on_interrupt: bool = True,
) -> LoopResult:
    """Train until the step reaches ``max_iteration``; Ctrl-C / SIGTERM save and return.

    Args:
        trainer: the :class:`Trainer` (its ``step`` says where to start).
        iterator: from :meth:`Trainer.make_iterator`.
        checkpoint: a :class:`~src.training.checkpointing.TrainCheckpoint`.
        summaries: a :class:`~src.training.summaries.Summaries`.
        max_iteration: last step.
        summary_every_steps, log_every_steps, log_img_step, log_img_count: cadences.
        save_on_interrupt: write a checkpoint when interrupted (off for multi-worker runs, whose
            peers would wait for it).
    """
    from src.training.summaries import format_console

    step = int(trainer.step.numpy())
    timer = StepTimer(step)
    values: dict[str, float] = {}
    interrupted = False
    stop = StopRequest()
    try:
        with stop:
            while step < max_iteration and not stop.requested:
                batch = next(iterator)
                values, extras = trainer.train_step(batch)
                step += 1
                if step % log_every_steps == 0 or step == max_iteration:
                    rate = timer.rate(step)
                    logging.info(format_console(step, values, rate))
                else:
                    rate = None
                if step % summary_every_steps == 0:
                    summaries.scalars(values, step, trainer.learning_rates(), rate)
                if step % log_img_step == 0:
                    summaries.keypoints(
                        _first_local(trainer.strategy, batch),
                        _first_local(trainer.strategy, extras),
                        step,
                        log_img_count,
                    )
                path = checkpoint.maybe_save(step)
                if path:
                    logging.info("saved checkpoint %s", path)
    except KeyboardInterrupt:  # a second signal, inside a step
        interrupted = True
    interrupted = interrupted or stop.requested
    if interrupted:
        step = int(trainer.step.numpy())
        logging.warning("interrupted at step %d", step)
    if not interrupted or save_on_interrupt:
        path = checkpoint.save(step)
        if path:
            logging.info("saved checkpoint %s", path)
    summaries.flush()
    return LoopResult(step, interrupted, values)
