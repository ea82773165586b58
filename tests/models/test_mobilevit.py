"""MobileViT: parameter counts, parity with timm and transformers, ml-cvnets key map,
per-source preprocessing, unfold order, saving, and TFLite conversion.

Reference models get random parameters *and* random BatchNorm running statistics, are
saved in their own format and loaded through ``create_model(name, weights=path)``.
"""
import numpy as np
import pytest

import keras_vit
from keras_vit.models.mobilevit import Fold, Unfold
from keras_vit.models.mobilevit.layers import MobileViTTransformerBlock, Resize
from tests.references import randomize_torch_model, require

NAME = "mobilevit_xxs"
ATOL = 1e-4
# transformers' MobileViTConfig of the xx-small checkpoint (apple/mobilevit-xx-small).
HF_XXS = dict(hidden_sizes=[64, 80, 96], neck_hidden_sizes=[16, 16, 24, 48, 64, 80, 320], expand_ratio=2.0, num_labels=1000)


def images(size, batch=2, seed=0):
    """Raw RGB pixels in [0, 255] as uint8, NHWC."""
    return np.random.default_rng(seed).integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)


def torch_logits(model, x_nhwc):
    torch = require("torch")
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))))
    return getattr(out, "logits", out).numpy()


def ours(weights, size, **kwargs):
    return keras_vit.create_model(NAME, weights=str(weights), input_shape=(size, size, 3), **kwargs)


def assert_close(actual, expected, atol=ATOL):
    diff = np.abs(actual - expected).max()
    assert diff < atol, f"max abs diff {diff:.2e} (logit range {expected.min():.2f}..{expected.max():.2f})"
    assert np.array_equal(actual.argmax(-1), expected.argmax(-1))


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    timm = require("timm")
    torch = require("torch")
    from safetensors.torch import save_file

    model = randomize_torch_model(timm.create_model(NAME, pretrained=False))
    directory = tmp_path_factory.mktemp("timm")
    state = model.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    torch.save(state, str(directory / "pytorch_model.pth"))
    return directory, model


# 160 leaves a 5x5 map in the last stage and 200 odd maps in the last two: the references
# resize them to a multiple of the patch and back, and so must we.
@pytest.mark.parametrize("size, file_name", [(256, "model.safetensors"), (160, "pytorch_model.pth"), (200, "model.safetensors")])
def test_timm_parity(timm_checkpoint, size, file_name):
    directory, ref = timm_checkpoint
    x = images(size).astype(np.float32) / 255.0
    assert_close(ours(directory / file_name, size, include_preprocessing=False).predict(x, verbose=0), torch_logits(ref, x))


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    transformers = require("transformers")
    model = randomize_torch_model(transformers.MobileViTForImageClassification(transformers.MobileViTConfig(**HF_XXS)), seed=1)
    directory = tmp_path_factory.mktemp("hf")
    model.save_pretrained(str(directory))
    return directory, model


@pytest.mark.parametrize("size", [256, 160])
def test_transformers_parity(hf_checkpoint, size):
    directory, ref = hf_checkpoint
    x = images(size).astype(np.float32) / 255.0
    assert_close(ours(directory, size, include_preprocessing=False).predict(x, verbose=0), torch_logits(ref, x))


