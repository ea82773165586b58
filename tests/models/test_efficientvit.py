"""EfficientViT (MIT, timm's ``efficientvit_b*``): parity with timm, the head's and the
pyramid's outputs against timm's, the float32 linear attention, and TFLite conversion.

Reference models get random parameters *and* random BatchNorm running statistics, are
saved as safetensors and loaded through ``create_model(name, weights=path)``.
"""
import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.efficientvit import ReLULinearAttention
from keras_vit.models.efficientvit.model import features
from tests.references import randomize_torch_model, require

NAME = "efficientvit_b0"
RTOL = 1e-4  # of the logits' range
ARCH_KEYS = ("widths", "depths", "head_dim", "head_widths")


def images(size, batch=2, seed=0):
    """Raw RGB pixels in [0, 255] as float32, NHWC."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)


def normalized(x):
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    return ((x / 255.0 - mean) / std).astype(np.float32)


def to_torch(x_nhwc):
    torch = require("torch")
    return torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = np.abs(actual - expected).max()
    scale = expected.max() - expected.min()
    assert diff <= rtol * scale, f"max abs diff {diff:.2e} (range {expected.min():.2f}..{expected.max():.2f})"


def _checkpoint(model, directory):
    from safetensors.torch import save_file

    path = directory / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """timm's EfficientVit in our TINY configuration, randomized."""
    require("timm")
    from timm.models.efficientvit_mit import EfficientVit

    tiny = keras_vit.get_model_spec(NAME).tiny
    model = randomize_torch_model(EfficientVit(**{k: tiny[k] for k in ARCH_KEYS}, num_classes=tiny["num_classes"]))
    return _checkpoint(model, tmp_path_factory.mktemp("tiny")), model


def tiny_ours(path, size=64, **kwargs):
    tiny = dict(keras_vit.get_model_spec(NAME).tiny, input_shape=(size, size, 3))
    return keras_vit.create_model(NAME, weights=str(path), **{**tiny, **kwargs})


@pytest.mark.parametrize("size", [64, 96])
def test_tiny_timm_parity(tiny_checkpoint, size):
    path, ref = tiny_checkpoint
    x = images(size)
    with require("torch").no_grad():
        expected = ref(to_torch(normalized(x))).numpy()
    # Raw pixels into our model (in-model ImageNet normalization), normalized ones into timm's.
    got = tiny_ours(path, size).predict(x, verbose=0)
    assert_close(got, expected)
    assert np.array_equal(got.argmax(-1), expected.argmax(-1))


def test_head_and_pyramid_match_timm(tiny_checkpoint):
    """``pooling=None`` is timm's forward_features, ``pooling="avg"`` its pre-logits, and the
    feature pyramid its forward_intermediates with timm's feature_info."""
    torch = require("torch")
    path, ref = tiny_checkpoint
    x = normalized(images(64))
    with torch.no_grad():
        feats = ref.forward_features(to_torch(x))
        pre_logits = ref.forward_head(feats, pre_logits=True).numpy()
        stages = ref.forward_intermediates(to_torch(x), intermediates_only=True)
    full = tiny_ours(path, include_preprocessing=False)
    # A headless map model has no place for the head's MLP, which the loader refuses as
    # unexpected: take its weights from the full model by path.
    backbone = keras_vit.create_model(NAME, **dict(keras_vit.get_model_spec(NAME).tiny, include_preprocessing=False, include_top=False))
    weights = {w.path: w for w in full.weights}
    for w in backbone.weights:
        w.assign(weights[w.path])
    assert_close(backbone.predict(x, verbose=0), feats.numpy().transpose(0, 2, 3, 1))
    assert_close(tiny_ours(path, include_preprocessing=False, include_top=False, pooling="avg").predict(x, verbose=0), pre_logits)
    pyramid = features(full)
    assert [(i["num_chs"], i["reduction"]) for i in pyramid.feature_info] == [(i["num_chs"], i["reduction"]) for i in ref.feature_info]
    out = pyramid.predict(x, verbose=0)
    for info, stage in zip(pyramid.feature_info, stages):
        assert_close(out[info["name"]], stage.numpy().transpose(0, 2, 3, 1))
    assert list(features(full, out_indices=(1, 3)).output) == ["P3", "P5"]


