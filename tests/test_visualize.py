"""Attention maps."""
import warnings

import numpy as np
import pytest

import keras_vit
from keras_vit.visualize import attention_rollout, attention_scores, save_attention_maps

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


def test_scores_rollout_and_png(tmp_path):
    model = keras_vit.create_model("vit_tiny_patch16_224", **TINY)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    scores = attention_scores(model, x)
    assert len(scores) == 2 and scores[0].shape == (2, 2, 17, 17)
    np.testing.assert_allclose(scores[1].sum(-1), 1.0, rtol=1e-5)
    maps = attention_rollout(model, x)
    assert maps.shape == (2, 4, 4) and np.isclose(maps.max(), 1.0) and maps.min() >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Keras input-structure warning on every call
        path = save_attention_maps(model, x, str(tmp_path / "attention.png"), titles=["a", "b"])
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_rollout_needs_a_class_token():
    model = keras_vit.create_model("vit_tiny_patch16_224", class_token=False, global_pool="avg", **TINY)
    with pytest.raises(ValueError, match="class token"):
        attention_rollout(model, np.zeros((1, 32, 32, 3), "float32"))


def test_hybrid_models_get_a_clear_error():
    model = keras_vit.create_model("mobilevit_xxs", input_shape=(64, 64, 3), num_classes=3)
    with pytest.raises(ValueError, match="ViT and DeiT"):
        attention_scores(model, np.zeros((1, 64, 64, 3), "float32"))
