"""The ViT family: registry, shapes, parameter counts, round trips, failure modes."""
import keras
import numpy as np
import pytest

import keras_vit
from tests.model_checks import check_keras_round_trip, check_layer_configs, check_mixed_precision

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


def tiny(**kwargs):
    return keras_vit.create_model("vit_tiny_patch16_224", **{**TINY, **kwargs})


def images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_shortcuts_match_registry():
    model = keras_vit.ViTTi16(num_classes=7, input_shape=(64, 64, 3))
    assert model.name == "vit_tiny_patch16_224"
    assert model.output_shape == (None, 7)
    # Each shortcut builds the registry name it is named after, with the same keywords.
    for shortcut, name in [(keras_vit.ViTB32, "vit_base_patch32_224"), (keras_vit.ViTH14, "vit_huge_patch14_224"), (keras_vit.ViTS16, "vit_small_patch16_224")]:
        model = shortcut(input_shape=(224, 224, 3), depth=1, num_classes=3)
        assert model.name == name
        assert model.get_layer("patch_embed").patch_size == (keras_vit.get_model_spec(name).config["patch_size"],) * 2
        assert f"create_model('{name}'" in shortcut.__doc__


def test_outputs_and_pooling():
    x = images()
    assert tiny().predict(x, verbose=0).shape == (2, 5)
    assert tiny(include_top=False).output_shape == (None, 17, 32)  # class token + 4x4 patches
    assert tiny(include_top=False, pooling="avg").output_shape == (None, 32)
    assert tiny(include_top=False, pooling="token").output_shape == (None, 32)
    probs = tiny(classifier_activation="softmax").predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert tiny(global_pool="avg").get_layer("fc_norm") is not None


def test_uint8_and_float_inputs_agree():
    model = tiny()
    x = images().round()
    np.testing.assert_allclose(model.predict(x.astype("uint8"), verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_without_preprocessing_takes_normalized_input():
    with_pre, without = tiny(), tiny(include_preprocessing=False)
    without.set_weights(with_pre.get_weights())
    x = images()
    np.testing.assert_allclose(with_pre.predict(x, verbose=0), without.predict(x / 127.5 - 1.0, verbose=0), atol=1e-5)


def test_drop_path_is_stochastic_only_in_training():
    model = tiny(drop_path_rate=0.5)
    # Only the last of the 2 blocks drops (rates rise linearly from 0); 16 samples make two
    # identical random masks (probability 2**-16) practically impossible.
    x = images(16)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_layer_configs_round_trip():
    check_layer_configs(tiny(layer_scale_init=1e-5, drop_path_rate=0.1))


def test_keras_round_trip(tmp_path):
    check_keras_round_trip(tiny(layer_scale_init=1e-5), images(), tmp_path)


def test_mixed_precision():
    check_mixed_precision(tiny, images())


def test_fit_one_step():
    model = tiny(drop_path_rate=0.1)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images(8), np.arange(8) % 5, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_unknown_model_name_suggests():
    with pytest.raises(ValueError, match="Did you mean vit_base_patch16_224"):
        keras_vit.create_model("vit_base_patch16_244")


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="not a multiple of the patch size 8"):
        tiny(input_shape=(36, 32, 3))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        tiny(input_shape=(32, 32, 1))
    model = tiny()
    with pytest.raises(ValueError):
        model.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0)


def test_bad_pooling():
    with pytest.raises(ValueError, match="pooling must be"):
        tiny(pooling="max")
    with pytest.raises(ValueError, match="class token"):
        tiny(class_token=False, global_pool="token")


def test_unknown_weights_argument():
    with pytest.raises(ValueError, match="neither a weights tag"):
        tiny(weights="no_such_tag")
    assert "augreg2_in21k_ft_in1k" in keras_vit.get_model_spec("vit_base_patch16_224").weights
