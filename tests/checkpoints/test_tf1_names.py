"""TF1 name table (§3.10): coverage of every Keras weight, the layouts of TF1 arrays, and
assignment from a TF1-style name -> array dict checked against a NumPy forward on those arrays."""

import numpy as np
import pytest

from src.checkpoints.tf1_names import (
    assign_from_tf1,
    discriminator_weight_map,
    hmmr_weight_map,
    hmr_init_weight_map,
    unmapped_names,
)
from src.networks import HMMR, ModelConfig, PoseDiscriminator
from tests.networks import numpy_reference as ref

D, GROUPS, HIDDEN = 16, 4, 8
CFG = ModelConfig(phi_dim=D, gn_groups=GROUPS, ief_hidden=HIDDEN, hallucinator_hidden=12)


def _spec_hmmr_names(num_blocks=3):
    """The TF1 names of docs/original_release.md §3.10, written out by hand."""
    names = []
    for i in range(num_blocks):
        for gn in ("gn1", "gn2"):
            names += [f"AZ_FC_block_preact_{gn}block_{i}/{w}" for w in ("gamma", "beta")]
        for conv in ("conv1", "conv2"):
            names += [f"AZ_FC_block2_{conv}block_{i}/{w}" for w in ("weights", "biases")]
    for scope in ("fc2_res", "single_view_ief/3D_module", "single_view_ief_past5/3D_module",
                  "single_view_ief_future5/3D_module"):  # fmt: skip
        names += [f"{scope}/fc{n}/{w}" for n in (1, 2, 3) for w in ("weights", "biases")]
    return sorted(names + ["mean_param"])


def _tf1_shapes(cfg):
    """TF1 shapes (§3.10) for a reduced config: temporal convs are [3, 1, D, D]."""
    d, h, g = cfg.phi_dim, cfg.ief_hidden, cfg.hallucinator_hidden
    shapes = {"mean_param": (1, 85)}
    for i in range(3):
        for k in ("gn1", "gn2"):
            shapes.update({f"AZ_FC_block_preact_{k}block_{i}/{w}": (d,) for w in ("gamma", "beta")})
        for k in ("conv1", "conv2"):
            shapes[f"AZ_FC_block2_{k}block_{i}/weights"] = (3, 1, d, d)
            shapes[f"AZ_FC_block2_{k}block_{i}/biases"] = (d,)
    for n, (i, o) in enumerate(((d, g), (g, g), (g, d)), 1):
        shapes[f"fc2_res/fc{n}/weights"], shapes[f"fc2_res/fc{n}/biases"] = (i, o), (o,)
    for scope, k in (("single_view_ief", 85), ("single_view_ief_past5", 72),
                     ("single_view_ief_future5", 72)):  # fmt: skip
        for n, (i, o) in enumerate(((d + k, h), (h, h), (h, k)), 1):
            shapes[f"{scope}/3D_module/fc{n}/weights"] = (i, o)
            shapes[f"{scope}/3D_module/fc{n}/biases"] = (o,)
    return shapes


