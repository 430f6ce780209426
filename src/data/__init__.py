"""Data: the original TFRecord schema, sharded writing, tube augmentation, phi precomputation and
the tf.data input pipeline (docs/original_release.md §6)."""
