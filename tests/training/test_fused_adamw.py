"""keras_vit's AdamW (one fused kernel per variable, schedule read once) against keras.optimizers.AdamW."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

_TRAIN = '''
import contextlib
import numpy as np
import keras


def train(optimizer_cls, strategy=None, amsgrad=False, **ema):
    keras.utils.set_random_seed(0)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="fc1"),
                                  keras.layers.LayerNormalization(name="norm"),
                                  keras.layers.Dense(3, name="head")])
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, 40, alpha=0.01, warmup_target=1e-2, warmup_steps=5)
        optimizer = optimizer_cls(schedule, weight_decay=0.05, global_clipnorm=1.0,
                                  amsgrad=amsgrad, **ema)
        # The norm's gamma/beta and the biases are not decayed, as in training/optim.py.
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
        model.compile(optimizer, "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = rng.normal(size=(256, 3)).astype("float32")
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    return model, optimizer


def state(model, optimizer):
    return [v.numpy() for v in model.trainable_variables] + [v.numpy() for v in optimizer.variables]
'''
_ns = {}
exec(_TRAIN, _ns)  # one definition, used here and in the MirroredStrategy subprocess
_train, _state = _ns["train"], _ns["state"]


def _assert_same(ours, reference):
    assert len(ours) == len(reference)
    for got, want in zip(ours, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ema", [{}, {"use_ema": True, "ema_momentum": 0.9}])
def test_fused_adamw_equals_keras_adamw(ema):
    import keras

    from keras_vit.optimizers import AdamW

    _assert_same(_state(*_train(AdamW, **ema)), _state(*_train(keras.optimizers.AdamW, **ema)))


def test_the_comparison_sees_a_wrong_decay_set():
    """Decaying the excluded variables too changes them well beyond the tolerance above."""
    import keras

    from keras_vit.optimizers import AdamW

    class DecayAll(AdamW):
        def _use_weight_decay(self, variable):
            return True

    ours, _ = _train(AdamW)
    wrong, _ = _train(DecayAll)
    reference, _ = _train(keras.optimizers.AdamW)
    norm = [i for i, v in enumerate(reference.trainable_variables) if "norm" in v.path]
    assert len(norm) == 2
    for i in norm:
        np.testing.assert_allclose(ours.trainable_variables[i].numpy(),
                                   reference.trainable_variables[i].numpy(), atol=1e-6)
    assert max(np.max(np.abs(wrong.trainable_variables[i].numpy() -
                             reference.trainable_variables[i].numpy())) for i in norm) > 1e-5


def test_amsgrad_takes_keras_path():
    import keras

    from keras_vit.optimizers import AdamW

    _assert_same(_state(*_train(AdamW, amsgrad=True)),
                 _state(*_train(keras.optimizers.AdamW, amsgrad=True)))


def test_fused_adamw_under_mirrored_strategy_equals_keras(tmp_path):
    # Two logical CPUs must be configured before TensorFlow starts: a fresh process.
    code = _TRAIN + '''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_vit.optimizers import AdamW
devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
ema = {"use_ema": True, "ema_momentum": 0.9}
ours = state(*train(AdamW, tf.distribute.MirroredStrategy(devices), **ema))
ref = state(*train(keras.optimizers.AdamW, tf.distribute.MirroredStrategy(devices), **ema))
print(json.dumps({"n": len(ours), "n_ref": len(ref),
                  "diff": max(float(np.max(np.abs(a - b))) for a, b in zip(ours, ref))}))
'''
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n"] == result["n_ref"] > 10
    assert result["diff"] < 1e-5
