"""A model trained on JAX is an ordinary ``.keras`` file: TensorFlow loads it and exports it to
TFLite with the same logits.

The child process trains a tiny MobileViT (convolutions, BatchNorm statistics, attention) for
one step on the JAX backend and saves the model, its logits and the images; this process
(TensorFlow) loads the file, compares Keras' logits with JAX's, exports float32 TFLite with
``keras_vit.tflite.export.export_model`` and compares the interpreter's logits too.
"""
import numpy as np
import pytest

from tests.backends.test_backends import child_env, run_child
from tests.references import require, require_installed

NAME = "mobilevit_s"

TRAIN_ON_JAX = """
import sys
import keras
import numpy as np
import keras_vit

assert keras.backend.backend() == "jax", keras.backend.backend()
name, out = sys.argv[1], sys.argv[2]
spec = keras_vit.get_model_spec(name)
keras.utils.set_random_seed(0)
model = keras_vit.create_model(name, **{**spec.tiny, "num_classes": 5})
rng = np.random.default_rng(0)
images = rng.uniform(0, 255, (8,) + tuple(spec.tiny["input_shape"])).astype("float32")
labels = np.eye(5, dtype="float32")[rng.integers(0, 5, 8)]
model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
before = model.predict(images, verbose=0)
model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
logits = model.predict(images, verbose=0)
assert np.abs(logits - before).max() > 1e-3, "one step did not change the model"
model.save(out + "/model.keras")
np.savez(out + "/logits.npz", images=images, logits=logits)
"""


def _relative(actual, expected):
    return float(np.abs(actual - expected).max()) / max(float(expected.max() - expected.min()), 1e-6)


@pytest.mark.slow
def test_jax_trained_model_exports_to_tflite(tmp_path):
    require_installed("jax")
    require("ai_edge_litert")
    import keras

    from keras_vit.tflite import TFLiteRunner
    from keras_vit.tflite.export import export_model

    if keras.backend.backend() != "tensorflow":
        pytest.skip("this process is the TensorFlow side")
    run_child(["-c", TRAIN_ON_JAX, NAME, str(tmp_path)], child_env("jax"), timeout=600, what="training on JAX")
    saved = np.load(tmp_path / "logits.npz")
    images, jax_logits = saved["images"], saved["logits"]

    model = keras.saving.load_model(str(tmp_path / "model.keras"))
    tf_logits = model.predict(images, verbose=0)
    assert _relative(tf_logits, jax_logits) < 1e-5, "TensorFlow's logits differ from JAX's"

    result = export_model(model, str(tmp_path / "model.tflite"), sample_images=images)
    assert result.verification.passed, result.verification
    tflite_logits = TFLiteRunner(str(tmp_path / "model.tflite"))(images)
    assert _relative(tflite_logits, jax_logits) < 1e-4, "TFLite's logits differ from JAX's"
    assert np.array_equal(tflite_logits.argmax(-1), jax_logits.argmax(-1))
