"""The shared backbone wrapper: keywords checked once, defaults in one place, the same graph
as a hand-assembled builder, the pyramid recorded while building."""
import inspect

import keras
import numpy as np
import pytest
from keras import layers

import keras_vit
from keras_vit.layers import ClassToken, PatchEmbedding, PositionEmbedding, TransformerBlock, drop_path_rates, image_input, token_head
from keras_vit.layers.classifier import HEAD_DEFAULTS, HEAD_KEYWORDS, Backbone, image_classifier
from keras_vit.layers.features import pyramid
from keras_vit.layers.head import map_head
from keras_vit.models.vit.model import VisionTransformer

TINY_VIT = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=16, depth=2, num_heads=2)


@image_classifier(name="toy", mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
def Toy(x, *, input_shape=(16, 16, 3), width=4, drop_rate=0.0):
    """A two-stage conv backbone for the tests."""
    a = layers.Conv2D(width, 3, strides=2, padding="same", name="stage_0")(x)
    b = layers.Conv2D(2 * width, 3, strides=2, padding="same", name="stage_1")(a)
    return Backbone(b, [(a, 2, "stage_0"), (b, 4, "stage_1")], drop_rate=drop_rate)


def old_style_vit(*, input_shape, patch_size, embed_dim, depth, num_heads, num_classes, include_top, pooling, name):
    """ViT written as every builder was before the wrapper: prologue, body, head, Model."""
    inputs, x = image_input(input_shape, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = PatchEmbedding(patch_size, embed_dim, name="patch_embed")(x)
    x = ClassToken(name="cls_token")(x)
    x = PositionEmbedding(grid_size=PatchEmbedding.grid_size(input_shape, patch_size), num_prefix_tokens=1, name="pos_embed")(x)
    x = layers.Dropout(0.0, name="pos_drop")(x)
    for i, rate in enumerate(drop_path_rates(0.0, depth)):
        x = TransformerBlock(num_heads, drop_path_rate=rate, layer_norm_epsilon=1e-6, name=f"blocks_{i}")(x)
    x = token_head(x, num_classes=num_classes, include_top=include_top, pooling=pooling, global_pool="token", num_prefix_tokens=1,
                   fc_norm=None, layer_norm_epsilon=1e-6, drop_rate=0.0, classifier_activation=None)
    return keras.Model(inputs, x, name=name)


@pytest.mark.parametrize("head", [dict(num_classes=5, include_top=True, pooling=None), dict(num_classes=5, include_top=False, pooling="avg")])
def test_vit_backbone_and_wrapper_equal_the_old_builder(head):
    new = VisionTransformer(**TINY_VIT, **head, name="v")
    old = old_style_vit(**TINY_VIT, **head, name="v")
    assert new.get_config() == old.get_config()
    assert [(w.path, tuple(w.shape)) for w in new.weights] == [(w.path, tuple(w.shape)) for w in old.weights]


def test_signature_has_the_shared_keywords_with_one_set_of_defaults():
    params = inspect.signature(Toy).parameters
    assert list(params)[:3] == ["input_shape", "width", "drop_rate"]
    for key in HEAD_KEYWORDS:
        expected = {"mean": (0.1, 0.2, 0.3), "std": (0.4, 0.5, 0.6)}.get(key, HEAD_DEFAULTS[key])
        assert params[key].default == expected, key
    assert params["name"].default == "toy"
    assert Toy.backbone.__name__ == "Toy" and "x" not in params


def test_every_registered_builder_takes_the_shared_keywords_with_the_same_defaults():
    builders = {keras_vit.get_model_spec(n).family: keras_vit.get_model_spec(n).builder for n in keras_vit.list_models()}
    for family, builder in builders.items():
        params = inspect.signature(builder).parameters
        for key in HEAD_KEYWORDS:
            assert key in params, (family, key)
            if key not in ("mean", "std"):
                assert params[key].default == HEAD_DEFAULTS[key], (family, key)


def test_defaults_reach_the_model():
    model = Toy()
    assert model.name == "toy" and model.output_shape == (None, 1000)
    prep = model.get_layer("preprocessing").get_config()
    assert tuple(prep["mean"]) == (0.1, 0.2, 0.3) and tuple(prep["std"]) == (0.4, 0.5, 0.6) and prep["channel_order"] == "rgb"
    assert Toy(include_top=False).output_shape == (None, 4, 4, 8)
    assert Toy(include_top=False, pooling="max").output_shape == (None, 8)
    assert "preprocessing" not in [layer.name for layer in Toy(include_preprocessing=False).layers]


def test_the_wrapper_equals_prologue_backbone_head():
    model = Toy(width=3, num_classes=7, classifier_activation="softmax", name="t")
    inputs, x = image_input((16, 16, 3), mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    backbone = Toy.backbone(x, input_shape=(16, 16, 3), width=3)
    outputs = map_head(backbone.output, num_classes=7, include_top=True, pooling=None, classifier_activation="softmax")
    assert model.get_config() == keras.Model(inputs, outputs, name="t").get_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=-1), "num_classes must be an integer >= 0"),
        (dict(num_classes=2.5), "num_classes must be an integer >= 0"),
        (dict(include_top="yes"), "include_top must be True or False"),
        (dict(channel_order="rbg"), "channel_order must be 'rgb' or 'bgr'"),
        (dict(classifier_activation=3), "classifier_activation must be None"),
        (dict(pooling="token"), "pooling must be None, 'avg' or 'max'"),
    ],
)
def test_bad_head_keywords_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Toy(**kwargs)


def test_unknown_keyword_names_the_builder():
    with pytest.raises(TypeError, match=r"Toy\(\).*depht"):
        Toy(depht=3)


def test_a_backbone_may_not_take_a_head_keyword():
    with pytest.raises(TypeError, match="owns"):
        image_classifier(name="bad", mean=(0, 0, 0), std=(1, 1, 1))(lambda x, *, num_classes=3: None)


def test_a_family_head_hook_gets_the_head_keywords():
    seen = {}

    def head(x, *, num_classes, include_top, pooling, classifier_activation, extra):
        seen.update(num_classes=num_classes, include_top=include_top, pooling=pooling, extra=extra)
        return layers.GlobalAveragePooling2D(name="hook_pool")(x)

    @image_classifier(name="hooked", mean=(0, 0, 0), std=(1, 1, 1))
    def Hooked(x, *, input_shape=(8, 8, 3)):
        return Backbone(layers.Conv2D(2, 1, name="c")(x), head=head, extra=42)

    assert Hooked(num_classes=3, pooling="avg").output_shape == (None, 2)
    assert seen == dict(num_classes=3, include_top=True, pooling="avg", extra=42)


def test_the_pyramid_is_recorded_while_building(tmp_path):
    model = Toy(include_top=False)
    features = pyramid(model)
    assert features.feature_info == [
        {"name": "P1", "num_chs": 4, "reduction": 2, "module": "stage_0", "index": 0},
        {"name": "P2", "num_chs": 8, "reduction": 4, "module": "stage_1", "index": 1},
    ]
    x = np.random.RandomState(0).uniform(0, 255, (1, 16, 16, 3)).astype("float32")
    out = features(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["P2"]), keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    model.save(tmp_path / "toy.keras")
    with pytest.raises(ValueError, match="no recorded feature levels"):
        pyramid(keras.saving.load_model(tmp_path / "toy.keras"))
