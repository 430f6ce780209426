"""``python -m src.convert`` on TF1 checkpoints built with the original names (§3.10, §3.2).

The HMMR parts are checked against a float64 NumPy forward pass that reads the TF1 checkpoint
directly (its own GroupNorm over time x group channels, 'same' temporal convolution, 3-stage IEF);
the ResNet against tf-slim's own ``resnet_v2_50`` run in a TF1 graph on the saved variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from src.checkpoints import weights_dir
from src.checkpoints.tf1 import (
    CheckpointError,
    delta_t_values_from_names,
    infer_hmmr_config,
    resolve_prefix,
)
from src.convert import run
from src.networks.config import ModelConfig
from src.networks.discriminator import PoseDiscriminator
from src.networks.hmmr import HMMR
from src.networks.resnet_v2 import build_resnet_v2_50
from tests.timeouts import scaled

try:
    from . import _tf1_fixtures as fx
except ImportError:  # tests/checkpoints is not a package: pytest puts it on sys.path
    import _tf1_fixtures as fx

REPO = Path(__file__).resolve().parents[2]
ATOL = 1e-4
PHI, IEF_HIDDEN, HAL_HIDDEN, BLOCKS, DISC = 64, 32, 48, 2, (8, 16)
ORIGINAL_GROUPS, ORIGINAL_EPS, ORIGINAL_STAGES = 32, 1e-6, 3  # §3.3, §3.5
HMMR_STEP, HMR_STEP = 1119816, 642561
RESNET_IMG, RESNET_BATCH = 97, 2  # odd size: every slim 'SAME' pad is asymmetric


# ---------------------------------------------------------------- independent NumPy reference
def _reader_values(prefix: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(prefix)
    return {
        name: reader.get_tensor(name).astype(np.float64)
        for name in reader.get_variable_to_shape_map()
        if not np.issubdtype(reader.get_tensor(name).dtype, np.integer)
    }


def _relu(x):
    return np.maximum(x, 0.0)


def _group_norm(x, gamma, beta, groups=ORIGINAL_GROUPS, eps=ORIGINAL_EPS):
    """(B, T, D): statistics per sample and group over all T and the group's D / G channels."""
    b, t, d = x.shape
    g = x.reshape(b, t, groups, d // groups)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(b, t, d) * gamma + beta


def _conv_time_same(x, weights, biases):
    """TF 'SAME' conv along time with a TF1 kernel [k, 1, in, out] (zero padding)."""
    k = weights.shape[0]
    before = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (before, k - 1 - before), (0, 0)))
    steps = x.shape[1]
    return sum(padded[:, i : i + steps] @ weights[i, 0] for i in range(k)) + biases


def _np_temporal_encoder(v, phi, num_blocks):
    x = phi
    for i in range(num_blocks):
        h = _relu(
            _group_norm(
                x,
                v[f"AZ_FC_block_preact_gn1block_{i}/gamma"],
                v[f"AZ_FC_block_preact_gn1block_{i}/beta"],
            )
        )
        h = _conv_time_same(
            h, v[f"AZ_FC_block2_conv1block_{i}/weights"], v[f"AZ_FC_block2_conv1block_{i}/biases"]
        )
        h = _relu(
            _group_norm(
                h,
                v[f"AZ_FC_block_preact_gn2block_{i}/gamma"],
                v[f"AZ_FC_block_preact_gn2block_{i}/beta"],
            )
        )
        h = _conv_time_same(
            h, v[f"AZ_FC_block2_conv2block_{i}/weights"], v[f"AZ_FC_block2_conv2block_{i}/biases"]
        )
        x = x + h
    return x


def _np_ief(v, scope, features, theta):
    """3 stages of the shared MLP: theta += fc3(relu(fc2(relu(fc1([features, theta])))))."""
    prefix = f"{scope}/3D_module" if scope else "3D_module"

    def fc(n, x):
        return x @ v[f"{prefix}/fc{n}/weights"] + v[f"{prefix}/fc{n}/biases"]

    for _ in range(ORIGINAL_STAGES):
        x = np.concatenate([features, theta], axis=-1)
        theta = theta + fc(3, _relu(fc(2, _relu(fc(1, x)))))
    return theta


