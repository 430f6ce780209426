"""Assembly of every §5.2 term vs a float64 NumPy reference that pairs frames on its own.

The body model is a tiny fake (linear joints, Rodrigues rotations) so the tests stay fast; the
reference re-implements it in NumPy, and pairs GT frame t + dt with the prediction made at t by
enumeration rather than by slicing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

from src import constants
from src.losses import hmmr_losses, terms
from src.losses.hmmr_losses import LossConfig
from src.losses.weights import LossWeights
from src.smpl.lbs import batch_rodrigues

from .test_terms import ref_keypoint_l1, ref_masked_mse, ref_optcam, ref_pelvis_mse

RNG = np.random.default_rng(1)
K, J14, NJ = constants.NUM_KPS, constants.NUM_LSP_JOINTS, constants.NUM_SMPL_JOINTS
JOINT_MAP = RNG.normal(scale=0.3, size=(constants.NUM_POSE + constants.NUM_SHAPE, K * 3))
FULL = dict(do_hallucinate=True, do_hallucinate_preds=True)


# ---------------------------------------------------------------------------------------------
# Fake body model, in tf (for the code) and NumPy (for the reference)


def np_rodrigues(aa: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3), the original's semantics: angle = ||theta + 1e-8||."""
    out = np.zeros((*aa.shape[:-1], 3, 3))
    for idx in np.ndindex(aa.shape[:-1]):
        theta = aa[idx]
        angle = np.linalg.norm(theta + 1e-8)
        r = theta / angle
        skew = np.array([[0, -r[2], r[1]], [r[2], 0, -r[0]], [-r[1], r[0], 0]])
        out[idx] = np.cos(angle) * np.eye(3) + (1 - np.cos(angle)) * np.outer(r, r)
        out[idx] += np.sin(angle) * skew
    return out


def np_body(theta: np.ndarray) -> dict[str, np.ndarray]:
    """theta (..., 85) -> joints (..., 25, 3) (linear in pose and shape, not in the camera),
    rotmats (..., 24, 3, 3), kp2d (..., 25, 2)."""
    joints = (theta[..., 3:] @ JOINT_MAP).reshape(*theta.shape[:-1], K, 3)
    cam = theta[..., :3]
    kp2d = cam[..., None, :1] * (joints[..., :2] + cam[..., None, 1:])
    rot = np_rodrigues(theta[..., 3:75].reshape(*theta.shape[:-1], NJ, 3))
    return {"joints": joints, "rotmats": rot, "kp2d": kp2d, "shape": theta[..., 75:]}