def _cvnets_from_timm(state, depths=(2, 4, 3)):
    """The same weights under Apple ml-cvnets' key names.

    Written from ml-cvnets' module tree (cvnets/models/classification/mobilevit.py,
    cvnets/modules/mobilevit_block.py, mobilenetv2.py, transformer.py), independently of
    the converter: ConvLayer is ``block.conv``/``block.norm``, stages are ``layer_1..5``,
    ``global_rep`` holds the transformer blocks and then the final LayerNorm.
    """
    pairs = [
        ("stem.conv", "conv_1.block.conv"), ("stem.bn", "conv_1.block.norm"),
        ("final_conv.conv", "conv_1x1_exp.block.conv"), ("final_conv.bn", "conv_1x1_exp.block.norm"),
        ("head.fc", "classifier.fc"),
    ]
    mv2 = [("conv1_1x1", "exp_1x1"), ("conv2_kxk", "conv_3x3"), ("conv3_1x1", "red_1x1")]
    for stage, blocks in [(0, 1), (1, 3), (2, 1), (3, 1), (4, 1)]:
        for b in range(blocks):
            for t, c in mv2:
                pairs += [(f"stages.{stage}.{b}.{t}.conv", f"layer_{stage + 1}.{b}.block.{c}.block.conv"),
                          (f"stages.{stage}.{b}.{t}.bn", f"layer_{stage + 1}.{b}.block.{c}.block.norm")]
    for stage, depth in zip((2, 3, 4), depths):
        t, c = f"stages.{stage}.1.", f"layer_{stage + 1}.1."
        pairs += [
            (t + "conv_kxk.conv", c + "local_rep.conv_3x3.block.conv"), (t + "conv_kxk.bn", c + "local_rep.conv_3x3.block.norm"),
            (t + "conv_1x1", c + "local_rep.conv_1x1.block.conv"),
            (t + "norm", c + f"global_rep.{depth}"),
            (t + "conv_proj.conv", c + "conv_proj.block.conv"), (t + "conv_proj.bn", c + "conv_proj.block.norm"),
            (t + "conv_fusion.conv", c + "fusion.block.conv"), (t + "conv_fusion.bn", c + "fusion.block.norm"),
        ]
        for i in range(depth):
            pairs += [
                (f"{t}transformer.{i}.norm1", f"{c}global_rep.{i}.pre_norm_mha.0"),
                (f"{t}transformer.{i}.attn.qkv", f"{c}global_rep.{i}.pre_norm_mha.1.qkv_proj"),
                (f"{t}transformer.{i}.attn.proj", f"{c}global_rep.{i}.pre_norm_mha.1.out_proj"),
                (f"{t}transformer.{i}.norm2", f"{c}global_rep.{i}.pre_norm_ffn.0"),
                (f"{t}transformer.{i}.mlp.fc1", f"{c}global_rep.{i}.pre_norm_ffn.1"),
                (f"{t}transformer.{i}.mlp.fc2", f"{c}global_rep.{i}.pre_norm_ffn.4"),
            ]
    out = {}
    for t, c in pairs:
        for leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            if f"{t}.{leaf}" in state:
                out[f"{c}.{leaf}"] = state[f"{t}.{leaf}"]
    assert len(out) == len(state), sorted(set(state) - {f"{t}.{leaf}" for t, _ in pairs for leaf in ("weight", "bias")})
    return out


def test_cvnets_round_trip(timm_checkpoint, tmp_path):
    """A checkpoint under ml-cvnets' key names loads to the same network as timm's."""
    torch = require("torch")
    _, ref = timm_checkpoint
    path = tmp_path / "mobilevit_xxs.pt"
    torch.save(_cvnets_from_timm(ref.state_dict()), str(path))
    x = images(160).astype(np.float32) / 255.0
    assert_close(ours(path, 160, include_preprocessing=False).predict(x, verbose=0), torch_logits(ref, x))


def test_preprocessing_per_source(timm_checkpoint, hf_checkpoint, tmp_path):
    """Raw uint8 RGB into our model equals each reference on its own input convention.

    The BGR expectation is not ours: it is what transformers' own ``MobileViTImageProcessor``
    feeds its MobileViT (``do_flip_channel_order``), and transformers converts ml-cvnets
    checkpoints without touching the first convolution, so both layouts take BGR.
    """
    torch = require("torch")
    transformers = require("transformers")
    processor = transformers.MobileViTImageProcessor(do_resize=False, do_center_crop=False)
    assert processor.do_flip_channel_order
    raw = images(160)
    rgb01 = raw.astype(np.float32) / 255.0
    hf_input = processor(list(raw), return_tensors="np", input_data_format="channels_last")["pixel_values"].transpose(0, 2, 3, 1)
    assert hf_input.shape == raw.shape and not np.allclose(hf_input, rgb01)

    directory, timm_ref = timm_checkpoint
    assert_close(ours(directory / "model.safetensors", 160).predict(raw, verbose=0), torch_logits(timm_ref, rgb01))

    directory, hf_ref = hf_checkpoint
    assert_close(ours(directory, 160).predict(raw, verbose=0), torch_logits(hf_ref, hf_input))

    # An ml-cvnets checkpoint (the same network under ml-cvnets' key names) on transformers' input.
    path = tmp_path / "mobilevit_xxs.pt"
    torch.save(_cvnets_from_timm(timm_ref.state_dict()), str(path))
    assert_close(ours(path, 160).predict(raw, verbose=0), torch_logits(timm_ref, hf_input))