def _np_regress(v, strip):
    """(B, T, D) -> present theta (B, T, 85), [past, future] thetas (B, T, 2, 85)."""
    b, t, d = strip.shape
    feats = strip.reshape(-1, d)
    theta = _np_ief(v, "single_view_ief", feats, np.tile(v["mean_param"], (len(feats), 1)))
    deltas = []
    for scope in ("single_view_ief_past5", "single_view_ief_future5"):
        pose = _np_ief(v, scope, feats, theta[:, 3:75])
        camera = np.tile([1.0, 0.0, 0.0], (len(feats), 1))
        deltas.append(np.concatenate([camera, pose, theta[:, 75:]], axis=-1))
    return theta.reshape(b, t, 85), np.stack(deltas, axis=1).reshape(b, t, 2, 85)


def _np_hallucinator(v, phi):
    h = _relu(phi @ v["fc2_res/fc1/weights"] + v["fc2_res/fc1/biases"])
    h = _relu(h @ v["fc2_res/fc2/weights"] + v["fc2_res/fc2/biases"])
    return h @ v["fc2_res/fc3/weights"] + v["fc2_res/fc3/biases"] + phi


def _np_discriminator(v, rotmats):
    """(N, 23, 9) -> (N, 24) = [23 per-joint | all-joint]."""
    e = _relu(rotmats @ v["D_pose/D_conv1/weights"][0, 0] + v["D_pose/D_conv1/biases"])
    e = _relu(e @ v["D_pose/D_conv2/weights"][0, 0] + v["D_pose/D_conv2/biases"])
    per_joint = [
        e[:, j] @ v[f"D_pose/pose_out_j{j}/weights"] + v[f"D_pose/pose_out_j{j}/biases"]
        for j in range(23)
    ]
    h = e.reshape(len(e), -1)
    for layer in ("fc1", "fc2"):
        h = _relu(
            h @ v[f"D_pose/D_alljoints_{layer}/weights"] + v[f"D_pose/D_alljoints_{layer}/biases"]
        )
    out = h @ v["D_pose/D_alljoints_out/weights"] + v["D_pose/D_alljoints_out/biases"]
    return np.concatenate(per_joint + [out], axis=-1)


# ---------------------------------------------------------------------------- checkpoints
def _small_hmmr_values(seed=0):
    shapes = fx.hmmr_tf1_shapes(PHI, IEF_HIDDEN, HAL_HIDDEN, num_blocks=BLOCKS, disc=DISC)
    return fx.random_values(shapes, seed)


@pytest.fixture(scope="module")
def hmmr_ckpt(tmp_path_factory):
    """A small HMMR checkpoint with Adam state, global_step and SMPL constants (the real mix)."""
    folder = tmp_path_factory.mktemp("hmmr_models")
    prefix, _ = fx.write_tf1_checkpoint(folder, "hmmr_model.ckpt", _small_hmmr_values(), HMMR_STEP)
    return prefix


@pytest.fixture(scope="module")
def hmr_ckpt(tmp_path_factory):
    """Full-size slim resnet_v2_50 + HMR's 3D_module / mean_param / D, and slim's features."""
    folder = tmp_path_factory.mktemp("hmr_models")
    rng = np.random.default_rng(7)
    images = rng.uniform(-1.0, 1.0, (RESNET_BATCH, RESNET_IMG, RESNET_IMG, 3)).astype(np.float32)
    head = fx.random_values(fx.hmr_head_shapes(2048, IEF_HIDDEN), seed=8)
    prefix, features = fx.write_tf1_checkpoint(
        folder,
        "hmr_noS5.ckpt",
        head,
        HMR_STEP,
        with_adam=False,
        graph_builder=fx.slim_resnet_builder(images, seed=9),
    )
    return prefix, images, features


def _run(argv, capsys):
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("hmmr-convert:")]
    assert len(lines) == 1, err
    return lines[0]


def _load_hmmr(folder):
    config = weights_dir.read_model_config(folder)
    model = HMMR(config)
    model.build()
    disc = PoseDiscriminator(config.disc_joint_hidden, config.disc_all_hidden)
    disc.build()
    weights_dir.load_into(folder, model=model, discriminator=disc)
    return model, disc


