"""keras_vit.layers.fusion: graph forms TensorFlow fuses, with Keras' values and training."""
import collections
import os
import platform

import numpy as np
import pytest

import keras
from keras_vit.layers import fusion


def _both(fn):
    """``fn()`` traced with the fusable forms and without them."""
    import tensorflow as tf

    out = {}
    for flag in (True, False):
        with fusion.fused(flag):
            out[flag] = tf.function(fn, autograph=False)()
    return np.asarray(out[True]), np.asarray(out[False])


def _bn(**kwargs):
    rng = np.random.default_rng(0)
    layer = fusion.BatchNormalization(epsilon=1e-5, momentum=0.9, **kwargs)
    layer.build((None, 6, 6, 5))
    layer.moving_mean.assign(rng.normal(0, 1, 5))
    layer.moving_variance.assign(rng.uniform(0.2, 2.0, 5))
    if layer.scale:
        layer.gamma.assign(rng.uniform(0.5, 1.5, 5))
    if layer.center:
        layer.beta.assign(rng.normal(0, 1, 5))
    reference = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, **kwargs)
    reference.build((None, 6, 6, 5))
    reference.set_weights(layer.get_weights())
    return layer, reference


@pytest.mark.parametrize("kwargs", [{}, {"scale": False}, {"center": False}])
def test_batch_norm_inference_equals_keras(kwargs):
    layer, reference = _bn(**kwargs)
    x = np.random.default_rng(1).normal(0, 2, (3, 6, 6, 5)).astype("float32")
    fused, plain = _both(lambda: layer(x, training=False))
    np.testing.assert_allclose(fused, np.asarray(reference(x, training=False)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-5)
    # A frozen layer (trainable=False) normalizes with its moving statistics even when training.
    layer.trainable = reference.trainable = False
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), np.asarray(reference(x, training=True)),
                               rtol=0, atol=1e-5)


def test_batch_norm_keeps_a_small_epsilon():
    """MobileViT's epsilon 1e-5 is used as it is (tf.nn.fused_batch_norm would raise it to 1.001e-5)."""
    layer = fusion.BatchNormalization(epsilon=1e-7)
    layer.build((None, 2, 2, 1))
    layer.moving_variance.assign([1e-6])
    x = np.ones((1, 2, 2, 1), "float32")
    expected = 1.0 / np.sqrt(1e-6 + 1e-7)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), expected, rtol=1e-5)


def test_batch_norm_training_is_keras():
    """Training steps take Keras' computation: same outputs and the same moving-statistics update."""
    layer, reference = _bn()
    x = np.random.default_rng(2).normal(1, 3, (4, 6, 6, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), np.asarray(reference(x, training=True)),
                               rtol=0, atol=1e-5)
    for ours, theirs in zip(layer.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_batch_norm_falls_back_for_other_inputs():
    """Mixed precision, 2-D inputs and other axes give Keras' results (its path, not the fused op)."""
    x = np.random.default_rng(3).normal(0, 1, (2, 6, 6, 5))
    half = fusion.BatchNormalization(dtype="mixed_float16")
    half.build((None, 6, 6, 5))
    out = half(x.astype("float16"), training=False)
    assert out.dtype == "float16"
    np.testing.assert_allclose(np.asarray(out, "float32"), x / np.sqrt(1 + 1e-3), atol=1e-2)
    flat = fusion.BatchNormalization()
    flat.build((None, 5))
    np.testing.assert_allclose(np.asarray(flat(x[:, 0, 0], training=False)), x[:, 0, 0] / np.sqrt(1 + 1e-3),
                               rtol=1e-5)
    channels_first = fusion.BatchNormalization(axis=1)
    channels_first.build((None, 6, 6, 5))
    np.testing.assert_allclose(np.asarray(channels_first(x.astype("float32"), training=False)), x / np.sqrt(1 + 1e-3),
                               rtol=1e-5)


def test_batch_norm_and_silu_serialize(tmp_path):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(5, 3, use_bias=False)(inputs)
    x = fusion.SiLU(name="act")(fusion.BatchNormalization(name="bn")(x))
    model = keras.Model(inputs, x)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is fusion.BatchNormalization and type(loaded.get_layer("act")) is fusion.SiLU
    images = np.random.default_rng(4).normal(0, 1, (2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), rtol=0, atol=1e-6)


def test_silu_values_and_gradient():
    import tensorflow as tf

    x = tf.constant(np.linspace(-8, 8, 101, dtype="float32"))
    layer = fusion.SiLU()
    fused, plain = _both(lambda: layer(x, training=False))
    np.testing.assert_allclose(fused, np.asarray(keras.ops.silu(x)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    s = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), s * (1 + x.numpy() * (1 - s)), rtol=0, atol=1e-5)


def test_tokenwise_shapes():
    dense = keras.layers.Dense(7)
    x3 = np.random.default_rng(5).normal(0, 1, (2, 4, 3)).astype("float32")
    x4 = x3.reshape(2, 2, 2, 3)
    fused, plain = _both(lambda: fusion.tokenwise(dense, x3))
    assert fused.shape == (2, 4, 7)
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fusion.tokenwise(dense, x4)), np.asarray(dense(x4)), rtol=0, atol=1e-6)
    calls = []
    fusion.tokenwise(lambda t: calls.append(tuple(t.shape)) or t, x3)
    assert calls == [(8, 3)]
    fusion.tokenwise(lambda t: calls.append(tuple(t.shape)) or t, x3[0])  # rank 2: unchanged
    fusion.tokenwise(lambda t: calls.append(tuple(t.shape)) or t, keras.KerasTensor((None, None, 3)))
    fusion.tokenwise(lambda t: calls.append(tuple(t.shape)) or t, x3, training=True)  # training: Keras' graph
    assert calls[1:] == [(4, 3), (None, None, 3), (2, 4, 3)]


