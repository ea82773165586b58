"""The shared Attention layer against a NumPy implementation of every extension point,
and the relative position helpers against timm's."""
import numpy as np
import pytest
from keras import layers

from keras_vit.layers import Attention, RelativePositionBias, TransformerBlock, relative_position_index, resize_relative_position_table
from tests.references import require

RNG = np.random.default_rng(0)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def heads(x, h):
    b, n, c = x.shape
    return x.reshape(b, n, h, c // h).transpose(0, 2, 1, 3)


def reference(q, k, v, h, scale, bias=None, proj=None):
    """Multi-head attention on already projected (B, N, C) q and (B, M, C) k, v."""
    scores = heads(q, h) @ heads(k, h).transpose(0, 1, 3, 2) * scale
    if bias is not None:
        scores = scores + bias
    probs = softmax(scores)
    out = (probs @ heads(v, h)).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], -1)
    return out @ proj[0] + proj[1], probs


def randomize(layer):
    layer.set_weights([RNG.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.get_weights()])


def test_fused_qkv_with_q_and_v_bias_only():
    x = RNG.standard_normal((2, 5, 8)).astype("float32")
    attn = Attention(2, qkv_bias=(True, False, True))
    attn(x)
    randomize(attn)
    assert attn.k_bias is None and {v.name for v in attn.weights} >= {"q_bias", "v_bias"}
    w = attn.qkv.kernel.numpy()
    qkv = x @ w + np.concatenate([attn.q_bias.numpy(), np.zeros(8, "float32"), attn.v_bias.numpy()])
    q, k, v = np.split(qkv, 3, axis=-1)
    expected, probs = reference(q, k, v, 2, 4**-0.5, proj=(attn.proj.kernel.numpy(), attn.proj.bias.numpy()))
    out, scores = attn(x, return_attention_scores=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(scores, probs, atol=1e-6)


def test_bias_and_masks():
    x = RNG.standard_normal((4, 6, 8)).astype("float32")
    attn = Attention(2, qkv_bias=False)
    attn(x)
    randomize(attn)
    q, k, v = np.split(x @ attn.qkv.kernel.numpy(), 3, axis=-1)
    proj = (attn.proj.kernel.numpy(), attn.proj.bias.numpy())
    bias = RNG.standard_normal((1, 2, 6, 6)).astype("float32")
    np.testing.assert_allclose(attn(x, attention_bias=bias), reference(q, k, v, 2, 0.5, bias, proj)[0], atol=1e-5)
    # A boolean mask (True = attend) and its additive form give the same result.
    allowed = RNG.uniform(size=(6, 6)) > 0.3
    allowed[np.arange(6), np.arange(6)] = True
    additive = np.where(allowed, 0.0, -1e9).astype("float32")
    expected = reference(q, k, v, 2, 0.5, additive, proj)[0]
    np.testing.assert_allclose(attn(x, attention_mask=allowed), expected, atol=1e-5)
    np.testing.assert_allclose(attn(x, attention_mask=additive), expected, atol=1e-5)
    # A (G, N, M) mask applies to groups of G consecutive batch entries (windows of an image).
    grouped = np.stack([np.zeros((6, 6)), -100.0 * (1 - np.eye(6))]).astype("float32")
    per_entry = np.concatenate([grouped, grouped])[:, None]
    np.testing.assert_allclose(attn(x, attention_mask=grouped), reference(q, k, v, 2, 0.5, per_entry, proj)[0], atol=1e-5)


class SpatialReduction(layers.Layer):
    """A key/value step in PVT's style: average pairs of tokens (halves M)."""

    def call(self, x, training=None):
        return (x[:, 0::2] + x[:, 1::2]) / 2

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // 2, input_shape[2])


class TwoInputs(layers.Layer):
    """A key/value step returning separate key and value inputs (CvT's convolutions)."""

    def call(self, x, training=None):
        return x[:, ::2] * 2.0, x[:, 1::2] - 1.0

    def compute_output_shape(self, input_shape):
        half = (input_shape[0], input_shape[1] // 2, input_shape[2])
        return half, half


def test_key_value_steps_and_projection_layouts():
    x = RNG.standard_normal((2, 6, 8)).astype("float32")
    attn = Attention(2, projection="q_kv", key_value_step=SpatialReduction())
    attn(x)
    randomize(attn)
    kv_in = (x[:, 0::2] + x[:, 1::2]) / 2
    q = x @ attn.q.kernel.numpy() + attn.q.bias.numpy()
    k, v = np.split(kv_in @ attn.kv.kernel.numpy() + attn.kv.bias.numpy(), 2, axis=-1)
    expected, probs = reference(q, k, v, 2, 0.5, proj=(attn.proj.kernel.numpy(), attn.proj.bias.numpy()))
    out, scores = attn(x, return_attention_scores=True)
    assert scores.shape == (2, 2, 6, 3)
    np.testing.assert_allclose(out, expected, atol=1e-5)

    attn = Attention(2, projection="q_k_v", key_value_step=TwoInputs(), qkv_bias=(False, True, True), dim=4)
    attn(x)
    randomize(attn)
    assert attn.q.bias is None
    q = x @ attn.q.kernel.numpy()
    k = (x[:, ::2] * 2.0) @ attn.k.kernel.numpy() + attn.k.bias.numpy()
    v = (x[:, 1::2] - 1.0) @ attn.v.kernel.numpy() + attn.v.bias.numpy()
    expected, _ = reference(q, k, v, 2, 2**-0.5, proj=(attn.proj.kernel.numpy(), attn.proj.bias.numpy()))
    np.testing.assert_allclose(attn(x), expected, atol=1e-5)
    assert attn(x).shape == (2, 6, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs separate projections"):
        Attention(2, key_value_step=SpatialReduction())
    with pytest.raises(ValueError, match="projection must be one of"):
        Attention(2, projection="qk_v")
    with pytest.raises(ValueError, match="three bools"):
        Attention(2, qkv_bias=(True, False))
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        Attention(3)(np.zeros((1, 2, 8), "float32"))


def test_relative_position_bias_and_block_round_trip():
    x = RNG.standard_normal((2, 5, 8)).astype("float32")
    bias = RelativePositionBias((2, 2), 2, num_prefix_tokens=1)
    block = TransformerBlock(2, attention=Attention(2, qkv_bias=(True, False, True), position_bias=bias))
    y = block(x)
    table = bias.relative_position_bias_table.numpy()
    index = relative_position_index((2, 2), 1)
    np.testing.assert_allclose(bias.bias(), table[index.reshape(-1)].reshape(5, 5, 2).transpose(2, 0, 1))
    clone = TransformerBlock.from_config(block.get_config())
    clone(x)
    clone.set_weights(block.get_weights())
    np.testing.assert_array_equal(clone(x), y)
    assert [w.path for w in clone.weights] == [w.path for w in block.weights]
    assert "transformer_block/attn/relative_position_bias/relative_position_bias_table" in [w.path for w in block.weights]


@pytest.mark.parametrize("old, new, cls", [((14, 14), (24, 24), True), ((7, 7), (12, 12), False), ((12, 12), (7, 7), False)])
def test_relative_tables_match_timm(old, new, cls):
    torch = require("torch")
    require("timm")
    from timm.layers.pos_embed_rel import gen_relative_position_index, resize_rel_pos_bias_table

    rows = (2 * old[0] - 1) * (2 * old[1] - 1) + 3 * cls
    table = torch.randn(rows, 3, generator=torch.Generator().manual_seed(0))
    new_rows = (2 * new[0] - 1) * (2 * new[1] - 1) + 3 * cls
    expected = resize_rel_pos_bias_table(table, new, (new_rows, 3)).numpy()
    ours = resize_relative_position_table(table.numpy(), new, num_extra_tokens=3 * cls)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_array_equal(relative_position_index(new, int(cls)), gen_relative_position_index(new, class_token=cls).numpy())
