"""CCT: parity with the official code (SHI-Labs/Compact-Transformers) through its fixtures.

``tests/fixtures/official`` holds small models made with the official code (random weights,
official key names; ``make_fixtures.py`` there writes them), a fixed input and the official
outputs, also at a second input size (position table resized bilinearly by the official
``pe_check``). They load through ``create_model(name, weights=path)`` as they are.
"""
import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.cct import CCTBlock, SequencePooling
from keras_vit.models.cct.convert import convert
from tests.references import OFFICIAL_FIXTURES, require_fixture

ATOL = 1e-4


def fixture(name):
    path = require_fixture(OFFICIAL_FIXTURES / f"{name}.safetensors")
    arrays = dict(np.load(require_fixture(OFFICIAL_FIXTURES / f"{name}.npz")))
    return path, arrays, json.loads(require_fixture(OFFICIAL_FIXTURES / f"{name}.json").read_text())


def model_kwargs(meta):
    """Our constructor overrides for a fixture's official CCT(...) arguments."""
    r = meta["constructor_kwargs"]["_resolved_CCT_kwargs"]
    return dict(
        embed_dim=r["embedding_dim"], depth=r["num_layers"], num_heads=r["num_heads"], mlp_ratio=float(r["mlp_ratio"]),
        num_conv_layers=r["n_conv_layers"], kernel_size=r["kernel_size"], conv_stride=r["stride"], conv_padding=r["padding"],
        num_classes=meta["num_classes"], input_shape=(*meta["image_size"], 3),
    )


def assert_close(actual, expected, atol=ATOL):
    diff = float(np.abs(np.asarray(actual) - expected).max())
    assert diff < atol, f"max abs diff {diff:.2e}"
    return diff


# fixture -> the registered name whose official constructor path it reduces
CASES = [("cct_7_3x1_32_reduced", "cct_7_3x1_32"), ("cct_14_7x2_reduced", "cct_14_7x2_224")]


@pytest.mark.parametrize("fixture_name, name", CASES)
def test_official_fixture_parity(fixture_name, name):
    path, arrays, meta = fixture(fixture_name)
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, **model_kwargs(meta))
    x = arrays["input_nhwc"]
    assert_close(model.predict(x, verbose=0), arrays["logits"])
    # Intermediates: the tokenizer's tokens and the pooled features.
    tokens = keras.Model(model.inputs, model.get_layer("tokenizer_flatten").output).predict(x, verbose=0)
    assert_close(tokens, arrays["tokens"])
    pooled = keras.Model(model.inputs, model.get_layer("seq_pool").output).predict(x, verbose=0)
    assert_close(pooled, arrays["pre_logits"])


@pytest.mark.parametrize("fixture_name, name", CASES)
def test_official_parity_at_another_size(fixture_name, name):
    path, arrays, meta = fixture(fixture_name)
    size = meta["other_size"]
    expected = arrays[f"logits_at_{size}"]
    kwargs = dict(model_kwargs(meta), input_shape=(size, size, 3))
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, **kwargs)
    x = np.random.default_rng(12345).standard_normal((2, 3, size, size)).astype(np.float32).transpose(0, 2, 3, 1)
    assert_close(model.predict(x, verbose=0), expected)


def test_key_map_is_one_to_one():
    path, _, meta = fixture("cct_7_3x1_32_reduced")
    from safetensors.numpy import load_file

    state = load_file(str(path))
    arrays, layout = convert(state)
    assert layout == "official" and len(arrays) == len(state)
    model = keras_vit.create_model("cct_7_3x1_32", **model_kwargs(meta))
    assert sorted(arrays) == sorted(v.path for v in model.weights)


def test_official_layer_order():
    """The MLP residual starts from the normalized tokens (norm2), unlike the ViT block."""
    block = CCTBlock(2, mlp_ratio=1.0, qkv_bias=False, layer_norm_epsilon=1e-5)
    x = np.random.default_rng(0).standard_normal((1, 4, 8)).astype("float32")
    y = np.asarray(block(x))
    h = x + np.asarray(block.attn(block.norm1(x)))
    h = np.asarray(block.norm2(h))
    np.testing.assert_allclose(y, h + np.asarray(block.mlp(h)), atol=1e-5)


def test_sequence_pooling_weights_sum_to_one():
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype("float32")
    pooled, weights = SequencePooling()(x, return_weights=True)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(pooled), np.einsum("bn,bnc->bc", np.asarray(weights), x), atol=1e-5)


def test_pooling_options():
    spec = keras_vit.get_model_spec("cct_2_3x2_32")
    tokens = keras_vit.create_model("cct_2_3x2_32", include_top=False, **spec.tiny)
    assert tokens.output_shape == (None, 64, 32)
    avg = keras_vit.create_model("cct_2_3x2_32", include_top=False, pooling="avg", **spec.tiny)
    assert avg.output_shape == (None, 32)
    with pytest.raises(ValueError, match="class token"):
        keras_vit.create_model("cct_2_3x2_32", pooling="token", **spec.tiny)


def test_features_follow_the_tokenizer():
    features = keras_vit.create_model("cct_14_7x2_224", features_only=True, depth=1, embed_dim=48, num_heads=2, input_shape=(64, 64, 3))
    assert [(i["name"], i["num_chs"], i["reduction"]) for i in features.feature_info] == [("P2", 64, 4), ("P4", 48, 16)]


def test_attention_maps_follow_the_sequence_pooling(tmp_path):
    """No class token: the rollout starts from the sequence-pooling weights."""
    from keras_vit.visualize import _pooling_weights, attention_rollout, attention_scores, save_attention_maps

    spec = keras_vit.get_model_spec("cct_2_3x2_32")
    model = keras_vit.create_model("cct_2_3x2_32", **spec.tiny)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    scores = attention_scores(model, x)
    weights = _pooling_weights(model, x)
    tokens = scores[0].shape[-1]
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    # By hand: head-averaged attention plus identity, renormalized, multiplied over blocks.
    rollout = np.eye(tokens)[None]
    for a in scores:
        a = a.mean(1) + np.eye(tokens)
        rollout = (a / a.sum(-1, keepdims=True)) @ rollout
    side = int(np.sqrt(tokens))
    expected = np.einsum("bn,bnm->bm", weights, rollout).reshape(2, side, side)
    np.testing.assert_allclose(attention_rollout(model, x), expected / expected.max(axis=(1, 2), keepdims=True), rtol=1e-5)
    assert open(save_attention_maps(model, x, str(tmp_path / "cct.png")), "rb").read(4) == b"\x89PNG"
