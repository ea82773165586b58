"""A model trained under mixed precision (bfloat16 on CPUs with bf16 units, float16 on GPUs)
exports to TFLite in float32, and the training augmentation stays float32 under that policy."""
import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.tflite.export import export_model, float32_model

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


@pytest.fixture
def mixed_policy():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def test_bfloat16_model_exports_in_float32(tmp_path, mixed_policy):
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model("vit_tiny_patch16_224", **TINY)  # GELU: Erfc has no bf16 TFLite kernel
    assert model.get_layer("blocks_0").dtype_policy.compute_dtype == "bfloat16"
    clone = float32_model(model)
    assert all(layer.dtype_policy.compute_dtype == "float32" for layer in clone.layers)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    # Same weights: the bfloat16 model's logits follow the float32 clone's to bfloat16 precision
    # (about 3 significant digits per op); a clone with other weights would not correlate.
    ours, theirs = np.asarray(model(x), "float32").ravel(), np.asarray(clone(x)).ravel()
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99 and np.abs(ours - theirs).max() < 0.2 * np.ptp(theirs)
    for quantize in ("none", "dynamic"):
        result = export_model(model, str(tmp_path / f"m_{quantize}.tflite"), quantize=quantize, num_verify=4)
        assert result.passed, result.summary()
    path = tmp_path / "m.keras"
    model.save(path)
    assert export_model(str(path), str(tmp_path / "from_file.tflite"), num_verify=2).passed
    assert float32_model(clone) is clone  # a float32 model is used as it is


def test_augmentation_stays_float32_under_bfloat16(mixed_policy):
    import tensorflow as tf

    from keras_vit.training.augment import Augmenter

    augment = Augmenter(5, randaugment_ops=2, random_erasing=0.25, mixup_alpha=0.8, cutmix_alpha=1.0,
                        mix_switch_prob=0.5, seed=0)
    images = tf.random.uniform((4, 32, 32, 3), 0, 255)
    labels = tf.one_hot([0, 1, 2, 3], 5)
    for _ in range(4):  # both MixUp and CutMix branches
        out, mixed = augment.per_batch(images, labels)
        assert out.dtype == tf.float32 and mixed.dtype == tf.float32
