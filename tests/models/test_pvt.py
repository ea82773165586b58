"""PVT v1: parity with transformers' ``PvtForImageClassification`` (the layout of the hub
checkpoints) and with the official layout (whai362/PVT key names, LayerNorm epsilon 1e-5 in
the patch embeddings and the spatial reduction), at 224 and 256, and features against
transformers' hidden states.

transformers' ``interpolate_pos_encoding`` reshapes each table to the *new* grid before
resizing it, so its model fails at any size but the configured one. At 256 the reference is
therefore transformers built for 256 holding the 224 checkpoint's tables resized as the
official ``_get_pos_embed`` does (PyTorch bilinear, class token's row kept): what our
load-time hook must reproduce.
"""
import numpy as np
import pytest

import keras_vit
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
REDUCED = dict(depths=(2, 1, 1, 1), embed_dims=(16, 32, 40, 64))
ATOL = 1e-4


def assert_close(actual, expected):
    diff = np.abs(actual - expected).max()
    assert diff < ATOL, f"max abs diff {diff:.2e} (range {expected.min():.2f}..{expected.max():.2f})"


def _hf_config(image_size=224):
    transformers = require("transformers")
    return transformers.PvtConfig(
        image_size=image_size, depths=list(REDUCED["depths"]), hidden_sizes=list(REDUCED["embed_dims"]),
        num_attention_heads=[1, 2, 5, 8], num_labels=1000,
    )


@pytest.fixture(scope="module")
def hf_model():
    transformers = require("transformers")
    return randomize_torch_model(transformers.PvtForImageClassification(_hf_config()), seed=1)


