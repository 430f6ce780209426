"""Image encoder: slim's ``resnet_v2_50`` rebuilt in Keras 3 (docs/original_release.md §3.2).

Layer names follow the slim scopes with ``/`` -> ``_`` and ``bottleneck_v2`` dropped, so
``resnet_v2_50/block2/unit_4/bottleneck_v2/conv2/BatchNorm/gamma`` lives in the Keras layer
``block2_unit_4_conv2_bn`` as ``gamma`` (full table: :mod:`src.checkpoints.tf1_names`).

Differences from ``keras.applications.ResNet50V2`` that matter for feature parity:
- the stem max-pool is 3x3/2 with TF 'SAME' padding (pad 0 before, 1 after, padding ignored);
  Keras zero-pads 1 on each side and pools VALID;
- BatchNorm epsilon is 1e-5 (slim) rather than 1.001e-5.

Use the model in inference mode (``model(x, training=False)``) as the frozen feature extractor;
the released features were computed that way.

``dtype`` (a Keras dtype policy, e.g. ``"mixed_bfloat16"``) sets the arithmetic of every layer
but the last: the global average pool always computes in float32, so the features are float32
whatever the policy (and bit-identical to a float32 model when the policy is float32).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from src import constants

BN_EPSILON = 1e-5  # slim resnet_arg_scope
BN_MOMENTUM = 0.997  # slim resnet_arg_scope ("decay")
ROOT_FILTERS = 64
ROOT_KERNEL = 7
# (scope, bottleneck depth, units, stride of the last unit); output depth = 4 x bottleneck depth
RESNET_V2_50_BLOCKS = (
    ("block1", 64, 3, 2),
    ("block2", 128, 4, 2),
    ("block3", 256, 6, 2),
    ("block4", 512, 3, 1),
)
BOTTLENECK_EXPANSION = 4
FEATURE_DTYPE = "float32"  # phi, whatever the layers compute in
# a layer dtype: a policy name ("mixed_bfloat16"), a keras.DTypePolicy, or None (the global one)
DTypeLike = str | keras.DTypePolicy | None


def preprocess_images(images_01: tf.Tensor) -> tf.Tensor:
    """Map RGB images in [0, 1] to the encoder's range [-1, 1]: ``(x - 0.5) * 2``.

    Args:
        images_01: (B, H, W, 3) float RGB in [0, 1].
    Returns:
        (B, H, W, 3) float in [-1, 1].
    """
    return (tf.cast(images_01, tf.float32) - 0.5) * 2.0


@keras.saving.register_keras_serializable(package="hmmr")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras batch norm that runs inference as one ``FusedBatchNormV3`` kernel, as slim did.

    slim's ``batch_norm`` (``fused=None``) ran TF's fused kernel; Keras 3 instead casts bf16/fp16
    inputs to float32, normalises with separate multiply and add ops, and casts back. With float32
    inputs the two agree to float rounding (tests/networks). Under ``mixed_bfloat16`` the Keras
    form leaves four memory-bound ops per norm that no kernel fuses (half the ResNet's time on a
    CPU with AMX), while the fused kernel takes the bf16 tensor with float32 statistics, and
    TensorFlow's graph optimiser fuses it with the ReLU after it into one oneDNN kernel
    (docs/benchmarks.md, "bf16 inference"). Training mode (``training=True`` on a trainable
    layer) and non-TensorFlow backends run the Keras implementation unchanged; the variables are
    the same, so weights load into either.
    """

    def call(self, inputs, training=None, mask=None):
        if (
            (training and self.trainable)
            or mask is not None
            or keras.backend.backend() != "tensorflow"
            or len(inputs.shape) != 4
            or self.axis not in (-1, 3)
            or self.compute_dtype not in ("float32", "bfloat16", "float16")  # the kernel's types
        ):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = self.gamma if self.scale else tf.ones((channels,), tf.float32)
        offset = self.beta if self.center else tf.zeros((channels,), tf.float32)
        outputs = tf.raw_ops.FusedBatchNormV3(
            x=tf.cast(inputs, self.compute_dtype),
            scale=tf.cast(scale, tf.float32),
            offset=tf.cast(offset, tf.float32),
            mean=tf.cast(self.moving_mean, tf.float32),
            variance=tf.cast(self.moving_variance, tf.float32),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=False,
        ).y
        return outputs


