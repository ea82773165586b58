"""fusion.layer_norm / fusion.LayerNormalization: Keras' values at inference, Keras' own graph in
training (issue 25; the fold into the next matrix multiply is checked on MobileViT-XXS's file by
benchmarks/litert_torch_peer.py's operator counts)."""
import keras
import numpy as np
import tensorflow as tf

from keras_vit.layers.fusion import LayerNormalization, fused, layer_norm


def _layers(channels=8):
    """Our layer and Keras' with the same random gamma and beta (not 1 and 0, which a converter could drop)."""
    rng = np.random.default_rng(0)
    ours, reference = LayerNormalization(epsilon=1e-5), keras.layers.LayerNormalization(epsilon=1e-5)
    for layer in (ours, reference):
        layer.build((None, 4, 4, channels))
        layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
        layer.beta.assign(rng.normal(0, 0.5, channels).astype("float32"))
        rng = np.random.default_rng(0)
    return ours, reference


def test_inference_form_equals_keras_and_training_is_keras():
    ours, reference = _layers()
    x = np.random.default_rng(1).normal(3, 2, (2, 4, 4, 8)).astype("float32")
    expected = reference(x).numpy()
    np.testing.assert_allclose(tf.function(lambda t: ours(t, training=False))(x).numpy(), expected, atol=2e-6)
    np.testing.assert_allclose(layer_norm(reference, x, training=False).numpy(), expected, atol=2e-6)
    # Training and FUSE off: Keras' own op, bit for bit.
    np.testing.assert_array_equal(ours(x, training=True).numpy(), expected)
    with fused(False):
        np.testing.assert_array_equal(tf.function(lambda t: ours(t, training=False))(x).numpy(),
                                      tf.function(lambda t: reference(t, training=False))(x).numpy())


def test_config_round_trip_keeps_the_class():
    ours, _ = _layers()
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert type(clone) is LayerNormalization and clone.epsilon == ours.epsilon

