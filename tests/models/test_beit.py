"""BEiT: parity with timm and transformers (per-block and shared relative position tables, at
the native and a changed resolution), the table resizing of each reference, attention maps."""
import numpy as np
import pytest

import keras_vit
from keras_vit.layers import Attention
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

NAME = "beit_base_patch16_224"
# A reduced BEiT-B: same code paths, a few seconds per test.
SMALL = dict(embed_dim=96, depth=2, num_heads=3)


def _timm_pair(tmp_path, size, **kwargs):
    """A random timm BEiT saved as .safetensors, and the reference at ``size`` loaded from it
    through timm's own checkpoint filter (which resizes the tables)."""
    timm = require("timm")
    from safetensors.torch import save_file
    from timm.models.beit import checkpoint_filter_fn

    src = randomize_torch_model(timm.create_model(NAME, pretrained=False, **SMALL, **kwargs))
    path = str(tmp_path / "beit.safetensors")
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, path)
    ref = timm.create_model(NAME, pretrained=False, img_size=size, **SMALL, **kwargs).eval()
    ref.load_state_dict(checkpoint_filter_fn(src.state_dict(), ref))
    return path, ref


@pytest.mark.parametrize("size", [224, 160])
def test_timm_parity(tmp_path, size):
    path, ref = _timm_pair(tmp_path, size)
    raw = random_images(size=size)
    ours = keras_vit.create_model(NAME, weights=path, input_shape=(size, size, 3), **SMALL)
    diff = np.abs(ours.predict(raw, verbose=0) - torch_forward(ref, normalize(raw))).max()
    assert diff < 1e-4, diff


@pytest.mark.parametrize("size", [224, 288])
def test_timm_parity_shared_table_and_absolute_positions(tmp_path, size):
    # BEiT's pre-training configuration: one table for all blocks; plus absolute embeddings.
    flags = dict(use_rel_pos_bias=False, use_shared_rel_pos_bias=True, use_abs_pos_emb=True)
    path, ref = _timm_pair(tmp_path, size, **flags)
    raw = random_images(size=size)
    ours = keras_vit.create_model(NAME, weights=path, input_shape=(size, size, 3), **SMALL, **flags)
    assert ours.get_layer("rel_pos_bias") is not None
    diff = np.abs(ours.predict(raw, verbose=0) - torch_forward(ref, normalize(raw))).max()
    assert diff < 1e-4, diff


def _hf_config(transformers, **kwargs):
    return transformers.BeitConfig(
        hidden_size=96, num_hidden_layers=2, num_attention_heads=3, intermediate_size=384, image_size=224,
        patch_size=16, num_labels=1000, layer_scale_init_value=0.1, **kwargs,
    )


@pytest.mark.parametrize("size", [224, 160])
def test_transformers_parity(tmp_path, size):
    transformers = require("transformers")
    config = _hf_config(transformers, use_relative_position_bias=True, use_mean_pooling=True)
    ref = randomize_torch_model(transformers.BeitForImageClassification(config))
    ref.save_pretrained(str(tmp_path))
    x = normalize(random_images(size=size))
    ours = keras_vit.create_model(NAME, weights=str(tmp_path), input_shape=(size, size, 3), include_preprocessing=False, **SMALL)
    # transformers resizes the tables at every forward; interpolate_pos_encoding only adds an
    # identity resize at an unchanged token count.
    diff = np.abs(ours.predict(x, verbose=0) - torch_forward(ref, x, interpolate_pos_encoding=True)).max()
    assert diff < 1e-4, diff


@pytest.mark.parametrize("size", [224, 288])
def test_transformers_parity_shared_table_class_token(tmp_path, size):
    transformers = require("transformers")
    config = _hf_config(transformers, use_shared_relative_position_bias=True, use_mean_pooling=False)
    ref = randomize_torch_model(transformers.BeitForImageClassification(config))
    ref.save_pretrained(str(tmp_path))
    x = normalize(random_images(size=size))
    ours = keras_vit.create_model(
        NAME, weights=str(tmp_path), input_shape=(size, size, 3), include_preprocessing=False,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=True, global_pool="token", **SMALL,
    )
    diff = np.abs(ours.predict(x, verbose=0) - torch_forward(ref, x, interpolate_pos_encoding=True)).max()
    assert diff < 1e-4, diff


