from keras_vit.training import keras_fixes


def test_version_gate(monkeypatch):
    assert keras_fixes.multi_worker_fix_needed("3.15.1")
    assert keras_fixes.multi_worker_fix_needed("3.5.0")
    assert not keras_fixes.multi_worker_fix_needed("2.15.0")
    monkeypatch.setattr(keras_fixes, "FIRST_FIXED_KERAS_VERSION", "3.16.0")
    assert keras_fixes.multi_worker_fix_needed("3.15.1")
    assert not keras_fixes.multi_worker_fix_needed("3.16.0")
    assert not keras_fixes.multi_worker_fix_needed("3.17.0rc1")


def test_patch_is_idempotent_and_delegates_outside_multi_worker():
    from keras.src.backend.tensorflow import trainer

    assert keras_fixes.apply_multi_worker_fix()
    build, reduce = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica
    assert keras_fixes.apply_multi_worker_fix()
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is build
    assert trainer.reduce_per_replica is reduce
    assert keras_fixes.is_multi_worker_fix_applied()
    # Outside multi-worker training the patched function is the original one.
    import tensorflow as tf

    value = tf.constant(3.0)
    assert reduce(value, tf.distribute.get_strategy(), "auto") is value