def test_training_graph_is_unchanged():
    """A training step traces the same ops with and without the fusable forms."""
    import tensorflow as tf

    import keras_vit

    spec = keras_vit.get_model_spec("mobilevit_xxs")
    model = keras_vit.create_model("mobilevit_xxs", **{**spec.tiny, "input_shape": (32, 32, 3), "num_classes": 10})
    x = tf.random.uniform((2, 32, 32, 3), 0, 255)
    graphs = {}
    for flag in (True, False):
        with fusion.fused(flag):
            fn = tf.function(lambda: model(x, training=True), autograph=False)
            graphs[flag] = collections.Counter(op.type for op in fn.get_concrete_function().graph.get_operations())
    assert graphs[True] == graphs[False]
    inference = tf.function(lambda: model(x, training=False), autograph=False).get_concrete_function().graph
    assert any(op.type == "FusedBatchNormV3" for op in inference.get_operations())


@pytest.mark.parametrize("name, size", [("vit_tiny_patch16_224", 32), ("mobilevit_xxs", 32), ("cvt_13_224", 64)])
def test_models_equal_with_and_without_fusion(name, size):
    """Same weights, same logits (float32 rounding) with the fused forms and the earlier graph."""
    import keras_vit

    spec = keras_vit.get_model_spec(name)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(name, **{**spec.tiny, "input_shape": (size, size, 3), "num_classes": 10})
    x = np.random.default_rng(6).uniform(0, 255, (2, size, size, 3)).astype("float32")
    fused, plain = _both(lambda: model(x, training=False))
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-4 * max(1.0, float(np.abs(plain).max())))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0",
                    reason="oneDNN's graph fusions are on x86 CPUs with TF_ENABLE_ONEDNN_OPTS on")
def test_tensorflow_runs_the_fused_kernels():
    """The point of the module: the MLP's MatMul+bias+GELU and MobileViT's Conv2D+BN+SiLU run
    as one oneDNN kernel each; without the fusable forms they do not."""
    import tensorflow as tf

    import keras_vit
    from keras_vit.layers import MLP

    keras.utils.set_random_seed(0)
    mlp = MLP(32)
    tokens = tf.random.normal((2, 9, 8))
    mlp(tokens)
    spec = keras_vit.get_model_spec("mobilevit_xxs")
    mobilevit = keras_vit.create_model("mobilevit_xxs", **{**spec.tiny, "input_shape": (32, 32, 3)})
    images = tf.random.uniform((1, 32, 32, 3), 0, 255)
    found = {}
    for flag in (True, False):
        with fusion.fused(flag):
            mlp_fn = tf.function(lambda: mlp(tokens, training=False), autograph=False)
            cnn_fn = tf.function(lambda: mobilevit(images, training=False), autograph=False)
            mlp_fn(), cnn_fn()  # trace inside the block, and warm up
            found[flag] = (fusion.executed_kernels(mlp_fn)[0], fusion.executed_kernels(cnn_fn)[0])
    (mlp_fused, cnn_fused), (mlp_plain, cnn_plain) = found[True], found[False]
    assert mlp_fused["_MklNativeFusedMatMul"] == 2 and not mlp_fused["Erfc"] and not mlp_fused["BiasAdd"]
    assert mlp_plain["Erfc"] == 1 and not mlp_plain["_MklNativeFusedMatMul"]
    assert cnn_fused["_MklNativeFusedConv2D"] + cnn_fused["_MklNativePadWithFusedConv2D"] > 0
    # Only the convolutions without BatchNormalization (MobileViT's 1x1 into the transformer) stay plain.
    assert cnn_fused["_MklNativeConv2D"] <= 3 < cnn_plain["_MklNativeConv2D"] and not cnn_plain["_MklNativeFusedConv2D"]
    assert cnn_fused["_MklSwish"] < cnn_plain["_MklSwish"]