# ---------------------------------------------------------------------------- HMMR parity
@pytest.mark.slow
def test_hmmr_conversion_has_no_unmapped_and_matches_numpy_forward(hmmr_ckpt, tmp_path, capsys):
    code, out, _ = _run(["--hmmr_ckpt", hmmr_ckpt, "--out", tmp_path / "w"], capsys)
    assert code == 0
    assert "unmapped variables: 0" in out
    assert "Adam optimiser slots" in out and "SMPL constants" in out
    assert "no resnet_v2_50 yet" in out  # the demo needs --hmr_ckpt too

    v = _reader_values(hmmr_ckpt)
    model, disc = _load_hmmr(tmp_path / "w")
    rng = np.random.default_rng(1)
    phi = rng.normal(0.0, 1.0, (2, 9, PHI))
    got = {k: t.numpy() for k, t in model(phi.astype(np.float32), hallucinate=True).items()}

    strip = _np_temporal_encoder(v, phi, BLOCKS)
    theta, theta_delta = _np_regress(v, strip)
    strip_hal = _np_hallucinator(v, phi)
    theta_hal, theta_hal_delta = _np_regress(v, strip_hal)
    want = {
        "movie_strip": strip,
        "theta": theta,
        "theta_delta": theta_delta,
        "movie_strip_hal": strip_hal,
        "theta_hal": theta_hal,
        "theta_hal_delta": theta_hal_delta,
    }
    assert sorted(got) == sorted(want)
    for key, ref in want.items():
        trivial = phi if "strip" in key else 0.0  # the strips are residual on phi
        assert np.abs(ref - trivial).max() > 0.1, key
        np.testing.assert_allclose(got[key], ref, atol=ATOL, rtol=0, err_msg=key)

    rot = rng.normal(0.0, 1.0, (5, 23, 9))
    ref_d = _np_discriminator(v, rot)
    assert np.abs(ref_d).max() > 0.1
    np.testing.assert_allclose(disc(rot.astype(np.float32)).numpy(), ref_d, atol=ATOL, rtol=0)


def test_model_config_is_read_from_the_stored_shapes(hmmr_ckpt, tmp_path, capsys):
    assert _run(["--hmmr_ckpt", hmmr_ckpt, "--out", tmp_path], capsys)[0] == 0
    config = weights_dir.read_model_config(tmp_path)
    assert config == ModelConfig(
        phi_dim=PHI,
        num_conv_layers=BLOCKS,
        ief_hidden=IEF_HIDDEN,
        hallucinator_hidden=HAL_HIDDEN,
        disc_joint_hidden=DISC[0],
        disc_all_hidden=DISC[1],
    )
    assert (config.gn_groups, config.gn_epsilon, config.delta_t_values) == (32, 1e-6, (-5, 5))
    assert sorted(weights_dir.available_parts(tmp_path)) == [
        "delta_predictor_future5",
        "delta_predictor_past5",
        "discriminator",
        "hallucinator",
        "ief_regressor",
        "temporal_encoder",
    ]


