"""Issue 24, training: output problems, recipes, image folders and Ctrl-C end in one line."""
import errno
import json
import os
import socket

import numpy as np
import pytest

from keras_vit.training import trainer
from keras_vit.training.cli import main
from tests.training.helpers import TINY_RECIPE


def _one_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


# --- training output ----------------------------------------------------------------------

def test_output_that_is_a_file(tiny_recipe_file, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["--recipe", tiny_recipe_file, "--output", str(target), "--progress", "none"]) == 2
    assert "not a folder" in _one_error_line(capsys) and target.read_text() == "mine"


def test_output_on_a_read_only_mount(tiny_recipe_file, tmp_path, monkeypatch, capsys):
    """EROFS from the filesystem (root writes through chmod, so the mount is simulated)."""
    real = os.makedirs
    out = tmp_path / "ro" / "run"

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    code = main(["--recipe", tiny_recipe_file, "--output", str(out), "--progress", "none"])
    assert code in (1, 2) and "Read-only file system" in _one_error_line(capsys)


def test_tensorboard_folder_that_cannot_be_written(tiny_recipe_file, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "logs").write_text("a file where TensorBoard writes its folder")
    code = main(["--recipe", tiny_recipe_file, "--output", str(out), "--progress", "none"])
    assert code == 2 and "logs" in _one_error_line(capsys)


@pytest.mark.slow
def test_cache_in_a_missing_folder_is_made(tmp_path):
    cache = tmp_path / "missing" / "cache"
    from keras_vit.training.recipe import Recipe

    recipe = Recipe(**dict(TINY_RECIPE, cache=str(cache))).validated()
    run = trainer.prepare(recipe, str(tmp_path / "run"), verbose=0)
    next(iter(run.train_data(0)))  # the training pipeline writes its cache file here
    assert cache.is_dir()


@pytest.mark.parametrize("error", ["oserror", "resource_exhausted"])
def test_full_disk_is_one_line(tiny_recipe_file, tmp_path, monkeypatch, capsys, error):
    import tensorflow as tf

    def full(*args, **kwargs):
        if error == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "saved_model"))
        raise tf.errors.ResourceExhaustedError(None, None, "saved_model/variables: No space left on device")

    monkeypatch.setattr(trainer, "train", full)
    code = main(["--recipe", tiny_recipe_file, "--output", str(tmp_path / "run"), "--progress", "none"])
    assert code == 1 and "No space left" in _one_error_line(capsys)


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tiny_recipe_file, tmp_path, monkeypatch, capsys):
    backup = tmp_path / "run" / "backup" / "worker-0"
    backup.mkdir(parents=True)
    (backup / "w.weights.h5").write_bytes(b"")
    (backup / "latest.json").write_text(json.dumps({"epoch": 3, "step": 7, "weights": "w.weights.h5"}))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    try:
        code = main(["--recipe", tiny_recipe_file, "--output", str(tmp_path / "run"), "--progress", "none"])
    except KeyboardInterrupt:  # caught here, or pytest would take it as its own Ctrl-C
        pytest.fail("KeyboardInterrupt escaped as a traceback")
    line = _one_error_line(capsys)
    assert code == 130 and "epoch 4, 7 steps" in line and "same command to resume" in line


# --- recipes and teachers -----------------------------------------------------------------

def test_recipe_with_a_key_twice_is_refused(tmp_path):
    from keras_vit.training.recipe import load_recipe

    path = tmp_path / "twice.json"
    path.write_text('{"model": "vit_tiny_patch16_224", "epochs": 3, "epochs": 30}')
    with pytest.raises(ValueError, match="'epochs' more than once"):
        load_recipe(str(path))
    path.write_text('{"model_overrides": {"depth": 1, "depth": 12}}')
    with pytest.raises(ValueError, match="'depth' more than once"):
        load_recipe(str(path))


def test_teacher_file_gets_the_keras_config_check(tmp_path, monkeypatch):
    import keras

    import keras_vit
    from keras_vit.training.distill import load_teacher
    from tests.weights.test_bad_checkpoints import _rewrite_config, _system_layer

    monkeypatch.chdir(tmp_path)
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "ok.keras")
    _rewrite_config(tmp_path / "ok.keras", tmp_path / "evil.keras", _system_layer)
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="os.system"):
        load_teacher(str(tmp_path / "evil.keras"))
    assert not (tmp_path / "pwned").exists()


# --- image folders ------------------------------------------------------------------------

def _images(folder, n=2):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")


def test_class_folder_linked_to_the_root_is_a_cycle(tmp_path):
    from keras_vit.data import list_image_folder

    root = tmp_path / "data"
    _images(root / "cat")
    _images(root / "dog")
    os.symlink(root, root / "zz_all")
    with pytest.raises(ValueError, match="'zz_all' is .* dataset folder"):
        list_image_folder(str(root))


def test_an_image_under_two_classes_is_refused(tmp_path):
    from keras_vit.data import list_image_folder

    root = tmp_path / "data"
    _images(root / "cat")
    _images(root / "dog")
    os.symlink(root / "cat" / "0.png", root / "dog" / "9.png")
    with pytest.raises(ValueError, match="same file.*'dog'.*'cat'"):
        list_image_folder(str(root))


def test_non_utf8_names_are_named_before_training(tmp_path):
    from keras_vit.training.data import load_dataset

    root = tmp_path / "data"
    _images(root / "cat")
    _images(root / "dog")
    os.rename(root / "dog" / "1.png", os.fsencode(root / "dog") + b"/caf\xe9.png")
    with pytest.raises(ValueError, match=r"not valid UTF-8: .*caf\\udce9.png"):
        load_dataset(str(root), 8)


def test_tfds_offline_fails_fast_without_downloading(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    calls = []

    class Builder:
        data_dir = str(tmp_path / "mnist" / "3.0.1")

        def download_and_prepare(self):
            calls.append("download")
            raise RuntimeError("retried for minutes")

    def offline(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    for key in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: Builder())
    monkeypatch.setattr(socket, "create_connection", offline)
    from keras_vit.training.data import load_dataset

    with pytest.raises(RuntimeError, match="offline"):
        load_dataset("tfds:mnist", 8)
    assert calls == []


@pytest.mark.parametrize("overrides, match", [
    ({"depth": 1e308}, "depth must be an integer"),
    ({"no_such_key": 1}, "unknown argument 'no_such_key'"),
    ({"num_heads": 0}, "num_heads must be an integer >= 1"),
    ({"patch_size": "8"}, "patch_size must be an integer"),
])
def test_model_overrides_are_checked_when_the_recipe_is_read(overrides, match):
    from keras_vit.training.recipe import Recipe

    with pytest.raises(ValueError, match="model_overrides.*" + match):
        Recipe(**dict(TINY_RECIPE, model_overrides=overrides)).validated()
