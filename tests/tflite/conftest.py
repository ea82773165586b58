"""Fixtures for the export tests: tiny ViT-like classifiers on 32x32 raw pixels.

``tiny_vit`` comes from keras_vit's registry when it is importable, so the tests exercise the
real layers; ``toy_vit`` is a self-contained model with the same ops (conv patch embedding,
layer norm, attention through keras.ops, exact GELU) that needs nothing from keras_vit.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from keras import layers, ops

IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


@keras.saving.register_keras_serializable(package="keras_vit_tests")
class ToyAttention(layers.Layer):
    """Self-attention with a fused qkv projection, written with keras.ops."""

    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads

    def build(self, input_shape):
        dim = input_shape[-1]
        self.qkv = layers.Dense(3 * dim, name="qkv")
        self.qkv.build(input_shape)
        self.proj = layers.Dense(dim, name="proj")
        self.proj.build(input_shape)

    def call(self, x):
        n, dim = x.shape[1], x.shape[2]
        head_dim = dim // self.num_heads

        def heads(t):
            return ops.transpose(ops.reshape(t, (-1, n, self.num_heads, head_dim)), (0, 2, 1, 3))

        q, k, v = ops.split(self.qkv(x), 3, axis=-1)
        attn = ops.softmax(ops.matmul(heads(q) * head_dim**-0.5, ops.transpose(heads(k), (0, 1, 3, 2))), axis=-1)
        out = ops.transpose(ops.matmul(attn, heads(v)), (0, 2, 1, 3))
        return self.proj(ops.reshape(out, (-1, n, dim)))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package="keras_vit_tests")
def exact_gelu(x):
    return keras.activations.gelu(x, approximate=False)


def build_toy_vit(image_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, dim=32, depth=2, heads=2, patch=8, seed=0):
    """A two-block ViT-like classifier taking raw pixels in [0, 255]."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(image_shape)
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(x)
    x = layers.Reshape((-1, dim))(x)
    for i in range(depth):
        x = x + ToyAttention(heads, name=f"attn{i}")(layers.LayerNormalization(epsilon=1e-6)(x))
        y = layers.Dense(dim * 2, activation=exact_gelu)(layers.LayerNormalization(epsilon=1e-6)(x))
        x = x + layers.Dense(dim)(y)
    x = layers.GlobalAveragePooling1D()(layers.LayerNormalization(epsilon=1e-6)(x))
    return keras.Model(inputs, layers.Dense(num_classes, name="head")(x), name="toy_vit")


@pytest.fixture(scope="session")
def toy_vit():
    return build_toy_vit()


@pytest.fixture(scope="session")
def tiny_vit():
    """keras_vit's smallest ViT at 32x32."""
    import keras_vit

    keras.utils.set_random_seed(0)
    return keras_vit.create_model(
        "vit_tiny_patch16_224", input_shape=IMAGE_SHAPE, patch_size=8, num_classes=NUM_CLASSES, depth=2
    )


@pytest.fixture(scope="session")
def pixel_data():
    """Seeded raw-pixel images with smooth structure (plain noise calibrates poorly)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (48, 4, 4, 3))
    images = np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)
    images = np.clip(images + rng.normal(0, 10, images.shape), 0, 255)
    return images.astype(np.float32)