def _random_tf1(shapes, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        scale = 1 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1
        out[name] = rng.normal(0, scale, shape).astype(np.float32)
        if name.endswith("gamma"):
            out[name] += 1
    return out


def _np_from_tf1(v, phi):
    """Temporal encoder + present IEF + past/future, straight from the TF1 arrays."""
    blocks = [
        {
            "gn1_gamma": v[f"AZ_FC_block_preact_gn1block_{i}/gamma"],
            "gn1_beta": v[f"AZ_FC_block_preact_gn1block_{i}/beta"],
            "conv1_k": v[f"AZ_FC_block2_conv1block_{i}/weights"][:, 0],
            "conv1_b": v[f"AZ_FC_block2_conv1block_{i}/biases"],
            "gn2_gamma": v[f"AZ_FC_block_preact_gn2block_{i}/gamma"],
            "gn2_beta": v[f"AZ_FC_block_preact_gn2block_{i}/beta"],
            "conv2_k": v[f"AZ_FC_block2_conv2block_{i}/weights"][:, 0],
            "conv2_b": v[f"AZ_FC_block2_conv2block_{i}/biases"],
        }
        for i in range(3)
    ]
    v = {k: np.asarray(x, np.float64) for k, x in v.items()}
    strip = ref.temporal_encoder(phi, blocks, GROUPS, CFG.gn_epsilon).reshape(-1, D)

    def fcs(scope):
        return [(v[f"{scope}/3D_module/fc{n}/weights"], v[f"{scope}/3D_module/fc{n}/biases"])
                for n in (1, 2, 3)]  # fmt: skip

    theta0 = np.tile(v["mean_param"], (strip.shape[0], 1))
    theta = ref.ief(strip, theta0, fcs("single_view_ief"), 3)
    past = ref.delta_theta(strip, theta, fcs("single_view_ief_past5"), 3)
    future = ref.delta_theta(strip, theta, fcs("single_view_ief_future5"), 3)
    return theta, np.stack([past, future], 1)


def test_hmmr_map_covers_every_weight_once_with_spec_names():
    model = HMMR(CFG)
    rows = hmmr_weight_map(model)
    assert sorted(r.tf1_name for r in rows) == _spec_hmmr_names()
    assert sorted(id(r.variable) for r in rows) == sorted(id(w) for w in model.weights)


def test_hmmr_weights_from_tf1_arrays_reproduce_numpy_forward():
    model = HMMR(CFG)
    values = _random_tf1(_tf1_shapes(CFG), seed=0)
    values["global_step"] = np.int64(7)
    values["single_view_ief/3D_module/fc1/weights/Adam"] = np.zeros(1)
    assert assign_from_tf1(hmmr_weight_map(model), values) == []
    assert unmapped_names(hmmr_weight_map(model), values) == []
    phi = np.random.default_rng(1).normal(size=(2, 8, D))
    out = model(phi.astype(np.float32))
    theta, theta_delta = _np_from_tf1(values, phi)
    np.testing.assert_allclose(out["theta"].numpy().reshape(-1, 85), theta, atol=2e-4, rtol=2e-4)
    np.testing.assert_allclose(
        out["theta_delta"].numpy().reshape(-1, 2, 85), theta_delta, atol=2e-4, rtol=2e-4
    )


def test_shape_mismatch_names_source_and_variable_and_assigns_nothing():
    model = HMMR(CFG)
    values = _random_tf1(_tf1_shapes(CFG), seed=2)
    values["AZ_FC_block2_conv1block_2/weights"] = np.zeros((3, 1, D, D + 1), np.float32)
    rows = hmmr_weight_map(model)
    first = model.temporal_encoder.blocks[0]["gn1"].gamma  # mapped before the bad one
    before = first.numpy().copy()
    message = r"ckpt-1: AZ_FC_block2_conv1block_2/weights.*block2_conv1"
    with pytest.raises(ValueError, match=message):
        assign_from_tf1(rows, values, source="ckpt-1")
    np.testing.assert_array_equal(first.numpy(), before)


def test_missing_and_unmapped_names_are_reported():
    model = HMMR(CFG)
    values = _random_tf1(_tf1_shapes(CFG), seed=3)
    del values["fc2_res/fc3/biases"]
    values["something/else"] = np.zeros(2)
    values["beta1_power_1"] = np.zeros(())
    rows = hmmr_weight_map(model)
    assert assign_from_tf1(rows, values) == ["fc2_res/fc3/biases"]
    assert unmapped_names(rows, values) == ["something/else"]


def test_hmr_init_map_uses_bare_3d_module_scope():
    names = sorted(r.tf1_name for r in hmr_init_weight_map(HMMR(CFG)))
    want = [f"3D_module/fc{n}/{w}" for n in (1, 2, 3) for w in ("biases", "weights")]
    assert names == sorted(want + ["mean_param"])


def test_discriminator_from_tf1_arrays_matches_numpy():
    disc = PoseDiscriminator(joint_hidden=8, all_hidden=16)
    rows = discriminator_weight_map(disc)
    assert sorted(id(r.variable) for r in rows) == sorted(id(w) for w in disc.weights)
    rng = np.random.default_rng(4)
    shapes = {
        "D_pose/D_conv1/weights": (1, 1, 9, 8),
        "D_pose/D_conv1/biases": (8,),
        "D_pose/D_conv2/weights": (1, 1, 8, 8),
        "D_pose/D_conv2/biases": (8,),
        "D_pose/D_alljoints_fc1/weights": (23 * 8, 16),
        "D_pose/D_alljoints_fc1/biases": (16,),
        "D_pose/D_alljoints_fc2/weights": (16, 16),
        "D_pose/D_alljoints_fc2/biases": (16,),
        "D_pose/D_alljoints_out/weights": (16, 1),
        "D_pose/D_alljoints_out/biases": (1,),
    }
    for j in range(23):
        shapes[f"D_pose/pose_out_j{j}/weights"], shapes[f"D_pose/pose_out_j{j}/biases"] = (
            (8, 1),
            (1,),
        )
    assert sorted(shapes) == sorted(r.tf1_name for r in rows)
    values = {k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in shapes.items()}
    assert assign_from_tf1(rows, values) == []
    rots = rng.normal(size=(4, 23, 3, 3))
    v = {k: np.asarray(x, np.float64) for k, x in values.items()}

    def p(name):
        return v[f"D_pose/{name}/weights"], v[f"D_pose/{name}/biases"]

    want = ref.pose_discriminator(
        rots,
        (v["D_pose/D_conv1/weights"][0, 0], v["D_pose/D_conv1/biases"]),
        (v["D_pose/D_conv2/weights"][0, 0], v["D_pose/D_conv2/biases"]),
        [p(f"pose_out_j{j}") for j in range(23)],
        p("D_alljoints_fc1"),
        p("D_alljoints_fc2"),
        p("D_alljoints_out"),
    )
    np.testing.assert_allclose(disc(rots.astype(np.float32)).numpy(), want, atol=1e-4, rtol=1e-4)
