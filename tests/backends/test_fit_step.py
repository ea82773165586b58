"""One ``model.fit`` step for every family's tiny configuration: the loss is finite and the
gradients reach the weights. Collected on TensorFlow in the main suite, and run on JAX and
PyTorch by ``test_backends.py`` (one tiny configuration per family there, see ``selection.py``).
"""
import keras
import numpy as np
import pytest

from tests.backends.selection import one_tiny_per_family
from tests.test_registry import tiny, tiny_images

NAMES = sorted(one_tiny_per_family().values())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_fit_step(name):
    keras.utils.set_random_seed(0)
    model = tiny(name)
    x = tiny_images(name)
    y = np.eye(model.output_shape[-1], dtype="float32")[[0, 1]]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(np.array(w), old) for w, old in zip(model.trainable_weights, before)]
    # Gradients reach the stem (the first weights) and nearly everything else: a few weights
    # legitimately get none (CvT's last block computes queries for patch tokens that the
    # class-token head never reads).
    assert changed[0], f"{keras.backend.backend()}: one SGD step left {model.trainable_weights[0].path} unchanged"
    unchanged = [w.path for w, c in zip(model.trainable_weights, changed) if not c]
    assert len(unchanged) <= 0.1 * len(changed), f"{keras.backend.backend()}: unchanged after a step: {unchanged}"