class FakeBody:
    """tf twin of :func:`np_body`, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, theta: tf.Tensor) -> dict[str, tf.Tensor]:
        self.calls += 1
        n = tf.shape(theta)[0]
        joints = tf.reshape(theta[:, 3:] @ tf.constant(JOINT_MAP, theta.dtype), [n, K, 3])
        cam = theta[:, :3]
        kp2d = cam[:, None, :1] * (joints[..., :2] + cam[:, None, 1:])
        rot = batch_rodrigues(tf.reshape(theta[:, 3:75], [n, NJ, 3]))
        return {"joints": joints, "rotmats": rot, "kp2d": kp2d, "shape": theta[:, 75:]}


# ---------------------------------------------------------------------------------------------
# Data


def make_theta(shape: tuple[int, ...]) -> np.ndarray:
    theta = RNG.normal(scale=0.4, size=(*shape, constants.THETA_DIM))
    theta[..., 0] = RNG.uniform(0.8, 1.5, size=shape)  # scale inside the optcam clip
    return theta


def make_batch(B: int, T: int, has_3d=(1.0, 0.0), has_smpl=(0.0, 1.0)) -> dict[str, np.ndarray]:
    kp = RNG.uniform(-1, 1, (B, T, K, 3))
    vis = (RNG.uniform(size=(B, T, K)) < 0.7).astype(np.float64)
    kp[..., 2] = vis
    kp[..., :2] *= vis[..., None]
    return {
        "phi": RNG.normal(size=(B, T, 8)),
        "kp2d": kp,
        "pose": RNG.normal(scale=0.5, size=(B, T, constants.NUM_POSE)),
        "shape": RNG.normal(size=(B, constants.NUM_SHAPE)),
        "joints3d": RNG.normal(size=(B, T, J14, 3)),
        "has_3d_joints": np.array(has_3d[:B]),
        "has_smpl": np.array(has_smpl[:B]),
    }


def make_outputs(B: int, T: int, dts=(-5, 5), width: int = 8) -> dict[str, np.ndarray]:
    return {
        "movie_strip": RNG.normal(size=(B, T, width)),
        "movie_strip_hal": RNG.normal(size=(B, T, width)),
        "theta": make_theta((B, T)),
        "theta_delta": make_theta((B, T, len(dts))),
        "theta_hal": make_theta((B, T)),
        "theta_hal_delta": make_theta((B, T, len(dts))),
    }


def to_tf(d: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {k: tf.constant(v) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# Reference


def ref_groups(outputs, cfg: dict) -> list[tuple[str, int, np.ndarray]]:
    dts = sorted(cfg.get("delta_t_values", (-5, 5)))
    groups = [("pred", 0, outputs["theta"])]
    if cfg.get("predict_delta", True):
        groups += [("pred", dt, outputs["theta_delta"][:, :, i]) for i, dt in enumerate(dts)]
    if cfg.get("do_hallucinate", False):
        groups.append(("hal", 0, outputs["theta_hal"]))
        if cfg.get("do_hallucinate_preds", False):
            groups += [("hal", dt, outputs["theta_hal_delta"][:, :, i]) for i, dt in enumerate(dts)]
    return groups


def ref_key(path: str, dt: int) -> str:
    when = "" if dt == 0 else ("future" if dt > 0 else "past")
    if path == "pred":
        return "" if dt == 0 else "_dt_" + when
    return "_hal" + ("" if dt == 0 else "_" + when)


def ref_encoder_terms(batch, outputs, cfg: dict) -> dict[str, float]:
    use_3d = cfg.get("use_3d_label", True)
    B, T = batch["kp2d"].shape[:2]
    gt_rot = np_rodrigues(batch["pose"].reshape(B, T, NJ, 3))
    out: dict[str, float] = {}
    all_betas = []
    for path, dt, theta in ref_groups(outputs, cfg):
        body = np_body(theta)
        all_betas.append(theta[..., 75:].reshape(-1, 10))
        # pairs (b, GT frame, prediction frame): a prediction made at t describes frame t + dt
        pairs = [(b, t + dt, t) for b in range(B) for t in range(T) if 0 <= t + dt < T]
        bi, tg, tp = (np.array(x) for x in zip(*pairs, strict=True))
        kp_gt = batch["kp2d"][bi, tg]
        if dt == 0:
            kp = ref_keypoint_l1(kp_gt, body["kp2d"][bi, tp])
        else:
            joints = body["joints"][bi, tp]
            cam = ref_optcam(joints[..., :2], kp_gt)
            kp = ref_keypoint_l1(kp_gt, cam[:, None, :1] * (joints[..., :2] + cam[:, None, 1:]))
        jn = sm = 0.0
        if use_3d:
            jn = ref_pelvis_mse(
                batch["joints3d"][bi, tg],
                body["joints"][bi, tp][:, :J14],
                batch["has_3d_joints"][bi],
            )
            has_smpl = batch["has_smpl"][bi] * (0.0 if cfg.get("mosh_ignore") else 1.0)
            sm = ref_masked_mse(gt_rot[bi, tg], body["rotmats"][bi, tp], has_smpl)
            sm += ref_masked_mse(batch["shape"][bi], theta[bi, tp, 75:], has_smpl)
        suffix = ref_key(path, dt)
        for family, value in (("e_kp", kp), ("e_joints", jn), ("e_smpl", sm)):
            out[family + suffix] = out.get(family + suffix, 0.0) + value
    betas = outputs["theta"][..., 75:]
    out["e_const"] = 0.5 * np.mean((betas[:, 1:] - betas[:, :-1]) ** 2)
    out["e_shape"] = np.mean(np.concatenate(all_betas) ** 2)
    if cfg.get("do_hallucinate", False):
        out["e_hallucinate"] = np.mean((outputs["movie_strip"] - outputs["movie_strip_hal"]) ** 2)
    return out


def values(loss_terms: dict[str, terms.Ratio]) -> dict[str, float]:
    return {k: float(terms.ratio_value(r)) for k, r in loss_terms.items()}


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(
    "cfg",
    [
        FULL,
        {},
        dict(FULL, predict_delta=False),
        dict(FULL, use_3d_label=False),
        dict(FULL, mosh_ignore=True),
        dict(do_hallucinate=True),
        dict(FULL, delta_t_values=(3, -2, -4)),
    ],
    ids=["all", "defaults", "no-delta", "no-3d-label", "mosh-ignore", "hal-only", "three-dts"],
)
def test_encoder_terms_match_reference(cfg):
    B, T = 2, 9
    dts = sorted(cfg.get("delta_t_values", (-5, 5)))
    batch, outputs = make_batch(B, T), make_outputs(B, T, dts)
    got = values(
        hmmr_losses.encoder_loss_terms(
            to_tf(batch), to_tf(outputs), FakeBody(), None, LossConfig(**cfg)
        )
    )
    expect = ref_encoder_terms(batch, outputs, cfg)
    assert sorted(got) == sorted(expect)
    for key in expect:
        assert got[key] == pytest.approx(expect[key], rel=1e-9, abs=1e-12), key


def test_key_set_with_all_switches_is_the_original_table():
    B, T = 1, 12
    loss_terms = hmmr_losses.encoder_loss_terms(
        to_tf(make_batch(B, T)), to_tf(make_outputs(B, T)), FakeBody(), None, LossConfig(**FULL)
    )
    per_variant = [
        f + s
        for f in ("e_kp", "e_joints", "e_smpl")
        for s in ("", "_dt_past", "_dt_future", "_hal", "_hal_past", "_hal_future")
    ]
    expect = set(per_variant) | {"e_const", "e_shape", "e_hallucinate"}
    assert set(loss_terms) == expect


def test_only_correctly_aligned_past_and_future_predictions_give_zero_loss():
    """Every predictor outputs exactly the body of the frame it should describe; GT is made from
    those bodies. Correct §5.4 pairing gives 0; swapping past and future does not."""
    B, T, dts = 2, 12, (-5, 5)
    truth = make_theta((B, T))
    truth[..., 75:] = truth[:, :1, 75:]  # one shape per track
    body = np_body(truth)
    batch = {
        "kp2d": np.concatenate([body["kp2d"], np.ones((B, T, K, 1))], axis=-1),
        "pose": truth[..., 3:75],
        "shape": truth[:, 0, 75:],
        "joints3d": body["joints"][..., :J14, :],
        "has_3d_joints": np.ones(B),
        "has_smpl": np.ones(B),
    }
    theta_delta = np.zeros((B, T, len(dts), constants.THETA_DIM))
    for i, dt in enumerate(dts):
        src = np.clip(np.arange(T) + dt, 0, T - 1)  # frames whose target lies outside: unused
        theta_delta[:, :, i] = truth[:, src]
        theta_delta[:, :, i, :3] = [1.0, 0.0, 0.0]  # delta camera placeholder
    outputs = {"theta": truth, "theta_delta": theta_delta}
    cfg = LossConfig(delta_t_values=dts)

    got = values(
        hmmr_losses.encoder_loss_terms(to_tf(batch), to_tf(outputs), FakeBody(), None, cfg)
    )
    for key in ("e_kp", "e_joints", "e_smpl"):
        for suffix in ("", "_dt_past", "_dt_future"):
            assert got[key + suffix] < 1e-6, key + suffix

    swapped = dict(outputs, theta_delta=theta_delta[:, :, ::-1])
    bad = values(
        hmmr_losses.encoder_loss_terms(to_tf(batch), to_tf(swapped), FakeBody(), None, cfg)
    )
    for key in ("e_kp", "e_joints", "e_smpl"):
        for suffix in ("_dt_past", "_dt_future"):
            assert bad[key + suffix] > 1e-3, key + suffix


def test_nothing_visible_and_no_3d_gives_zero_terms_and_finite_gradients():
    B, T = 2, 8
    batch = make_batch(B, T, has_3d=(0.0, 0.0), has_smpl=(0.0, 0.0))
    batch["kp2d"] = np.zeros_like(batch["kp2d"])
    outputs = {k: tf.Variable(v) for k, v in make_outputs(B, T).items()}
    with tf.GradientTape() as tape:
        loss_terms = hmmr_losses.encoder_loss_terms(
            to_tf(batch), outputs, FakeBody(), None, LossConfig(**FULL)
        )
        e_loss, _ = hmmr_losses.weighted_total(loss_terms, LossWeights())
    got = values(loss_terms)
    for key, value in got.items():
        if key.startswith(("e_kp", "e_joints", "e_smpl")):
            assert value == 0.0, key
    assert np.isfinite(float(e_loss))
    grads = tape.gradient(e_loss, list(outputs.values()))
    assert all(g is None or np.all(np.isfinite(g.numpy())) for g in grads)


def test_body_model_runs_once_for_all_predictions():
    body_fn = FakeBody()
    B, T = 1, 7
    hmmr_losses.encoder_loss_terms(
        to_tf(make_batch(B, T)), to_tf(make_outputs(B, T)), body_fn, None, LossConfig(**FULL)
    )
    assert body_fn.calls == 1


def test_no_3d_label_needs_no_3d_batch_keys_and_reads_zero():
    B, T = 1, 7
    batch = {"kp2d": make_batch(B, T)["kp2d"]}
    got = values(
        hmmr_losses.encoder_loss_terms(
            to_tf(batch),
            to_tf(make_outputs(B, T)),
            FakeBody(),
            None,
            LossConfig(use_3d_label=False),
        )
    )
    assert got["e_joints"] == got["e_smpl_dt_future"] == 0.0
    assert got["e_kp"] > 0


def test_missing_batch_key_is_named():
    batch = make_batch(1, 7)
    del batch["joints3d"]
    with pytest.raises(ValueError, match="joints3d"):
        hmmr_losses.encoder_loss_terms(
            to_tf(batch), to_tf(make_outputs(1, 7)), FakeBody(), None, LossConfig()
        )


def test_zero_weight_terms_are_skipped_and_read_zero():
    B, T = 1, 7
    w = LossWeights(e_lw_kp=0.0, e_lw_const=0.0)
    got = values(
        hmmr_losses.encoder_loss_terms(
            to_tf(make_batch(B, T)), to_tf(make_outputs(B, T)), FakeBody(), w, LossConfig()
        )
    )
    assert got["e_kp"] == got["e_kp_dt_past"] == got["e_const"] == 0.0
    assert got["e_shape"] > 0


def test_num_real_mocap_with_release_defaults_is_960():
    assert hmmr_losses.num_real_mocap(8, 20, 2, True, True) == 960
    assert hmmr_losses.num_real_mocap(8, 20, 2, False, False) == 480
    assert hmmr_losses.num_real_mocap(8, 20, 2, True, False) == 640
    assert hmmr_losses.num_real_mocap(8, 20, 2, True, True, predict_delta=False) == 640


@pytest.mark.parametrize(
    "cfg", [FULL, {}, dict(do_hallucinate=True), dict(FULL, predict_delta=False)]
)
def test_discriminator_inputs_match_num_real_mocap_and_drop_the_root(cfg):
    B, T = 2, 6
    config = LossConfig(**cfg)
    bodies = hmmr_losses.predict_bodies(to_tf(make_outputs(B, T)), FakeBody(), config)
    m = hmmr_losses.num_real_mocap(
        B, T, len(config.delta_t_values), config.do_hallucinate,
        config.do_hallucinate_preds, config.predict_delta,
    )  # fmt: skip
    real_pose = RNG.normal(scale=0.5, size=(m, constants.NUM_POSE))
    fake, real = hmmr_losses.discriminator_inputs(bodies, tf.constant(real_pose))
    assert fake.shape == (m, NJ - 1, 3, 3) and real.shape == (m, NJ - 1, 3, 3)
    expect_real = np_rodrigues(real_pose.reshape(m, NJ, 3))[:, 1:]
    np.testing.assert_allclose(real.numpy(), expect_real, atol=1e-12)


def test_discriminator_fakes_are_every_group_rotation_without_root():
    B, T = 1, 6
    outputs = make_outputs(B, T)
    cfg = dict(FULL)
    bodies = hmmr_losses.predict_bodies(to_tf(outputs), FakeBody(), LossConfig(**cfg))
    m = hmmr_losses.num_real_mocap(B, T, 2, True, True)
    fake, _ = hmmr_losses.discriminator_inputs(
        bodies, tf.zeros((m, constants.NUM_POSE), tf.float64)
    )
    expect = np.concatenate(
        [np_body(t)["rotmats"].reshape(-1, NJ, 3, 3)[:, 1:] for *_, t in ref_groups(outputs, cfg)]
    )
    np.testing.assert_allclose(fake.numpy(), expect, atol=1e-12)


def test_discriminator_inputs_reject_a_real_batch_of_the_wrong_size():
    bodies = hmmr_losses.predict_bodies(to_tf(make_outputs(1, 6)), FakeBody(), LossConfig())
    with pytest.raises(ValueError, match="num_real_mocap"):
        hmmr_losses.discriminator_inputs(bodies, tf.zeros((5, constants.NUM_POSE), tf.float64))


def test_weighted_total_is_sum_of_weight_times_term():
    B, T = 2, 7
    cfg = LossConfig(**FULL)
    loss_terms = hmmr_losses.encoder_loss_terms(
        to_tf(make_batch(B, T)), to_tf(make_outputs(B, T)), FakeBody(), None, cfg
    )
    d_real, d_fake = RNG.normal(size=(2, 10, 24))
    loss_terms.update(hmmr_losses.adversarial_loss_terms(tf.constant(d_real), tf.constant(d_fake)))
    w = LossWeights(e_lw_kp=2, e_lw_joints=3, e_lw_smpl=5, e_lw_const=7, e_lw_pose=11, d_lw_pose=13)
    e_loss, d_loss = hmmr_losses.weighted_total(loss_terms, w)
    vals = values(loss_terms)
    expect_e = sum(w.weight_for(k) * v for k, v in vals.items() if k.startswith("e_"))
    assert float(e_loss) == pytest.approx(expect_e, rel=1e-12)
    expect_d = 13 * (np.mean(np.sum((d_real - 1) ** 2, 1)) + np.mean(np.sum(d_fake**2, 1)))
    assert float(d_loss) == pytest.approx(expect_d, rel=1e-12)
    assert vals["e_pose"] == pytest.approx(np.mean(np.sum((d_fake - 1) ** 2, 1)), rel=1e-12)


@pytest.mark.slow  # tracing the whole assembly takes a few seconds on a shared CPU
def test_traced_with_unknown_batch_and_time_gives_the_eager_values_in_float32():
    B, T = 2, 9
    batch = {k: tf.constant(v, tf.float32) for k, v in make_batch(B, T).items()}
    outputs = {k: tf.constant(v, tf.float32) for k, v in make_outputs(B, T).items()}
    cfg, body_fn = LossConfig(), FakeBody()

    def run(batch, outputs):
        loss_terms = hmmr_losses.encoder_loss_terms(batch, outputs, body_fn, None, cfg)
        return {k: terms.ratio_value(r) for k, r in loss_terms.items()}

    def spec(x: tf.Tensor) -> tf.TensorSpec:
        return tf.TensorSpec([None, None, *x.shape[2:]] if x.shape.rank > 1 else [None], x.dtype)

    traced = tf.function(
        run, input_signature=[{k: spec(v) for k, v in d.items()} for d in (batch, outputs)]
    )
    eager, graph = run(batch, outputs), traced(batch, outputs)
    for key, value in eager.items():
        assert graph[key].dtype == tf.float32
        assert float(graph[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-7), key


# ---------------------------------------------------------------------------------------------
# use_hmr_only: the single-frame HMR ablation


def _per_frame(batch: dict[str, np.ndarray], outputs: dict[str, np.ndarray]):
    """Every frame as its own one-frame sequence, as the original's ``omegas_gt_static`` (B T
    samples, per-sample 3D flags repeated over each track's frames)."""
    B, T = batch["kp2d"].shape[:2]
    flat_batch = {
        "kp2d": batch["kp2d"].reshape(B * T, 1, K, 3),
        "pose": batch["pose"].reshape(B * T, 1, -1),
        "shape": np.repeat(batch["shape"], T, axis=0),
        "joints3d": batch["joints3d"].reshape(B * T, 1, J14, 3),
        "has_3d_joints": np.repeat(batch["has_3d_joints"], T),
        "has_smpl": np.repeat(batch["has_smpl"], T),
    }
    return flat_batch, {"theta": outputs["theta"].reshape(B * T, 1, -1)}


