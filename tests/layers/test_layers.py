"""Shared building blocks: config round trips, shapes, and resampling against PyTorch."""
import keras
import numpy as np
import pytest

import keras_vit

from keras_vit import layers as kl
from tests.references import require

LAYERS = [
    (kl.DropPath, dict(rate=0.2, seed=1), (2, 5, 8)),
    (kl.LayerScale, dict(init_value=0.1), (2, 5, 8)),
    (kl.MLP, dict(hidden_dim=16, output_dim=4, activation="swish"), (2, 5, 8)),
    (kl.MultiHeadSelfAttention, dict(num_heads=2, qkv_bias=False, qk_scale=0.3), (2, 5, 8)),
    (kl.TransformerBlock, dict(num_heads=2, mlp_ratio=2.0, layer_scale_init=1e-5, drop_path_rate=0.1), (2, 5, 8)),
    (kl.PatchEmbedding, dict(patch_size=4, embed_dim=8), (2, 16, 16, 3)),
    (kl.ClassToken, dict(use_distillation_token=True), (2, 5, 8)),
    (kl.PositionEmbedding, dict(), (2, 5, 8)),
    (kl.Preprocessing, dict(mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7), channel_order="bgr"), (2, 4, 4, 3)),
    (kl.TokenPooling, dict(mode="avg", num_prefix_tokens=2), (2, 5, 8)),
]


@pytest.mark.parametrize("cls,kwargs,shape", LAYERS, ids=[c.__name__ for c, _, _ in LAYERS])
def test_config_round_trip_and_equal_outputs(cls, kwargs, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    layer = cls(**kwargs, name="layer")
    y = layer(x)
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x), y, atol=1e-6)
    assert tuple(layer.compute_output_shape(shape)) == tuple(y.shape)
    # Registered for .keras files.
    assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls


def test_attention_scores_are_probabilities():
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    out, scores = kl.MultiHeadSelfAttention(num_heads=2)(x, return_attention_scores=True)
    assert out.shape == (2, 5, 8) and scores.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(np.sum(scores, -1), 1.0, rtol=1e-5)


def test_drop_path_keeps_expectation():
    x = np.ones((4000, 3), "float32")
    y = np.asarray(kl.DropPath(0.25, seed=0)(x, training=True))
    dropped = (y == 0).all(-1).mean()
    assert 0.2 < dropped < 0.3
    assert abs(y.mean() - 1.0) < 0.05
    with pytest.raises(ValueError, match="rate"):
        kl.DropPath(1.0)


def test_preprocessing_matches_formula_and_checks_channels():
    x = np.random.default_rng(0).uniform(0, 255, (1, 2, 2, 3)).astype("float32")
    mean, std = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.6, 0.7])
    np.testing.assert_allclose(kl.Preprocessing(mean, std)(x), (x / 255 - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(kl.Preprocessing(mean, std, channel_order="bgr")(x), ((x / 255 - mean) / std)[..., ::-1], rtol=1e-5)
    with pytest.raises(ValueError, match="4 channels"):
        kl.Preprocessing(mean, std)(np.zeros((1, 2, 2, 4), "float32"))


@pytest.mark.parametrize("method,mode,antialias", [("bicubic_antialias", "bicubic", True), ("bicubic", "bicubic", False), ("bilinear", "bilinear", False)])
@pytest.mark.parametrize("size", [(24, 24), (10, 10), (7, 9)])
def test_resample_matches_torch(method, mode, antialias, size):
    torch = require("torch")
    grid = np.random.default_rng(0).normal(size=(14, 14, 6)).astype("float32")
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(grid).permute(2, 0, 1)[None], size=size, mode=mode, align_corners=False, antialias=antialias
    )[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(kl.resample_grid(grid, size, method), ref, atol=1e-5)


def test_resample_position_embedding_keeps_prefix():
    table = np.random.default_rng(0).normal(size=(1, 2 + 16, 4)).astype("float32")
    out = kl.resample_position_embedding(table, (6, 6), num_prefix_tokens=2)
    assert out.shape == (1, 38, 4)
    np.testing.assert_array_equal(out[:, :2], table[:, :2])
    with pytest.raises(ValueError, match="square grid"):
        kl.resample_position_embedding(table[:, :-1], (6, 6), num_prefix_tokens=2)
    with pytest.raises(ValueError, match="Unknown resampling method"):
        kl.resample_grid(table[0].reshape(3, 6, 4), (2, 2), "nearest")


def test_attention_over_a_single_token_is_its_value():
    x = np.random.default_rng(0).normal(size=(3, 1, 8)).astype("float32")
    layer = kl.MultiHeadSelfAttention(num_heads=2)
    out, scores = layer(x, return_attention_scores=True)
    np.testing.assert_array_equal(scores, np.ones((3, 2, 1, 1), "float32"))
    v = np.asarray(layer.qkv(x))[..., 16:]
    np.testing.assert_allclose(out, np.asarray(layer.proj(v)), atol=1e-6)


@pytest.mark.parametrize("std", [(0.5, 0.0, 0.5), (0.5, -1.0, 0.5), (float("nan"),) * 3])
def test_preprocessing_refuses_non_positive_std(std):
    with pytest.raises(ValueError, match="std must be positive"):
        kl.Preprocessing(mean=(0.5,) * 3, std=std)
    with pytest.raises(ValueError, match="std must be positive"):
        keras_vit.create_model("vit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=8, depth=1, std=std)
