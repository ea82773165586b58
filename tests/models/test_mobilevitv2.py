"""MobileViT v2: parity with timm (tiny config and mobilevitv2_050, multiples of the patch
and sizes that are not), the ml-cvnets key map, context scores, the family's layers against
PyTorch's ops, and checkpoint errors. Building, saving, mixed precision and float32 TFLite
conversion are the registry-wide test's (tests/test_registry.py).

Reference models get random parameters *and* random BatchNorm running statistics, are
saved as safetensors and loaded through ``create_model(name, weights=path)``.
"""
import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.mobilevitv2 import AlignedResize, GroupNorm1, LinearSelfAttention, PatchFold, PatchUnfold
from tests.references import randomize_torch_model, require

NAME = "mobilevitv2_050"
RTOL = 1e-4  # of the logits' range


def images(size, batch=2, seed=0):
    """Raw RGB pixels in [0, 255] as uint8, NHWC."""
    return np.random.default_rng(seed).integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)


def torch_logits(model, x_nhwc):
    torch = require("torch")
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


def assert_close(actual, expected, rtol=RTOL):
    scale = float(expected.max() - expected.min())
    diff = float(np.abs(actual - expected).max())
    assert diff <= rtol * scale, f"max abs diff {diff:.2e} (logit range {scale:.2f})"
    assert np.array_equal(actual.argmax(-1), expected.argmax(-1))
    return diff / scale


def timm_tiny(num_classes):
    """timm's ByobNet built from the same blocks as mobilevitv2_*, at our TINY widths."""
    require("timm")
    from timm.models.byobnet import ByobNet, ByoModelCfg
    from timm.models.mobilevit import _inverted_residual_block, _mobilevitv2_block

    tiny = keras_vit.get_model_spec(NAME).tiny
    c, (d0, d1), depths = tiny["channels"], tiny["block_depths"], tiny["transformer_depths"]
    cfg = ByoModelCfg(
        blocks=(
            _inverted_residual_block(d=d0, c=c[0], s=1, br=2.0),
            _inverted_residual_block(d=d1, c=c[1], s=2, br=2.0),
            *(_mobilevitv2_block(d=1, c=c[k + 2], s=2, transformer_depth=depths[k]) for k in range(3)),
        ),
        stem_chs=tiny["stem_channels"], stem_type="3x3", stem_pool="", downsample="", act_layer="silu",
    )
    return ByobNet(cfg, num_classes=num_classes)


