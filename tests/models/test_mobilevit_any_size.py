"""MobileViT built for any input size (``input_shape=(None, None, 3)``): the multi-scale training
of the paper runs one model at several resolutions. It must equal the fixed-size model of each
size with the same weights, in eager calls and in a graph that knows no size."""
import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.mobilevit import MobileViT
from keras_vit.models.mobilevit.layers import MobileViTTransformerBlock, ResizeLike, ResizeToPatch, _resize, _resize_any
from keras_vit.models.mobilevit.presets import TINY


def tiny(size):
    return MobileViT(**dict(TINY, input_shape=(size, size, 3)))


@pytest.fixture(scope="module")
def any_size():
    return tiny(None)


def images(size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (2, size, size, 3)).astype("float32")


def graph_call(model):
    """The model in a graph whose inputs have no height or width, as ``fit`` runs it on batches
    of varying size (TensorFlow only)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a graph without static sizes is TensorFlow's tf.function")
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, None, None, 3))])


def test_same_layers_and_weights_as_fixed_size(any_size):
    fixed = tiny(64)
    assert [w.path for w in any_size.weights] == [w.path for w in fixed.weights]
    assert [w.shape for w in any_size.weights] == [w.shape for w in fixed.weights]
    # A fixed size whose maps are multiples of the patch has no resize layers, as before.
    assert not any(isinstance(layer, (ResizeToPatch, ResizeLike)) for layer in fixed.layers)
    assert any_size.input_shape == (None, None, None, 3)


@pytest.mark.parametrize("size", [64, 40])  # 40: maps of 5 and 3 pixels, resized to the patch and back
def test_equals_fixed_size_model(any_size, size):
    fixed = tiny(size)
    rng = np.random.default_rng(1)
    any_size.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 if "moving_variance" not in w.path
                          else np.abs(rng.standard_normal(w.shape)).astype("float32") + 0.5 for w in any_size.weights])
    fixed.set_weights(any_size.get_weights())
    x = images(size)
    expected = np.asarray(fixed(x, training=False))
    np.testing.assert_allclose(np.asarray(any_size(x, training=False)), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(graph_call(any_size)(x)), expected, atol=1e-5)


def test_call_time_resize_equals_keras_resize():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("sizes as tensors need a graph")
    import tensorflow as tf

    spec = [tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int32)]
    resize = tf.function(lambda x, h, w: _resize_any(x, (h, w)), input_signature=spec)
    x = np.random.default_rng(0).standard_normal((2, 5, 7, 3)).astype("float32")
    for size in [(6, 8), (5, 7), (3, 4), (10, 14)]:
        np.testing.assert_allclose(resize(x, *size).numpy(), np.asarray(_resize(x, size)), atol=1e-6)


def test_layers_round_trip_and_errors():
    for layer in (ResizeToPatch((2, 3), name="r"), ResizeLike(name="l")):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    assert ResizeToPatch(2).compute_output_shape((None, 5, None, 8)) == (None, 6, None, 8)
    block = MobileViTTransformerBlock(2, patch_size=2, mlp_ratio=2.0)
    block.build((None, None, None, 16))
    with pytest.raises(ValueError, match=r"map size \(5, 6\) is not a multiple of the patch \(2, 2\)"):
        block(np.zeros((1, 5, 6, 16), "float32"))
    with pytest.raises(ValueError, match="None"):
        keras_vit.create_model("vit_tiny_patch16_224", input_shape=(None, None, 3))