def _resized_reference(model, size, official_eps=False):
    """The reference at ``size``: the 224 weights, tables resized as the official code does."""
    torch, transformers = require("torch"), require("transformers")
    state = model.state_dict()
    ref = transformers.PvtForImageClassification(_hf_config(size)).eval()
    for i, embed in enumerate(ref.pvt.encoder.patch_embeddings):
        key = f"pvt.encoder.patch_embeddings.{i}.position_embeddings"
        table, prefix = state[key], int(embed.cls_token is not None)
        old, new = int(round((table.shape[1] - prefix) ** 0.5)), int(round(embed.num_patches ** 0.5))
        grid = table[:, prefix:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
        grid = torch.nn.functional.interpolate(grid, size=(new, new), mode="bilinear").flatten(2).transpose(1, 2)
        state[key] = torch.cat([table[:, :prefix], grid], dim=1)
    ref.load_state_dict(state)
    return _official_eps(ref) if official_eps else ref


def _official_eps(model):
    """The official architecture: PyTorch's default epsilon in patch and reduction norms."""
    for embed in model.pvt.encoder.patch_embeddings:
        embed.layer_norm.eps = 1e-5
    for stage in model.pvt.encoder.block:
        for layer in stage:
            if hasattr(layer.attention.self, "layer_norm"):
                layer.attention.self.layer_norm.eps = 1e-5
    return model


def test_transformers_parity_224(hf_model, tmp_path):
    hf_model.save_pretrained(str(tmp_path))
    raw = random_images(size=224)
    ours = keras_vit.create_model("pvt_tiny", weights=str(tmp_path), **REDUCED)
    assert ours.get_layer("patch_embed1_norm").epsilon == 1e-6
    assert_close(ours.predict(raw, verbose=0), torch_forward(hf_model, normalize(raw, **IMAGENET)))


def test_transformers_parity_256(hf_model, tmp_path):
    hf_model.save_pretrained(str(tmp_path))
    x = normalize(random_images(size=256), **IMAGENET)
    ours = keras_vit.create_model("pvt_tiny", weights=str(tmp_path), input_shape=(256, 256, 3), include_preprocessing=False, **REDUCED)
    assert ours.get_layer("pos_embed4").pos_embed.shape == (1, 1 + 8 * 8, 64)
    assert_close(ours.predict(x, verbose=0), torch_forward(_resized_reference(hf_model, 256), x))


def _to_official(state, depths):
    """transformers' keys back to the official ones (the inverse of its conversion script)."""
    torch = require("torch")
    out = {}
    for key, value in state.items():
        k = key.removeprefix("pvt.encoder.")
        for i in range(len(depths)):
            k = k.replace(f"patch_embeddings.{i}.position_embeddings", f"pos_embed{i + 1}")
            k = k.replace(f"patch_embeddings.{i}.cls_token", "cls_token")
            k = k.replace(f"patch_embeddings.{i}.", f"patch_embed{i + 1}.").replace(f"block.{i}.", f"block{i + 1}.")
        for old, new in (("projection", "proj"), ("layer_norm_1", "norm1"), ("layer_norm_2", "norm2"),
                         ("attention.self.query", "attn.q"), ("attention.self.sequence_reduction", "attn.sr"),
                         ("attention.self.layer_norm", "attn.norm"), ("attention.output.dense", "attn.proj"),
                         ("mlp.dense1", "mlp.fc1"), ("mlp.dense2", "mlp.fc2"), ("classifier", "head")):
            k = k.replace(old, new)
        k = {"layer_norm.weight": "norm.weight", "layer_norm.bias": "norm.bias"}.get(k, k)
        k = k.replace(".layer_norm.", ".norm.")
        out[k] = value
    for k in [k for k in out if ".attention.self.key." in k]:
        v = k.replace(".key.", ".value.")
        out[k.replace("attention.self.key", "attn.kv")] = torch.cat([out.pop(k), out.pop(v)], dim=0)
    return out


@pytest.mark.parametrize("size", [224, 256])
def test_official_parity(hf_model, tmp_path, size):
    torch = require("torch")
    state = _to_official(hf_model.state_dict(), REDUCED["depths"])
    assert "block1.0.attn.kv.weight" in state and "pos_embed4" in state and "patch_embed2.norm.bias" in state
    path = tmp_path / "pvt_tiny.pth"
    torch.save(state, str(path))
    ref = _resized_reference(hf_model, size, official_eps=True)
    x = normalize(random_images(size=size), **IMAGENET)
    ours = keras_vit.create_model("pvt_tiny", weights=str(path), input_shape=(size, size, 3), include_preprocessing=False, **REDUCED)
    assert ours.get_layer("patch_embed1_norm").epsilon == 1e-5
    assert_close(ours.predict(x, verbose=0), torch_forward(ref, x))


def test_features_match_transformers_hidden_states(hf_model, tmp_path):
    torch = require("torch")
    hf_model.save_pretrained(str(tmp_path))
    x = normalize(random_images(size=224), **IMAGENET)
    with torch.no_grad():
        hidden = hf_model(torch.from_numpy(x.transpose(0, 3, 1, 2)), output_hidden_states=True).hidden_states
    # One hidden state per block, then the normalized last stage: each stage's last block.
    ends = np.cumsum(REDUCED["depths"]) - 1
    stage_tokens = [hidden[e].numpy() for e in ends[:-1]] + [hidden[-1].numpy()[:, 1:]]
    features = keras_vit.create_model("pvt_tiny", weights=str(tmp_path), features_only=True, include_preprocessing=False, **REDUCED)
    out = features.predict(x, verbose=0)
    assert [i["name"] for i in features.feature_info] == ["P2", "P3", "P4", "P5"]
    assert [i["num_chs"] for i in features.feature_info] == list(REDUCED["embed_dims"])
    for level, tokens, side in zip(("P2", "P3", "P4", "P5"), stage_tokens, (56, 28, 14, 7)):
        assert_close(out[level], tokens.reshape(2, side, side, -1))


def test_bilinear_table_resampling_is_pytorch():
    torch = require("torch")
    from keras_vit.layers import resample_position_embedding

    table = np.random.default_rng(0).normal(size=(1, 1 + 7 * 7, 5)).astype(np.float32)
    for new in ((8, 8), (5, 9)):
        grid = torch.from_numpy(table[:, 1:]).reshape(1, 7, 7, 5).permute(0, 3, 1, 2)
        want = torch.nn.functional.interpolate(grid, size=new, mode="bilinear").flatten(2).transpose(1, 2).numpy()
        got = resample_position_embedding(table, new, num_prefix_tokens=1, method="bilinear")
        np.testing.assert_allclose(got[:, 1:], want, atol=1e-6)
        np.testing.assert_array_equal(got[:, :1], table[:, :1])