def save(model, directory, seed=0):
    from safetensors.torch import save_file

    model = randomize_torch_model(model, seed=seed)
    path = directory / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    classes = keras_vit.get_model_spec(NAME).tiny["num_classes"]
    return save(timm_tiny(classes), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    timm = require("timm")
    return save(timm.create_model(NAME, pretrained=False), tmp_path_factory.mktemp("timm"), seed=1)


# 64: every map a multiple of the patch; 40: odd maps at strides 16 and 32 (5x5, 3x3), which
# the references resize up (aligned corners) before the block, and keep larger.
@pytest.mark.slow
@pytest.mark.parametrize("size", [64, 40])
def test_tiny_parity(tiny_checkpoint, size):
    ref, path = tiny_checkpoint
    tiny = keras_vit.get_model_spec(NAME).tiny
    model = keras_vit.create_model(NAME, weights=str(path), **{**tiny, "input_shape": (size, size, 3)})
    raw = images(size)
    # With in-model preprocessing: the timm layout takes RGB in [0, 1].
    assert_close(keras.ops.convert_to_numpy(model(raw, training=False)), torch_logits(ref, raw.astype(np.float32) / 255.0))


@pytest.mark.slow
@pytest.mark.parametrize("size", [96])  # 3x3 last map: the last block resizes it to 4x4
def test_timm_parity(timm_checkpoint, size):
    ref, path = timm_checkpoint
    model = keras_vit.create_model(NAME, weights=str(path), input_shape=(size, size, 3))
    raw = images(size)
    assert_close(keras.ops.convert_to_numpy(model(raw, training=False)), torch_logits(ref, raw.astype(np.float32) / 255.0))


def _cvnets_from_timm(state):
    """The same weights under Apple ml-cvnets' key names.

    Written from ml-cvnets' module tree (cvnets/models/classification/mobilevit_v2.py,
    cvnets/modules/mobilevit_block.py MobileViTBlockv2, transformer.py LinearAttnFFN,
    layers/linear_attention.py), independently of the converter: ConvLayer2d is
    ``block.conv``/``block.norm``, stages are ``layer_1..5``, a block's ``local_rep`` is
    (depthwise 3x3, 1x1), ``global_rep`` holds the transformers and then the final GroupNorm.
    """
    import re

    rename = [
        (r"^stem\.conv\.", "conv_1.block.conv."), (r"^stem\.bn\.", "conv_1.block.norm."), (r"^head\.fc\.", "classifier.1."),
        (r"^stages\.(\d)\.(\d)\.conv1_1x1\.(conv|bn)\.", "layer_{s}.{1}.block.exp_1x1.block.{c}."),
        (r"^stages\.(\d)\.(\d)\.conv2_kxk\.(conv|bn)\.", "layer_{s}.{1}.block.conv_3x3.block.{c}."),
        (r"^stages\.(\d)\.(\d)\.conv3_1x1\.(conv|bn)\.", "layer_{s}.{1}.block.red_1x1.block.{c}."),
        (r"^stages\.(\d)\.1\.conv_kxk\.(conv|bn)\.", "layer_{s}.1.local_rep.0.block.{c}."),
        (r"^stages\.(\d)\.1\.conv_1x1\.", "layer_{s}.1.local_rep.1.block.conv."),
        (r"^stages\.(\d)\.1\.conv_proj\.(conv|bn)\.", "layer_{s}.1.conv_proj.block.{c}."),
        (r"^stages\.(\d)\.1\.transformer\.(\d)\.norm1\.", "layer_{s}.1.global_rep.{1}.pre_norm_attn.0."),
        (r"^stages\.(\d)\.1\.transformer\.(\d)\.attn\.(qkv_proj|out_proj)\.", "layer_{s}.1.global_rep.{1}.pre_norm_attn.1.{2}.block.conv."),
        (r"^stages\.(\d)\.1\.transformer\.(\d)\.norm2\.", "layer_{s}.1.global_rep.{1}.pre_norm_ffn.0."),
        (r"^stages\.(\d)\.1\.transformer\.(\d)\.mlp\.fc1\.", "layer_{s}.1.global_rep.{1}.pre_norm_ffn.1.block.conv."),
        (r"^stages\.(\d)\.1\.transformer\.(\d)\.mlp\.fc2\.", "layer_{s}.1.global_rep.{1}.pre_norm_ffn.3.block.conv."),
    ]
    depths = {}
    for key in state:
        found = re.match(r"^stages\.(\d)\.1\.transformer\.(\d)\.", key)
        if found:
            depths[found[1]] = max(depths.get(found[1], 0), int(found[2]) + 1)
    out = {}
    for key, value in state.items():
        found = re.match(r"^stages\.(\d)\.1\.norm\.", key)
        if found:  # the final GroupNorm is global_rep's last entry
            out[f"layer_{int(found[1]) + 1}.1.global_rep.{depths[found[1]]}.{key.rsplit('.', 1)[1]}"] = value
            continue
        for pattern, target in rename:
            found = re.match(pattern, key)
            if found:
                groups = found.groups()
                names = dict(s=int(groups[0]) + 1 if pattern.startswith("^stages") else None,
                             c={"conv": "conv", "bn": "norm"}.get(groups[-1]) if groups else None)
                out[target.format(*groups, **names) + key[found.end():]] = value
                break
        else:
            raise AssertionError(f"no ml-cvnets name for {key}")
    return out


@pytest.mark.slow
def test_cvnets_layout(tiny_checkpoint, tmp_path):
    """A checkpoint under ml-cvnets' key names loads to the same network as timm's."""
    torch = require("torch")
    ref, _ = tiny_checkpoint
    path = tmp_path / "mobilevitv2.pt"
    torch.save(_cvnets_from_timm(ref.state_dict()), str(path))
    tiny = keras_vit.get_model_spec(NAME).tiny
    model = keras_vit.create_model(NAME, weights=str(path), include_preprocessing=False, **tiny)
    x = images(64).astype(np.float32) / 255.0
    assert_close(keras.ops.convert_to_numpy(model(x, training=False)), torch_logits(ref, x))


@pytest.mark.slow
def test_context_scores_match_timm(tiny_checkpoint):
    """context_scores(model) equals the softmax over patches inside timm's attention."""
    torch = require("torch")
    from keras_vit.models.mobilevitv2 import context_scores

    ref, path = tiny_checkpoint
    model = keras_vit.create_model(NAME, weights=str(path), **keras_vit.get_model_spec(NAME).tiny)
    raw = images(64)
    captured = []
    hooks = [module.qkv_proj.register_forward_hook(lambda m, i, out: captured.append(torch.softmax(out[:, 0], dim=-1).numpy()))
             for module in ref.modules() if hasattr(module, "qkv_proj")]
    torch_logits(ref, raw.astype(np.float32) / 255.0)
    for hook in hooks:
        hook.remove()
    scores = context_scores(model, raw)
    assert list(scores) == [f"stages_{s}_1_transformer_0" for s in (2, 3, 4)]
    assert [v.shape for v in scores.values()] == [(2, 4, 4, 4), (2, 4, 2, 2), (2, 4, 1, 1)]
    for ours, expected in zip(scores.values(), captured):
        np.testing.assert_allclose(ours.reshape(expected.shape), expected, atol=1e-5)
        np.testing.assert_allclose(ours.sum(axis=(2, 3)), 1.0, atol=1e-5)


def test_linear_self_attention_and_context_scores_match_timm():
    """Our (B, P, N, C) attention equals timm's on (B, C, P, N), and the scores are its softmax."""
    torch = require("torch")
    require("timm")
    from timm.models.mobilevit import LinearSelfAttention as Reference

    dim, pixels, patches = 16, 4, 9
    ref = randomize_torch_model(Reference(dim), seed=2).eval()
    x = np.random.default_rng(0).standard_normal((2, pixels, patches, dim)).astype(np.float32)
    layer = LinearSelfAttention()
    layer(x)
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    layer.qkv_proj.set_weights([state["qkv_proj.weight"][:, :, 0, 0].T, state["qkv_proj.bias"]])
    layer.out_proj.set_weights([state["out_proj.weight"][:, :, 0, 0].T, state["out_proj.bias"]])
    out, scores = layer(x, return_attention_scores=True)
    torch_x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        expected = ref(torch_x).numpy().transpose(0, 2, 3, 1)
        expected_scores = torch.softmax(ref.qkv_proj(torch_x)[:, 0], dim=-1).numpy()
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(scores), expected_scores, atol=1e-6)
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, atol=1e-5)


