"""Training on a full disk stops cleanly and keeps the last good backup; resume checks the model."""
import errno
import json
import os

import keras
import numpy as np
import pytest

from keras_vit.training import callbacks as cb


def _model(width=4):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(width)(inputs)))
    model.compile("sgd", "mse")
    return model


DATA = (np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"))


def _fit(model, callback, epochs=1, initial_epoch=0):
    model.fit(*DATA, batch_size=4, epochs=epochs, initial_epoch=initial_epoch, callbacks=[callback], verbose=0)


def test_full_disk_during_backup_stops_and_keeps_the_last_good_one(tmp_path, monkeypatch):
    backup_dir = str(tmp_path / "backup")
    model = _model()
    _fit(model, cb.ResumableBackup(backup_dir, steps_per_epoch=2))
    good = [w.numpy().copy() for w in model.weights]
    assert json.load(open(os.path.join(backup_dir, "latest.json")))["weights"] == "state-000000.npz"

    real = cb.write_backup

    def full_disk(model, path):
        with open(path, "wb") as f:
            f.write(b"partial npz")  # half a file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(cb, "write_backup", full_disk)
    backup = cb.ResumableBackup(backup_dir, steps_per_epoch=2, initial_epoch=1)
    backup._seq = 1
    with pytest.raises(cb.StorageError, match="no space left on the device.*last good backup.*kept.*resume"):
        _fit(model, backup, epochs=2, initial_epoch=1)
    monkeypatch.setattr(cb, "write_backup", real)
    assert sorted(os.listdir(backup_dir)) == ["latest.json", "state-000000.npz"]  # no tmp, no partial
    fresh = _model()
    state = cb.ResumableBackup(backup_dir, steps_per_epoch=2).restore(fresh)
    assert state["epoch"] == 1
    for a, b in zip(good, fresh.weights):
        np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_checkpoint_and_history_write_failures_are_storage_errors(tmp_path, monkeypatch, error):
    model = _model()

    def refuse(self, path, *args, **kwargs):
        raise OSError(error, os.strerror(error), path)

    monkeypatch.setattr(keras.Model, "save", refuse)
    with pytest.raises(cb.StorageError, match="epoch checkpoint"):
        _fit(model, cb.EpochCheckpoint(str(tmp_path / "checkpoints")))
    assert os.listdir(tmp_path / "checkpoints") == []
    monkeypatch.setattr(cb, "write_json", lambda path, data: refuse(None, path))
    with pytest.raises(cb.StorageError, match="history file"):
        _fit(model, cb.HistoryFile(str(tmp_path / "history.json")))


def test_resuming_into_another_architecture_is_one_clear_error(tmp_path):
    backup_dir = str(tmp_path / "backup")
    _fit(_model(width=4), cb.ResumableBackup(backup_dir, steps_per_epoch=2))
    other = _model(width=6)
    with pytest.raises(ValueError, match="is of another model or recipe.*new --output") as info:
        cb.ResumableBackup(backup_dir, steps_per_epoch=2).restore(other)
    assert len(str(info.value).splitlines()) == 1 and len(str(info.value)) < 600


def test_a_truncated_backup_is_one_clear_error(tmp_path):
    backup_dir = str(tmp_path / "backup")
    _fit(_model(), cb.ResumableBackup(backup_dir, steps_per_epoch=2))
    path = os.path.join(backup_dir, json.load(open(os.path.join(backup_dir, "latest.json")))["weights"])
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[: len(content) // 2])
    with pytest.raises(ValueError, match="damaged.*truncated or corrupt.*new --output") as info:
        cb.ResumableBackup(backup_dir, steps_per_epoch=2).restore(_model())
    assert len(str(info.value).splitlines()) == 1


def test_a_backup_restores_weights_and_optimizer_state_exactly(tmp_path):
    backup_dir = str(tmp_path / "backup")
    model = _model()
    model.compile(keras.optimizers.AdamW(), "mse")  # moments too (fit swaps an EMA in at its end)
    _fit(model, cb.ResumableBackup(backup_dir, steps_per_epoch=2), epochs=2)
    fresh = _model()
    fresh.compile(keras.optimizers.AdamW(), "mse")
    fresh.optimizer.build(fresh.trainable_variables)
    state = cb.ResumableBackup(backup_dir, steps_per_epoch=2).restore(fresh)
    assert state["epoch"] == 2
    assert int(fresh.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 4
    for a, b in zip(model.weights + model.optimizer.variables, fresh.weights + fresh.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