def _batch_norm(name: str, dtype: DTypeLike = None) -> keras.layers.BatchNormalization:
    return FusedBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name, dtype=dtype)


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str, dtype: DTypeLike = None):
    """slim conv2d inside resnet_arg_scope: conv (no bias) -> BN -> ReLU.

    A strided 3x3 conv pads explicitly and symmetrically then runs VALID (slim ``conv2d_same``).
    """
    if stride > 1:
        pad_total = kernel - 1
        pad_beg = pad_total // 2
        x = keras.layers.ZeroPadding2D(
            ((pad_beg, pad_total - pad_beg), (pad_beg, pad_total - pad_beg)),
            name=f"{name}_pad",
            dtype=dtype,
        )(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters, kernel, stride, padding=padding, use_bias=False, name=name, dtype=dtype
    )(x)
    x = _batch_norm(f"{name}_bn", dtype)(x)
    return keras.layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def _bottleneck_v2(x, depth_bottleneck: int, stride: int, name: str, dtype: DTypeLike = None):
    """One pre-activation bottleneck unit (slim ``bottleneck_v2``).

    Args:
        x: (B, H, W, C_in).
    Returns:
        (B, ceil(H / stride), ceil(W / stride), 4 * depth_bottleneck).
    """
    depth = BOTTLENECK_EXPANSION * depth_bottleneck
    preact = _batch_norm(f"{name}_preact", dtype)(x)
    preact = keras.layers.ReLU(name=f"{name}_preact_relu", dtype=dtype)(preact)
    if x.shape[-1] == depth:
        # slim resnet_utils.subsample: 1x1 max-pool with stride on x (not on preact)
        shortcut = (
            keras.layers.MaxPooling2D(
                1, stride, padding="same", name=f"{name}_shortcut_pool", dtype=dtype
            )(x)
            if stride > 1
            else x
        )
    else:
        shortcut = keras.layers.Conv2D(depth, 1, stride, name=f"{name}_shortcut", dtype=dtype)(
            preact
        )
    residual = _conv_bn_relu(preact, depth_bottleneck, 1, 1, f"{name}_conv1", dtype)
    residual = _conv_bn_relu(residual, depth_bottleneck, 3, stride, f"{name}_conv2", dtype)
    residual = keras.layers.Conv2D(depth, 1, name=f"{name}_conv3", dtype=dtype)(residual)
    return keras.layers.Add(name=f"{name}_add", dtype=dtype)([shortcut, residual])


def build_resnet_v2_50(
    img_size: int = constants.IMG_SIZE,
    name: str = "resnet_v2_50",
    dtype: DTypeLike = None,
) -> keras.Model:
    """slim ``resnet_v2_50(num_classes=None, global_pool=True)``, squeezed to a vector.

    Args:
        img_size: side of the square input crop (224 in the original).
        name: Keras model name.
        dtype: dtype policy of the layers (default the global one, float32 unless set); the
            final pool computes in float32 (:data:`FEATURE_DTYPE`) whatever it is.
    Returns:
        Model mapping (B, img_size, img_size, 3) float32 images in [-1, 1] to phi (B, 2048)
        float32.

    Example:
        >>> encoder = build_resnet_v2_50()
        >>> phi = encoder(preprocess_images(images_01), training=False)  # (B, 2048)
    """
    images = keras.Input((img_size, img_size, 3), name="images")
    pad = (ROOT_KERNEL - 1) // 2
    x = keras.layers.ZeroPadding2D(pad, name="conv1_pad", dtype=dtype)(images)
    x = keras.layers.Conv2D(
        ROOT_FILTERS, ROOT_KERNEL, 2, padding="valid", name="conv1", dtype=dtype
    )(x)
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1", dtype=dtype)(x)
    for scope, depth_bottleneck, num_units, last_stride in RESNET_V2_50_BLOCKS:
        for unit in range(1, num_units + 1):
            stride = last_stride if unit == num_units else 1
            x = _bottleneck_v2(x, depth_bottleneck, stride, f"{scope}_unit_{unit}", dtype)
    x = _batch_norm("postnorm", dtype)(x)
    x = keras.layers.ReLU(name="postnorm_relu", dtype=dtype)(x)
    # (B, S/32, S/32, 2048) cast to float32 and averaged there: features are float32
    phi = keras.layers.GlobalAveragePooling2D(name="pool5", dtype=FEATURE_DTYPE)(x)
    return keras.Model(images, phi, name=name)
