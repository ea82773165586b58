"""CCT: parity with the official code (SHI-Labs/Compact-Transformers) through its fixtures.

``../shared/fixtures`` holds checkpoints made with the official code (random weights,
official key names), a fixed input and the official outputs. They load through
``create_model(name, weights=path)`` as they are; ``data/official_other_size.npz`` holds the
official code's logits for the same checkpoints at another input size (position table
resized bilinearly by the official ``pe_check``; see ``data/make_official_other_size.py``).
"""
import json
import pathlib

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.cct import CCTBlock, SequencePooling
from keras_vit.models.cct.convert import convert

FIXTURES = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
OTHER_SIZE = pathlib.Path(__file__).with_name("data") / "official_other_size.npz"
ATOL = 1e-4


def fixture(name):
    path = FIXTURES / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"fixture {path} not found")
    return path, dict(np.load(FIXTURES / f"{name}.npz")), json.loads((FIXTURES / f"{name}.json").read_text())


def model_kwargs(meta):
    """Our constructor overrides for a fixture's official CCT(...) arguments."""
    r = meta["constructor_kwargs"]["_resolved_CCT_kwargs"]
    return dict(
        embed_dim=r["embedding_dim"], depth=r["num_layers"], num_heads=r["num_heads"], mlp_ratio=float(r["mlp_ratio"]),
        num_conv_layers=r["n_conv_layers"], kernel_size=r["kernel_size"], conv_stride=r["stride"], conv_padding=r["padding"],
        num_classes=meta["num_classes"],
    )


def assert_close(actual, expected, atol=ATOL):
    diff = float(np.abs(np.asarray(actual) - expected).max())
    assert diff < atol, f"max abs diff {diff:.2e}"
    return diff


CASES = [("cct_7_3x1_32", "cct_7_3x1_32", 48), ("cct_14_7x2_224_reduced", "cct_14_7x2_224", 160)]


@pytest.mark.parametrize("fixture_name, name, _", CASES)
def test_official_fixture_parity(fixture_name, name, _):
    path, arrays, meta = fixture(fixture_name)
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, **model_kwargs(meta))
    x = arrays["input_nhwc"]
    assert_close(model.predict(x, verbose=0), arrays["logits"])
    # Intermediates: the tokenizer's tokens and the pooled features.
    tokens = keras.Model(model.inputs, model.get_layer("tokenizer_flatten").output).predict(x, verbose=0)
    assert_close(tokens, arrays["tokens"])
    pooled = keras.Model(model.inputs, model.get_layer("seq_pool").output).predict(x, verbose=0)
    assert_close(pooled, arrays["pre_logits"])


@pytest.mark.parametrize("fixture_name, name, size", CASES)
def test_official_parity_at_another_size(fixture_name, name, size):
    path, _, meta = fixture(fixture_name)
    expected = np.load(OTHER_SIZE)[f"{fixture_name}/{size}/logits"]
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, input_shape=(size, size, 3), **model_kwargs(meta))
    x = np.random.default_rng(12345).standard_normal((2, 3, size, size)).astype(np.float32).transpose(0, 2, 3, 1)
    assert_close(model.predict(x, verbose=0), expected)


def test_key_map_is_one_to_one():
    path, _, _ = fixture("cct_7_3x1_32")
    from safetensors.numpy import load_file

    state = load_file(str(path))
    arrays, layout = convert(state)
    assert layout == "official" and len(arrays) == len(state)
    model = keras_vit.create_model("cct_7_3x1_32", num_classes=10)
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
