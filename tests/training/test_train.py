"""End-to-end train() runs with a tiny ViT: outputs, CLI, MirroredStrategy, export."""
import json
import os

import numpy as np
import pytest

from tests.training.helpers import TINY_RECIPE, WORKER_SCRIPT, start_python, stop


def test_cli_train_leaves_all_outputs(tmp_path, tiny_recipe_file):
    from keras_vit.training.cli import main

    out = tmp_path / "run"
    code = main(["--recipe", tiny_recipe_file, "--output", str(out), "--epochs", "2",
                 "--progress", "none", "--set", "label_smoothing=0.0"])
    assert code == 0
    for name in ("model.keras", "metrics.json", "history.json", "recipe.json", "loss.png",
                 "accuracy.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    assert sorted(os.listdir(out / "checkpoints")) == ["epoch-001.keras", "epoch-002.keras"]
    assert (out / "logs").is_dir()
    metrics = json.loads((out / "metrics.json").read_text())
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == metrics["num_test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and history["loss"][1] < history["loss"][0]
    import keras

    model = keras.saving.load_model(out / "model.keras")
    assert model.output_shape == (None, 10)
    assert json.loads((out / "recipe.json").read_text())["label_smoothing"] == 0.0
    # The saved model is the epoch chosen on validation (EMA weights when on): its
    # validation accuracy is the recorded one, and history's val_* are that evaluation.
    from keras_vit.training import load_dataset

    recipe = json.loads((out / "recipe.json").read_text())
    splits = load_dataset("digits", recipe["image_size"], seed=recipe["split_seed"])
    val = list(splits.val.as_numpy_iterator())
    x = np.stack([v[0] for v in val]).astype("float32")
    y = np.array([v[1] for v in val])
    val_acc = float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))
    assert metrics["selected_epoch"] in (1, 2)
    assert val_acc == pytest.approx(metrics["selected_val_accuracy"], abs=1e-6)
    assert history["val_accuracy"][metrics["selected_epoch"] - 1] == pytest.approx(val_acc, abs=1e-6)
    assert metrics["selected_val_accuracy"] == max(history["val_accuracy"])


def test_cli_errors_are_clear(tmp_path, tiny_recipe_file, capsys):
    from keras_vit.training.cli import main

    assert main(["--recipe", tiny_recipe_file, "--output", str(tmp_path),
                 "--set", "epochz=1"]) == 2
    assert "Did you mean 'epochs'" in capsys.readouterr().err
    assert main(["--recipe", tiny_recipe_file, "--output", str(tmp_path),
                 "--data", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_mirrored_strategy_over_two_logical_cpus_with_distillation(tmp_path):
    recipe = dict(TINY_RECIPE, epochs=1)
    proc = start_python([WORKER_SCRIPT, "mirrored", "--recipe", json.dumps(recipe),
                         "--out", str(tmp_path)], tmp_path / "mirrored.log")
    try:
        assert proc.wait(timeout=240) == 0, (tmp_path / "mirrored.log").read_text()[-3000:]
    finally:
        stop([proc])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["replicas"] == 2
    # Two replicas on the same global batches train like one device.
    np.testing.assert_allclose(result["plain_loss"], result["single_loss"], rtol=1e-3)
    assert result["plain"] == pytest.approx(result["single"], abs=0.02)
    assert np.isfinite(result["distilled_loss"]).all()
    assert (tmp_path / "distilled" / "model.keras").is_file()


@pytest.mark.slow
def test_export_table_and_files(tmp_path, tiny_recipe_file, capsys):
    from keras_vit.training import train

    result = train(tiny_recipe_file, str(tmp_path), epochs=1, export=True, verbose=2)
    for name in ("saved_model", "model_float32.tflite", "model_int8.tflite", "export.json"):
        assert (tmp_path / name).exists(), name
    rows = {r["format"]: r for r in result.metrics["export"]}
    keras_acc = rows["keras"]["accuracy"]
    assert keras_acc == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)
    assert rows["model_float32.tflite"]["accuracy"] == pytest.approx(keras_acc, abs=0.01)
    assert rows["model_int8.tflite"]["size_bytes"] < rows["model_float32.tflite"]["size_bytes"]
    assert "model_int8.tflite" in capsys.readouterr().out

    # The files `train --export` writes, in the client phone apps use (MediaPipe Tasks): they load
    # unchanged, name their classes as the data does ("0"..."9") and answer as LiteRT does.
    mediapipe = pytest.importorskip("tests.tflite.test_mediapipe")
    from keras_vit.training import load_dataset

    splits = load_dataset("digits", 16)
    images, labels = map(np.stack, zip(*splits.test.as_numpy_iterator()))
    for name in ("model_float32.tflite", "model_int8.tflite"):
        path = str(tmp_path / name)
        named = mediapipe.mediapipe_top1(path, images)
        assert [n for _, n in named] == [str(i) for i in mediapipe.litert_top1(path, images)], name
        assert [i for i, _ in named] == [int(n) for _, n in named]  # digit names are their indices
        accuracy = np.mean([int(n) == y for (_, n), y in zip(named, labels)])
        assert accuracy == pytest.approx(rows[name]["accuracy"], abs=1e-6), name
