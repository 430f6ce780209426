"""bench/train_step.py's second anchor, the step's matrix products timed alone: it finds every
product of a graph and times the same product (same shapes, same transposes, same equation)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bench import train_step as bench


def _graph_with_products() -> tf.Graph:
    a = tf.TensorSpec((4, 3), tf.float32)
    b = tf.TensorSpec((5, 3), tf.float32)
    c = tf.TensorSpec((2, 4, 3), tf.float32)

    @tf.function
    def products(x, y, z):
        first = tf.matmul(x, y, transpose_b=True)  # (4, 5)
        second = tf.matmul(z, z, adjoint_a=True)  # (2, 3, 3) BatchMatMulV2
        third = tf.einsum("nj,hj->njh", x, y[:, :3])  # (4, 3, 5)
        return tf.reduce_sum(first) + tf.reduce_sum(second) + tf.reduce_sum(third)

    return products.get_concrete_function(a, b, c).graph


def test_each_product_is_found_and_rerun_with_its_own_shapes_and_attributes():
    graph = _graph_with_products()
    rng = np.random.default_rng(0)
    found = {}
    for op in bench.live_ops(graph):
        if op.type in bench.MATMUL_TYPES:
            signature = bench.matmul_signature(op)
            assert signature is not None, op.type
            found[op.type] = signature
    assert set(found) == {"MatMul", "BatchMatMulV2", "Einsum"}
    assert found["MatMul"][1] == ((4, 3), (5, 3))
    assert found["MatMul"][2] == (("transpose_a", False), ("transpose_b", True))
    assert found["BatchMatMulV2"][2] == (("adj_x", True), ("adj_y", False))
    assert found["Einsum"][2] == (("equation", b"nj,hj->njh"),)
    for op_type, signature in found.items():
        inputs = [rng.normal(size=shape).astype(np.float32) for shape in signature[1]]
        got = bench.run_signature(signature)([tf.constant(x) for x in inputs]).numpy()
        if op_type == "MatMul":
            want = inputs[0] @ inputs[1].T
        elif op_type == "BatchMatMulV2":
            want = np.swapaxes(inputs[0], -1, -2) @ inputs[1]
        else:
            want = np.einsum("nj,hj->njh", *inputs)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_products_alone_counts_every_product_once():
    out = bench.matmuls_alone(_graph_with_products(), "/cpu:0", seconds_each=0.01)
    assert out["ops"] == 3 and out["distinct_shapes"] == 3
    assert out["ops_skipped_unknown_shapes"] == 0
    assert out["seconds"] > 0