@pytest.mark.parametrize("size", [(8, 8), (5, 5), (6, 10)])
def test_unfold_matches_reference_order(hf_checkpoint, size):
    """Unfold gives the references' (B*P, N, C) sequences, in their order; Fold inverts it."""
    torch = require("torch")
    _, ref = hf_checkpoint
    layer = ref.mobilevit.encoder.layer[2]
    x = np.random.default_rng(0).standard_normal((2,) + size + (3,)).astype(np.float32)
    with torch.no_grad():
        expected, _ = layer.unfolding(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    patches = np.asarray(Unfold(2)(x))
    np.testing.assert_allclose(patches, expected.numpy(), atol=1e-6)
    folded = np.asarray(Fold(2, output_size=size)(patches))
    if size[0] % 2 == 0 and size[1] % 2 == 0:
        np.testing.assert_array_equal(folded, x)
    else:
        with torch.no_grad():
            info = {"orig_size": size, "batch_size": 2, "channels": 3, "interpolate": True, "num_patches": expected.shape[1],
                    "num_patches_height": -(-size[0] // 2), "num_patches_width": -(-size[1] // 2)}
            back = layer.folding(expected, info).numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(folded, back, atol=1e-5)


def test_keras_save_load_round_trip(tmp_path):
    import keras

    model = keras_vit.create_model(NAME, input_shape=(96, 96, 3), num_classes=10)
    x = images(96)
    path = tmp_path / "mobilevit.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    for layer in (Unfold(2, name="u"), Fold(2, output_size=(5, 7), name="f"), Resize((6, 8), name="r"),
                  MobileViTTransformerBlock(4, patch_size=(2, 3), mlp_ratio=2.0, activation="swish", name="t")):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("size,patch", [((8, 8), 2), ((4, 6), (2, 3)), ((2, 2), 2)])
def test_map_transformer_block_is_unfold_transformer_fold(size, patch):
    """MobileViTTransformerBlock on the map equals the shared block between Unfold and Fold."""
    from keras_vit.layers import TransformerBlock

    x = np.random.default_rng(0).standard_normal((2,) + size + (16,)).astype(np.float32)
    block = MobileViTTransformerBlock(4, patch_size=patch, mlp_ratio=2.0, activation="swish", layer_norm_epsilon=1e-5)
    reference = TransformerBlock(4, mlp_ratio=2.0, activation="swish", layer_norm_epsilon=1e-5)
    tokens = Unfold(patch)(x)
    reference(tokens)
    block(x)
    assert [w.path.split("/", 1)[1] for w in block.weights] == [w.path.split("/", 1)[1] for w in reference.weights]
    rng = np.random.default_rng(1)
    for w in reference.weights:
        w.assign(rng.standard_normal(w.shape).astype(np.float32) * 0.3)
    block.set_weights(reference.get_weights())
    expected, expected_scores = reference(tokens, return_attention_scores=True)
    got, scores = block(x, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(got), np.asarray(Fold(patch, output_size=size)(expected)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(scores), np.asarray(expected_scores), atol=1e-6)


def test_transformer_weight_paths():
    """Weight paths the checkpoint converters write to (``stages_{s}_1_transformer_{i}/...``)."""
    model = keras_vit.create_model(NAME, input_shape=(64, 64, 3))
    paths = [w.path for w in model.weights if w.path.startswith("stages_2_1_transformer_0/")]
    assert paths == [f"stages_2_1_transformer_0/{p}" for p in (
        "norm1/gamma", "norm1/beta", "attn/qkv/kernel", "attn/qkv/bias", "attn/proj/kernel", "attn/proj/bias",
        "norm2/gamma", "norm2/beta", "mlp/fc1/kernel", "mlp/fc1/bias", "mlp/fc2/kernel", "mlp/fc2/bias")]
    assert sum("transformer" in w.path for w in model.weights) == 12 * 9


def test_unknown_layout_is_an_error(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.weird.weight": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match="MobileViT"):
        keras_vit.create_model(NAME, weights=str(path))


@pytest.mark.slow
def test_tflite_float32_builtin_parity(timm_checkpoint, tmp_path):
    """Builtin-only float32 TFLite equals Keras (xxs at 96x96 with reference-like weights)."""
    from keras_vit.tflite import TFLiteRunner, export_model, inspect_ops

    directory, _ = timm_checkpoint
    model = ours(directory / "model.safetensors", 96)
    x = images(96, batch=3).astype(np.float32)
    result = export_model(model, tmp_path / "mobilevit_xxs.tflite", sample_images=x)
    assert result.passed, result.verification.summary()
    assert inspect_ops(result.path)[1] == [] and result.delegate_partitions == 1
    got, expected = TFLiteRunner(result.path)(x), model.predict(x, verbose=0)
    assert np.abs(got - expected).max() <= 1e-4 * (expected.max() - expected.min()) + 1e-5
    assert np.array_equal(got.argmax(-1), expected.argmax(-1))


def test_shared_model_checks():
    from tests.model_checks import check_layer_configs, check_mixed_precision

    def build():
        return keras_vit.create_model(NAME, input_shape=(64, 64, 3), num_classes=3)

    check_layer_configs(build())
    check_mixed_precision(build, np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
