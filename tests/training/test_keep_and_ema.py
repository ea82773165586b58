"""The EMA warmup of the recipe's AdamW and ``keep="last"`` (the default digits recipe)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.training.helpers import TINY_RECIPE


def _run_steps(ema_warmup, momentum=0.9, steps=25, seed=0):
    """Train one Dense layer with AdamW and EMA; return the weights after every step and the
    optimizer's average at the end."""
    import keras

    from keras_vit.training.optim import AdamW

    rng = np.random.default_rng(seed)
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    optimizer = AdamW(learning_rate=0.05, weight_decay=0.0, use_ema=True, ema_momentum=momentum,
                      ema_warmup=ema_warmup)
    optimizer.build(layer.trainable_variables)
    history = []
    for _ in range(steps):
        grads = [keras.ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32"))
                 for v in layer.trainable_variables]
        optimizer.apply(grads, layer.trainable_variables)
        history.append([v.numpy().copy() for v in layer.trainable_variables])
    averages = [a.numpy() for a in optimizer._model_variables_moving_average]
    return history, averages


def _expected_ema(history, momentum_at):
    average = None
    for t, weights in enumerate(history):
        m = momentum_at(t)
        average = [w.copy() for w in weights] if average is None else [
            m * a + (1 - m) * w for a, w in zip(average, weights)]
    return average


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_follows_its_momentum_rule(warmup):
    momentum = 0.9
    history, averages = _run_steps(warmup, momentum)
    if warmup:
        rule = lambda t: min(momentum, (1 + t) / (10 + t))  # noqa: E731
    else:
        rule = lambda t: momentum  # noqa: E731
    for got, want in zip(averages, _expected_ema(history, rule)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The two rules give different averages on this run, so the check above tells them apart.
    other = _expected_ema(history, (lambda t: momentum) if warmup else
                          (lambda t: min(momentum, (1 + t) / (10 + t))))
    assert max(np.max(np.abs(a - b)) for a, b in zip(averages, other)) > 1e-3


def test_ema_warmup_survives_saving(tmp_path):
    import keras

    from keras_vit.optimizers import AdamW

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(AdamW(learning_rate=1e-3, use_ema=True, ema_momentum=0.99, ema_warmup=True),
                  loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(restored.optimizer, AdamW) and restored.optimizer.ema_warmup is True


def test_keep_last_keeps_the_last_epoch(tmp_path):
    import keras

    from keras_vit.training import load_dataset, train
    from keras_vit.training.recipe import Recipe

    recipe = Recipe(**dict(TINY_RECIPE, epochs=3, ema=True, ema_momentum=0.9, ema_warmup=True,
                           keep="last")).validated()
    result = train(recipe, output_dir=str(tmp_path / "run"), verbose=0)
    metrics, history = result.metrics, result.history
    assert metrics["selected_epoch"] == 3
    assert metrics["selected_val_accuracy"] == pytest.approx(history["val_accuracy"][-1], abs=1e-6)
    # No best-epoch weights are written when the last epoch is kept.
    assert not os.path.exists(tmp_path / "run" / "backup" / "worker-0" / "best.weights.h5")
    # The saved model is the last epoch's EMA weights: its validation accuracy is the one
    # recorded for epoch 3 (evaluated with the EMA weights swapped in).
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    saved = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert saved["keep"] == "last" and saved["ema_warmup"] is True
    splits = load_dataset("digits", saved["image_size"], seed=saved["split_seed"])
    val = list(splits.val.as_numpy_iterator())
    x = np.stack([v[0] for v in val]).astype("float32")
    y = np.array([v[1] for v in val])
    val_loss = float(np.mean(keras.losses.categorical_crossentropy(
        keras.utils.to_categorical(y, 10), model.predict(x, verbose=0), from_logits=True)))
    assert val_loss == pytest.approx(history["val_loss"][-1], rel=1e-4)
    # A fresh Python loads it, optimizer included, with nothing but `import keras_vit`.
    code = ("import keras_vit, keras, sys; m = keras.saving.load_model(sys.argv[1]); "
            "print(type(m.optimizer).__name__, m.optimizer.ema_warmup)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run" / "model.keras")],
                          capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["AdamW", "True"]


def test_keep_must_be_best_or_last():
    from keras_vit.training.recipe import Recipe

    with pytest.raises(ValueError, match="'keep' must be 'best' or 'last'"):
        Recipe(keep="first").validated()


def test_no_validation_split_trains_on_it_keeps_the_last_epoch_and_calibrates_on_train(tmp_path):
    from keras_vit.training import train
    from keras_vit.training.recipe import Recipe

    recipe = Recipe(**dict(TINY_RECIPE, epochs=2, val_fraction=0.0, keep="last")).validated()
    result = train(recipe, output_dir=str(tmp_path / "run"), export=True, verbose=0)
    metrics, history = result.metrics, result.history
    # The images a validation split would hold are trained on; the test split is unchanged.
    assert metrics["num_val"] == 0 and metrics["num_train"] + metrics["num_test"] == 1797
    assert metrics["num_test"] == 359
    assert metrics["selected_epoch"] == 2 and metrics["selected_val_accuracy"] is None
    assert "val_accuracy" not in history and len(history["loss"]) == 2
    # Export calibrates int8 on training images (there is no validation split) and scores
    # both TFLite files on the test split.
    rows = {row["format"]: row for row in metrics["export"]}
    assert {"model_float32.tflite", "model_int8.tflite"} <= set(rows)
    assert abs(rows["model_float32.tflite"]["accuracy"] - metrics["test_accuracy"]) < 0.01
    assert (tmp_path / "run" / "accuracy.png").exists()


def test_keep_best_needs_a_validation_split(tmp_path):
    from keras_vit.training import train
    from keras_vit.training.recipe import Recipe

    recipe = Recipe(**dict(TINY_RECIPE, epochs=1, val_fraction=0.0, keep="best")).validated()
    with pytest.raises(ValueError, match="keep 'best'.*no|none"):
        train(recipe, output_dir=str(tmp_path / "run"), verbose=0)
