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


@pytest.mark.parametrize("name", ["fastvit_t8", "mobilevitv2_050"])
def test_hybrid_families_with_attention_get_maps(tmp_path, name):
    from keras_vit.visualize import attention_received

    import keras

    spec = keras_vit.get_model_spec(name)
    keras.utils.set_random_seed(0)
    # 128 px: MobileViT v2's last transformer then runs on a 2x2 grid of patches, not one.
    model = keras_vit.create_model(name, **{**spec.tiny, "input_shape": (128, 128, 3)})
    # Random tiny weights leave FastViT's attention almost uniform (its map then varies by 1e-5,
    # constant to np.allclose on some CPUs): sharper queries and keys give the map a shape.
    for variable in model.weights:
        if variable.path.endswith("qkv/kernel"):
            variable.assign(variable * 30.0)
    size = model.inputs[0].shape[1]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    maps = attention_received(model, x)
    assert maps.ndim == 3 and len(maps) == 2 and np.isfinite(maps).all()
    assert np.allclose(maps.max(axis=(1, 2)), 1.0) and maps.min() >= 0
    assert maps[0].max() - maps[0].min() > 0.01  # a map, not a constant
    path = save_attention_maps(model, x, str(tmp_path / f"{name}.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_fastvit_map_is_the_attention_its_last_layer_receives():
    # Independent of attention_received's bookkeeping: the last Attention layer's probabilities,
    # averaged over heads and queries, on the positions of the map it attends over.
    import keras

    from keras_vit.layers import Attention
    from keras_vit.visualize import attention_received

    spec = keras_vit.get_model_spec("fastvit_t8")
    model = keras_vit.create_model("fastvit_t8", **spec.tiny)
    size = model.inputs[0].shape[1]
    x = np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype("float32")
    layer = [l for l in model.layers if isinstance(l, Attention)][-1]
    tokens = keras.Model(model.inputs[0], layer.input)(x)
    probs = np.asarray(layer(tokens, return_attention_scores=True)[1])
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    want = probs.mean(axis=(1, 2))[0]
    got = attention_received(model, x)[0].ravel()
    np.testing.assert_allclose(got, want / want.max(), rtol=1e-5)


def test_models_without_attention_probabilities_get_a_clear_error(tmp_path):
    spec = keras_vit.get_model_spec("efficientvit_b0")  # ReLU linear attention: no probabilities
    model = keras_vit.create_model("efficientvit_b0", **spec.tiny)
    size = model.inputs[0].shape[1]
    with pytest.raises(ValueError, match="ViT and DeiT"):
        save_attention_maps(model, np.zeros((1, size, size, 3), "float32"), str(tmp_path / "x.png"))
