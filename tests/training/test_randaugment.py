"""training.augment.ChosenOpsRandAugment: Keras's RandAugment, computing only the picked operations."""
import keras
import numpy as np
import tensorflow as tf

from training.augment import Augmenter, ChosenOpsRandAugment


def _augment(layer, images):
    ds = tf.data.Dataset.from_tensor_slices(images).map(lambda x: layer(x, training=True))
    return np.stack([x.numpy() for x in ds])


def test_same_images_as_keras_randaugment_with_the_same_seed():
    images = np.random.default_rng(0).uniform(0, 255, (6, 24, 24, 3)).astype(np.float32)
    kwargs = dict(value_range=(0, 255), num_ops=2, factor=0.9, seed=3, dtype="float32")
    ours = _augment(ChosenOpsRandAugment(**kwargs), images)
    theirs = _augment(keras.layers.RandAugment(**kwargs), images)
    assert ours.shape == images.shape
    assert np.abs(ours - images).max() > 1.0  # it augments
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    assert isinstance(Augmenter(10, randaugment_ops=2).randaugment, ChosenOpsRandAugment)