def test_hmr_only_static_terms_are_the_per_frame_present_terms():
    B, T = 2, 9
    batch, outputs = make_batch(B, T), make_outputs(B, T)
    got = values(
        hmmr_losses.encoder_loss_terms(
            to_tf(batch), to_tf(outputs), FakeBody(), None, LossConfig(use_hmr_only=True)
        )
    )
    flat_batch, flat_outputs = _per_frame(batch, outputs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # e_const of 1-frame tracks
        warnings.simplefilter("ignore", RuntimeWarning)
        expect = ref_encoder_terms(flat_batch, flat_outputs, {"predict_delta": False})
    active = {"e_kp_static", "e_joints_static", "e_smpl_static", "e_shape"}
    zeros = {"e_kp", "e_joints", "e_smpl", "e_const"} | {
        f + s for f in ("e_kp", "e_joints", "e_smpl") for s in ("_dt_past", "_dt_future")
    }
    assert set(got) == active | zeros
    for family in ("e_kp", "e_joints", "e_smpl"):
        assert expect[family] > 0
        assert got[family + "_static"] == pytest.approx(expect[family], rel=1e-9), family
    assert got["e_shape"] == pytest.approx(expect["e_shape"], rel=1e-9)
    assert all(got[key] == 0.0 for key in zeros)


def test_hmr_only_with_hallucinate_supervises_only_the_hallucinated_predictions():
    B, T = 2, 9
    batch, outputs = make_batch(B, T), make_outputs(B, T)
    cfg = dict(FULL, use_hmr_only=True)
    config = LossConfig(**cfg)
    assert list(hmmr_losses.prediction_groups(to_tf(outputs), config)) == [
        ("hal", 0), ("hal", -5), ("hal", 5)
    ]  # fmt: skip
    got = values(
        hmmr_losses.encoder_loss_terms(to_tf(batch), to_tf(outputs), FakeBody(), None, config)
    )
    expect = ref_encoder_terms(batch, outputs, FULL)
    hal_keys = {
        f + s for f in ("e_kp", "e_joints", "e_smpl") for s in ("_hal", "_hal_past", "_hal_future")
    }
    zero_keys = {"e_const", "e_hallucinate"} | {
        f + s for f in ("e_kp", "e_joints", "e_smpl") for s in ("", "_dt_past", "_dt_future")
    }
    assert set(got) == hal_keys | zero_keys | {"e_shape"}
    for key in hal_keys:
        assert got[key] == pytest.approx(expect[key], rel=1e-9), key
    assert all(got[key] == 0.0 for key in zero_keys)
    hal_betas = np.concatenate(
        [outputs["theta_hal"][..., 75:].ravel(), outputs["theta_hal_delta"][..., 75:].ravel()]
    )
    assert got["e_shape"] == pytest.approx(np.mean(hal_betas**2), rel=1e-9)


def test_num_real_mocap_with_hmr_only_is_the_original_count():
    # the original: T * batch_size alone; with hallucination half of its usual count
    assert hmmr_losses.num_real_mocap(8, 20, 2, False, False, use_hmr_only=True) == 160
    assert hmmr_losses.num_real_mocap(8, 20, 2, True, True, use_hmr_only=True) == 960 // 2
    assert hmmr_losses.num_real_mocap(8, 20, 2, True, False, False, use_hmr_only=True) == 160


@pytest.mark.parametrize("cfg", [{}, FULL, dict(do_hallucinate=True, predict_delta=False)])
def test_discriminator_inputs_match_num_real_mocap_with_hmr_only(cfg):
    B, T = 2, 6
    config = LossConfig(**cfg, use_hmr_only=True)
    bodies = hmmr_losses.predict_bodies(to_tf(make_outputs(B, T)), FakeBody(), config)
    m = hmmr_losses.num_real_mocap(
        B, T, 2, config.do_hallucinate, config.do_hallucinate_preds, config.predict_delta,
        use_hmr_only=True,
    )  # fmt: skip
    fake, real = hmmr_losses.discriminator_inputs(bodies, tf.zeros((m, constants.NUM_POSE)))
    assert fake.shape[0] == real.shape[0] == m