@pytest.mark.slow
def test_b0_timm_parity(tmp_path):
    """The named efficientvit_b0 (multi-head attention stages, full head) at 128 px."""
    torch, timm = require("torch"), require("timm")
    ref = randomize_torch_model(timm.create_model(NAME, pretrained=False))
    path = _checkpoint(ref, tmp_path)
    x = normalized(images(128))
    with torch.no_grad():
        expected = ref(to_torch(x)).numpy()
    got = keras_vit.create_model(NAME, weights=str(path), input_shape=(128, 128, 3), include_preprocessing=False).predict(x, verbose=0)
    assert_close(got, expected)
    assert np.array_equal(got.argmax(-1), expected.argmax(-1))


def _linear_attention_reference(qkv, head_dim, eps=1e-5):
    """timm's LiteMLA attention written with numpy in float64, v padded with a ones column."""
    b, h, w, c = qkv.shape
    x = qkv.astype(np.float64).reshape(b, h * w, c // (3 * head_dim), 3 * head_dim).transpose(0, 2, 1, 3)
    q, k, v = np.maximum(x[..., :head_dim], 0), np.maximum(x[..., head_dim:2 * head_dim], 0), x[..., 2 * head_dim:]
    v = np.concatenate([v, np.ones_like(v[..., :1])], axis=-1)
    out = q @ (k.transpose(0, 1, 3, 2) @ v)
    out = out[..., :-1] / (out[..., -1:] + eps)
    return out.transpose(0, 2, 1, 3).reshape(b, h, w, -1)


def test_linear_attention_sums_in_float32():
    """Sums over 32x32 tokens overflow float16 (max 65504); the layer keeps them in float32."""
    qkv = np.random.default_rng(0).uniform(0, 30, (2, 32, 32, 2 * 3 * 8)).astype(np.float32)
    np.testing.assert_allclose(ReLULinearAttention(8)(qkv), _linear_attention_reference(qkv, 8), rtol=1e-5)
    half = ReLULinearAttention(8, dtype="float16")
    qkv16 = qkv.astype(np.float16)
    out = np.asarray(half(qkv16))
    assert half.compute_dtype == "float16" and out.dtype == np.float16 and np.isfinite(out).all()
    # Only the float16 rounding of the output remains (relative 2**-11).
    np.testing.assert_allclose(out.astype(np.float32), _linear_attention_reference(qkv16, 8), rtol=1e-3)
    layer = ReLULinearAttention(16, epsilon=1e-6, name="attn")
    assert ReLULinearAttention.from_config(layer.get_config()).get_config() == layer.get_config()


def test_mixed_float16_matches_float32(tiny_checkpoint):
    path, _ = tiny_checkpoint
    x = images(64)
    expected = tiny_ours(path).predict(x, verbose=0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        got = tiny_ours(path).predict(x, verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    assert_close(got, expected, rtol=2e-2)


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="multiples of head_dim"):
        keras_vit.create_model(NAME, input_shape=(64, 64, 3), head_dim=24)
    with pytest.raises(ValueError, match="5 widths and 5 depths"):
        keras_vit.create_model(NAME, input_shape=(64, 64, 3), depths=(1, 2, 2, 2))
    with pytest.raises(ValueError, match="pooling"):
        keras_vit.create_model(NAME, input_shape=(64, 64, 3), include_top=False, pooling="token")
    with pytest.raises(ValueError, match="q, k, v"):
        ReLULinearAttention(8)(np.zeros((1, 4, 4, 20), np.float32))


def test_unknown_layout_is_an_error(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"backbone.input_stem.op_list.0.conv.weight": np.zeros((8, 3, 3, 3), np.float32)}, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match="EfficientViT"):
        keras_vit.create_model(NAME, weights=str(path))


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic", "int8"])
def test_tflite_export(tiny_checkpoint, tmp_path, quantize):
    """Builtin-only TFLite of the tiny model with reference-like weights: float32 equal to
    Keras and wholly on XNNPACK; float16, dynamic and full int8 verified by export_model."""
    from keras_vit.tflite import export_model, inspect_ops

    path, _ = tiny_checkpoint
    model = tiny_ours(path)
    data = images(64, batch=24, seed=1)
    result = export_model(model, tmp_path / f"{quantize}.tflite", quantize=quantize, representative_data=data[:16],
                          sample_images=data[16:])
    assert result.passed, result.verification.summary()
    assert inspect_ops(result.path)[1] == []
    if quantize == "none":
        assert result.delegate_partitions == 1
