"""Data: the original TFRecord schema, sharded writing, tube augmentation, phi precomputation and
the tf.data input pipeline (ORIGINAL_SPEC §6)."""