def test_group_norm_and_aligned_resize_match_torch():
    torch = require("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 6)).astype(np.float32) * 3 + 1
    norm = GroupNorm1(epsilon=1e-5)
    norm(x)
    gamma, beta = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    norm.set_weights([gamma, beta])
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    expected = torch.nn.functional.group_norm(tx, 1, torch.from_numpy(gamma), torch.from_numpy(beta), 1e-5)
    np.testing.assert_allclose(np.asarray(norm(x)), expected.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    for size in [(6, 8), (10, 7), (1, 3)]:
        expected = torch.nn.functional.interpolate(tx, size=size, mode="bilinear", align_corners=True)
        np.testing.assert_allclose(np.asarray(AlignedResize(size)(x)), expected.numpy().transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("size, patch", [((8, 8), 2), ((4, 6), (2, 3))])
def test_unfold_order_and_fold_inverse(size, patch):
    """Pixel (i, j) of patch (r, c) is sequence i * pw + j, token r * (W / pw) + c (timm's order)."""
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    x = np.random.default_rng(0).standard_normal((2,) + size + (3,)).astype(np.float32)
    unfolded = np.asarray(PatchUnfold(patch)(x))
    nw = size[1] // pw
    assert unfolded.shape == (2, ph * pw, (size[0] // ph) * nw, 3)
    for i, j, r, c in [(0, 0, 0, 0), (1, 0, 0, 1), (ph - 1, pw - 1, size[0] // ph - 1, nw - 1), (0, pw - 1, 1, 0)]:
        np.testing.assert_array_equal(unfolded[:, i * pw + j, r * nw + c], x[:, r * ph + i, c * pw + j])
    np.testing.assert_array_equal(np.asarray(PatchFold(patch, output_size=size)(unfolded)), x)


def test_layer_configs_round_trip():
    from keras_vit.models.mobilevitv2 import LinearTransformerBlock

    for layer in (GroupNorm1(1e-6, name="n"), LinearSelfAttention(0.1, 0.2, name="a"), PatchUnfold((2, 3), name="u"),
                  PatchFold(2, output_size=(4, 6), name="f"), AlignedResize((6, 8), name="r"),
                  LinearTransformerBlock(mlp_ratio=3.0, drop_path_rate=0.1, name="t")):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="multiple of the patch"):
        PatchUnfold(2)(np.zeros((1, 5, 4, 3), np.float32))


def test_transformer_weight_paths():
    """The paths the converter writes to (``stages_{s}_1_transformer_{i}/...``)."""
    model = keras_vit.create_model(NAME, input_shape=(64, 64, 3))
    paths = [w.path for w in model.weights if w.path.startswith("stages_2_1_transformer_0/")]
    assert paths == [f"stages_2_1_transformer_0/{p}" for p in (
        "norm1/gamma", "norm1/beta", "attn/qkv_proj/kernel", "attn/qkv_proj/bias", "attn/out_proj/kernel", "attn/out_proj/bias",
        "norm2/gamma", "norm2/beta", "mlp/fc1/kernel", "mlp/fc1/bias", "mlp/fc2/kernel", "mlp/fc2/bias")]


def test_foreign_checkpoints_are_errors(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.weird.weight": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match="MobileViT v2"):
        keras_vit.create_model(NAME, weights=str(path), **keras_vit.get_model_spec(NAME).tiny)
    # A MobileViT (v1) checkpoint is not taken for a v2 one.
    v1 = {"stem.conv.weight": np.zeros((16, 3, 3, 3), np.float32), "stages.2.1.transformer.0.attn.qkv.weight": np.zeros((192, 64), np.float32)}
    save_file(v1, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match="MobileViT v2"):
        keras_vit.create_model(NAME, weights=str(path), **keras_vit.get_model_spec(NAME).tiny)