@pytest.mark.slow
def test_entry_point_runs_as_a_module_on_a_checkpoint_folder(hmmr_ckpt, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    folder = str(Path(hmmr_ckpt).parent)  # holds the TF1 'checkpoint' pointer file
    proc = subprocess.run(
        [sys.executable, "-m", "src.convert", "--hmmr_ckpt", folder, "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )
    assert proc.returncode == 0, proc.stderr
    assert "unmapped variables: 0" in proc.stdout
    assert f"hmmr checkpoint {hmmr_ckpt}" in proc.stdout


# ---------------------------------------------------------------------------- ResNet parity
@pytest.mark.slow
def test_hmr_conversion_matches_slim_resnet_features_at_full_size(hmr_ckpt, tmp_path, capsys):
    prefix, images, slim_features = hmr_ckpt
    code, out, _ = _run(["--hmr_ckpt", prefix, "--out", tmp_path], capsys)
    assert code == 0
    assert "unmapped variables: 0" in out
    assert "HMR's pose+shape discriminator" in out

    resnet = build_resnet_v2_50(img_size=RESNET_IMG)
    assert weights_dir.load_into(tmp_path, resnet=resnet) == [weights_dir.RESNET_PART]
    got = resnet(images, training=False).numpy()
    assert slim_features.shape == got.shape == (RESNET_BATCH, 2048)
    assert np.abs(slim_features).max() > 0.1
    np.testing.assert_allclose(got, slim_features, atol=ATOL, rtol=0)

    # HMR's 3D_module + mean_param become the present regressor (training initialisation)
    config = weights_dir.read_model_config(tmp_path)
    assert (config.phi_dim, config.ief_hidden) == (2048, IEF_HIDDEN)
    model = HMMR(config)
    model.build()
    assert weights_dir.load_into(tmp_path, model=model, require_all=False) == ["ief_regressor"]
    v = _reader_values(prefix)
    feats = np.random.default_rng(2).normal(0.0, 1.0, (4, 2048))
    want = _np_ief(v, "", feats, np.tile(v["mean_param"], (4, 1)))
    got = model.ief_regressor(feats.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


@pytest.mark.slow
def test_hmr_into_an_hmmr_folder_adds_the_resnet_and_keeps_hmmr_regressor(
    hmmr_ckpt, hmr_ckpt, tmp_path, capsys
):
    # an HMR checkpoint whose regressor fits the small HMMR (phi_dim 64), same slim ResNet
    slim = {k: v for k, v in _reader_values(hmr_ckpt[0]).items() if k.startswith("resnet_v2_50/")}
    values = {k: v.astype(np.float32) for k, v in slim.items()}
    values.update(fx.random_values(fx.hmr_head_shapes(PHI, IEF_HIDDEN), seed=3))
    prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmr_noS5.ckpt", values, HMR_STEP, False)

    out_dir = tmp_path / "w"
    assert _run(["--hmmr_ckpt", hmmr_ckpt, "--out", out_dir], capsys)[0] == 0
    code, out, _ = _run(["--hmr_ckpt", prefix, "--out", out_dir], capsys)
    assert code == 0 and "kept HMMR's ief_regressor" in out
    assert "resnet_v2_50" in weights_dir.available_parts(out_dir)
    ief = weights_dir.read_part(out_dir, "ief_regressor")
    hmmr_values = _reader_values(hmmr_ckpt)
    np.testing.assert_array_equal(
        ief["fc1/kernel"], hmmr_values["single_view_ief/3D_module/fc1/weights"]
    )
    np.testing.assert_array_equal(ief["mean_theta"], hmmr_values["mean_param"])
    source = weights_dir.read_manifest(out_dir)["source"]
    assert hmmr_ckpt in source and prefix in source


def test_checkpoints_of_different_widths_are_refused_before_writing(hmmr_ckpt, tmp_path, capsys):
    # the width check comes before anything is read, so HMR's head alone is enough here
    head = fx.random_values(fx.hmr_head_shapes(2048, IEF_HIDDEN), seed=0)
    hmr_prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmr_noS5.ckpt", head, 1, False)
    code, _, err = _run(
        ["--hmmr_ckpt", hmmr_ckpt, "--hmr_ckpt", hmr_prefix, "--out", tmp_path / "w"], capsys
    )
    assert code == 1
    assert "phi_dim 2048 vs 64" in _error_line(err)
    assert not (tmp_path / "w").exists()


def test_unknown_variable_is_reported_as_unmapped(tmp_path, capsys):
    values = _small_hmmr_values()
    values["AZ_FC_block_extra/weights"] = np.ones((3, 1, PHI, PHI), np.float32)
    prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmmr_model.ckpt", values, 1, with_adam=False)
    code, out, _ = _run(["--hmmr_ckpt", prefix, "--out", tmp_path / "w"], capsys)
    assert code == 0
    assert "unmapped variables: 1" in out
    assert "warning: unmapped AZ_FC_block_extra/weights" in out

    code, _, err = _run(["--hmmr_ckpt", prefix, "--out", tmp_path / "s", "--strict"], capsys)
    assert code == 1 and "AZ_FC_block_extra/weights" in _error_line(err)
    assert not (tmp_path / "s").exists()


def test_missing_variable_is_an_error_naming_it(tmp_path, capsys):
    values = _small_hmmr_values()
    del values["single_view_ief_future5/3D_module/fc2/biases"]
    prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmmr_model.ckpt", values, 1, with_adam=False)
    code, _, err = _run(["--hmmr_ckpt", prefix, "--out", tmp_path / "w"], capsys)
    assert code == 1
    line = _error_line(err)
    assert "missing 1 variable(s): single_view_ief_future5/3D_module/fc2/biases" in line
    assert prefix in line
    assert not (tmp_path / "w").exists()


def test_wrong_shape_is_an_error_naming_variable_and_shapes(tmp_path, capsys):
    values = _small_hmmr_values()
    values["fc2_res/fc2/weights"] = np.ones((HAL_HIDDEN, HAL_HIDDEN - 1), np.float32)
    prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmmr_model.ckpt", values, 1, with_adam=False)
    code, _, err = _run(["--hmmr_ckpt", prefix, "--out", tmp_path / "w"], capsys)
    assert code == 1
    line = _error_line(err)
    assert "fc2_res/fc2/weights: shape (48, 47)" in line and "(48, 48)" in line


def test_checkpoint_given_for_the_wrong_flag_says_which_flag(hmmr_ckpt, tmp_path, capsys):
    values = fx.random_values(fx.hmr_head_shapes(PHI, IEF_HIDDEN), seed=0)
    hmr_prefix, _ = fx.write_tf1_checkpoint(tmp_path, "hmr_noS5.ckpt", values, 1, False)
    code, _, err = _run(["--hmmr_ckpt", hmr_prefix, "--out", tmp_path / "a"], capsys)
    assert code == 1 and "pass it as --hmr_ckpt" in _error_line(err)
    code, _, err = _run(["--hmr_ckpt", hmmr_ckpt, "--out", tmp_path / "b"], capsys)
    assert code == 1 and "pass it as --hmmr_ckpt" in _error_line(err)
    # an HMR checkpoint without its ResNet is incomplete
    code, _, err = _run(["--hmr_ckpt", hmr_prefix, "--out", tmp_path / "c"], capsys)
    assert code == 1 and "resnet_v2_50/conv1/weights" in _error_line(err)


# ---------------------------------------------------------------------------- paths
def test_bad_paths_give_one_line_errors(tmp_path, capsys):
    missing = tmp_path / "models" / "hmmr_model.ckpt-1119816"
    code, _, err = _run(["--hmmr_ckpt", missing, "--out", tmp_path / "w"], capsys)
    assert code == 1 and str(missing) in _error_line(err)

    corrupt = tmp_path / "broken.ckpt-1"
    Path(f"{corrupt}.index").write_bytes(b"not a checkpoint index")
    Path(f"{corrupt}.data-00000-of-00001").write_bytes(b"\0" * 16)
    code, _, err = _run(["--hmmr_ckpt", corrupt, "--out", tmp_path / "w"], capsys)
    assert code == 1 and "unreadable TF1 checkpoint" in _error_line(err)

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(["--hmr_ckpt", empty, "--out", tmp_path / "w"], capsys)
    assert code == 1 and "holds no TF1 checkpoint" in _error_line(err)
    assert not (tmp_path / "w").exists()

    assert _run(["--out", tmp_path / "w"], capsys)[0] == 2


def test_checkpoint_prefix_resolves_from_files_and_folders(hmmr_ckpt, tmp_path):
    folder = Path(hmmr_ckpt).parent
    for given in (
        hmmr_ckpt,
        f"{hmmr_ckpt}.index",
        f"{hmmr_ckpt}.meta",
        f"{hmmr_ckpt}.data-00000-of-00001",
        folder,
    ):
        assert resolve_prefix(given) == hmmr_ckpt, given
    # a released 'checkpoint' file names the author's absolute path: fall back to the basename
    copy = tmp_path / "models"
    copy.mkdir()
    for file in folder.glob("hmmr_model.ckpt-*"):
        (copy / file.name).write_bytes(file.read_bytes())
    (copy / "checkpoint").write_text(
        f'model_checkpoint_path: "/home/jason/hmmr/models/{Path(hmmr_ckpt).name}"\n'
    )
    assert resolve_prefix(copy) == str(copy / Path(hmmr_ckpt).name)
    (copy / "checkpoint").unlink()
    (copy / "other.ckpt-1.index").write_bytes(b"")
    with pytest.raises(CheckpointError, match="several checkpoints"):
        resolve_prefix(copy)


# ---------------------------------------------------------------------------- config inference
def test_delta_offsets_come_from_the_scope_names():
    names = [
        "single_view_ief_future5/3D_module/fc1/weights",
        "single_view_ief_past3/3D_module/fc1/weights",
        "single_view_ief_past3/3D_module/fc1/biases",
        "single_view_ief/3D_module/fc1/weights",
    ]
    assert delta_t_values_from_names(names) == (-3, 5)


def test_full_size_hmmr_shapes_give_the_original_config():
    shapes = fx.hmmr_tf1_shapes(2048, 1024, 2048)
    assert infer_hmmr_config(shapes, "ckpt") == ModelConfig()


def test_widths_groupnorm_cannot_split_are_refused():
    shapes = fx.hmmr_tf1_shapes(50, 8, 8, num_blocks=1)
    with pytest.raises(CheckpointError, match="ckpt: stored shapes give an invalid model"):
        infer_hmmr_config(shapes, "ckpt")