def test_the_two_references_resize_tables_differently(tmp_path):
    """A transformers checkpoint at 160 gets bilinear tables, not timm's geometric ones."""
    transformers = require("transformers")
    from keras_vit.layers import resize_relative_position_table

    ref = randomize_torch_model(transformers.BeitForImageClassification(_hf_config(transformers, use_relative_position_bias=True)))
    ref.save_pretrained(str(tmp_path))
    table = "blocks_0/attn/relative_position_bias/relative_position_bias_table"

    def loaded_table(size):
        model = keras_vit.create_model(NAME, weights=str(tmp_path), input_shape=(size, size, 3), **SMALL)
        return next(w for w in model.weights if w.path == table).numpy()

    native, resized = loaded_table(224), loaded_table(160)
    geometric = resize_relative_position_table(native, (10, 10), old_window_size=(14, 14), num_extra_tokens=3)
    assert resized.shape == geometric.shape == (19 * 19 + 3, 3)
    assert np.abs(resized - geometric).max() > 1e-3
    np.testing.assert_array_equal(resized[-3:], native[-3:])  # class-token rows kept


def test_attention_has_q_and_v_biases_only():
    model = keras_vit.create_model(NAME, input_shape=(32, 32, 3), patch_size=8, **SMALL)
    attn = model.get_layer("blocks_0").attn
    assert isinstance(attn, Attention) and attn.q_bias is not None and attn.v_bias is not None and attn.k_bias is None
    assert attn.qkv.bias is None
    assert model.get_layer("fc_norm") is not None
    with pytest.raises(ValueError):
        model.get_layer("norm")


def test_attention_maps(tmp_path):
    import keras

    from keras_vit.visualize import attention_rollout, attention_scores, save_attention_maps

    x = random_images(size=32)
    for flags in ({}, dict(use_rel_pos_bias=False, use_shared_rel_pos_bias=True)):
        model = keras_vit.create_model(NAME, input_shape=(32, 32, 3), patch_size=8, num_classes=3, **SMALL, **flags)
        # Tables far from zero, so that probabilities computed without them would differ.
        for w in model.weights:
            if w.path.endswith("relative_position_bias_table"):
                w.assign(np.random.default_rng(1).normal(0, 3, w.shape))
        scores = attention_scores(model, x)
        assert len(scores) == 2 and scores[0].shape == (2, 3, 17, 17)
        # The first block's probabilities, recomputed with its bias, are the ones returned.
        block = model.get_layer("blocks_0")
        tokens = keras.Model(model.inputs, model.get_layer("pos_drop").output)(x)
        bias = {"attention_bias": model.get_layer("rel_pos_bias")(tokens)} if flags else {}
        _, expected = block.attn(block.norm1(tokens), return_attention_scores=True, **bias)
        np.testing.assert_allclose(scores[0], np.asarray(expected), atol=1e-6)
        maps = attention_rollout(model, x)
        assert maps.shape == (2, 4, 4) and np.isclose(maps.max(), 1.0)
    assert save_attention_maps(model, x, str(tmp_path / "beit.png"))


@pytest.mark.slow
def test_shared_table_tflite_builtin_and_delegated():
    # The registry-wide test covers the per-block tables; this covers the shared one.
    from tests.model_checks import check_tflite

    model = keras_vit.create_model(
        NAME, input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=True,
    )
    for w in model.weights:
        if w.path.endswith("relative_position_bias_table"):
            w.assign(np.random.default_rng(1).normal(0, 1, w.shape))
    report = check_tflite(model, random_images(size=32))
    assert report.fully_delegated, f"ops outside XNNPACK: {report.outside}"


def test_shared_table_round_trips_and_mixed_precision(tmp_path):
    from tests.model_checks import check_keras_round_trip, check_layer_configs, check_mixed_precision

    def build():
        return keras_vit.create_model(
            NAME, input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5,
            use_rel_pos_bias=False, use_shared_rel_pos_bias=True, use_abs_pos_emb=True,
        )

    model = build()
    check_layer_configs(model)
    check_keras_round_trip(model, random_images(size=32), tmp_path)
    check_mixed_precision(build, random_images(size=32))
