"""Float64 NumPy forwards of the HMMR networks, written from docs/original_release.md §3 only.

Nothing here imports ``src``: the tests read the Keras weights as arrays and compare the Keras
layers against these functions.
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def group_norm(x, gamma, beta, groups: int, eps: float, stats=None):
    """tf.contrib group_norm on an NT1C tensor, here (B, T, C): per sample and group, moments
    over all T and the C / groups contiguous channels. ``stats`` = (mean, var) to freeze them.

    Returns (y (B, T, C), (mean, var) each (B, 1, G, 1)).
    """
    b, t, c = x.shape
    xg = x.reshape(b, t, groups, c // groups)
    if stats is None:
        mean = xg.mean(axis=(1, 3), keepdims=True)
        var = ((xg - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    else:
        mean, var = stats
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(b, t, c)
    return y * gamma + beta, (mean, var)


def conv_time_same(x, kernel, bias):
    """Cross-correlation along time with zero 'SAME' padding.

    x (B, T, Cin); kernel (K, Cin, Cout) with K odd; out[t] = sum_k x[t + k - K//2] @ kernel[k].
    """
    k = kernel.shape[0]
    half = k // 2
    b, t, _ = x.shape
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)))
    out = np.zeros((b, t, kernel.shape[2]))
    for i in range(k):
        out += padded[:, i : i + t] @ kernel[i]
    return out + bias


def temporal_encoder(phi, blocks, groups: int, eps: float):
    """blocks: list of dicts with gn1_gamma, gn1_beta, conv1_k, conv1_b, gn2_*, conv2_*."""
    x = phi
    for p in blocks:
        y, _ = group_norm(x, p["gn1_gamma"], p["gn1_beta"], groups, eps)
        y = conv_time_same(relu(y), p["conv1_k"], p["conv1_b"])
        y, _ = group_norm(y, p["gn2_gamma"], p["gn2_beta"], groups, eps)
        y = conv_time_same(relu(y), p["conv2_k"], p["conv2_b"])
        x = x + y
    return x


def dense(x, kernel, bias):
    return x @ kernel + bias


def hallucinator(phi, fcs):
    """fcs: [(W1, b1), (W2, b2), (W3, b3)]; phi + fc3(relu(fc2(relu(fc1(phi)))))."""
    h = relu(dense(phi, *fcs[0]))
    h = relu(dense(h, *fcs[1]))
    return phi + dense(h, *fcs[2])


def ief(features, theta0, fcs, num_stages: int):
    """Iterative error feedback, one MLP for all stages, no dropout (inference)."""
    theta = theta0
    for _ in range(num_stages):
        h = relu(dense(np.concatenate([features, theta], axis=1), *fcs[0]))
        h = relu(dense(h, *fcs[1]))
        theta = theta + dense(h, *fcs[2])
    return theta


def delta_theta(features, theta_present, fcs, num_stages: int):
    """[1, 0, 0 | IEF pose from theta_present[:, 3:75] | theta_present[:, 75:85]]."""
    pose = ief(features, theta_present[:, 3:75], fcs, num_stages)
    cam = np.tile([[1.0, 0.0, 0.0]], (features.shape[0], 1))
    return np.concatenate([cam, pose, theta_present[:, 75:85]], axis=1)


def pose_discriminator(rotmats, conv1, conv2, heads, fc1, fc2, out):
    """rotmats (N, 23, 3, 3); heads: list of 23 (W (32, 1), b (1,)). Returns (N, 24)."""
    n = rotmats.shape[0]
    x = rotmats.reshape(n, 23, 9)
    e = relu(dense(relu(dense(x, *conv1)), *conv2))  # (N, 23, H)
    per_joint = np.stack([dense(e[:, j], *heads[j])[:, 0] for j in range(23)], axis=1)
    flat = np.concatenate([e[:, j] for j in range(23)], axis=1)  # joint-major
    score = dense(relu(dense(relu(dense(flat, *fc1)), *fc2)), *out)
    return np.concatenate([per_joint, score], axis=1)
