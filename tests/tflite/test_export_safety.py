"""Export never destroys what the user made, and leaves nothing behind when it fails."""
import errno
import os
import signal
import subprocess
import sys
import tempfile

import pytest

from keras_vit.tflite import cli, export_model
from keras_vit.tflite import export as export_lib
from keras_vit.tflite.export import OutputError
from keras_vit.utils import io as atomic_io


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(r, f), folder) for r, _, files in os.walk(folder) for f in files)


@pytest.fixture
def user_dir(tmp_path):
    """A run folder as training leaves it: a model, a checkpoint, a metrics file."""
    folder = tmp_path / "runs" / "x"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"test_accuracy": 0.99}')
    (folder / "checkpoints" / "epoch-001.keras").write_bytes(b"not really a model")
    return folder


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The system temp dir, redirected so that leftovers of an export can be counted."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("format, suffix", [("tflite", ""), ("keras", ""), ("tflite", "/"), ("keras", "/")])
def test_file_format_refuses_a_folder(toy_vit, user_dir, format, suffix):
    before = _tree(user_dir)
    with pytest.raises(OutputError, match="is a folder"):
        export_model(toy_vit, str(user_dir) + suffix, format=format, verify=False, overwrite=True)
    assert _tree(user_dir) == before and os.path.isdir(user_dir)


@pytest.mark.parametrize("suffix", ["", "/"])
def test_saved_model_refuses_a_folder_that_is_not_a_saved_model(toy_vit, user_dir, suffix):
    before = _tree(user_dir)
    with pytest.raises(OutputError, match="not a SavedModel.*--overwrite"):
        export_model(toy_vit, str(user_dir) + suffix, format="saved_model", verify=False)
    assert _tree(user_dir) == before
    assert sorted(os.listdir(user_dir.parent)) == ["x"]  # nothing renamed to a hidden .old


def test_saved_model_replaces_a_saved_model_and_overwrite_replaces_other_folders(toy_vit, user_dir, tmp_path):
    sm = export_model(toy_vit, str(tmp_path / "sm") + "/", format="saved_model", verify=False)
    assert sm.path == str(tmp_path / "sm") and "saved_model.pb" in os.listdir(sm.path)
    export_model(toy_vit, tmp_path / "sm", format="saved_model", verify=False)  # an earlier export: replaced
    export_model(toy_vit, user_dir, format="saved_model", verify=False, overwrite=True)
    assert "saved_model.pb" in os.listdir(user_dir) and "metrics.json" not in os.listdir(user_dir)
    assert sorted(os.listdir(tmp_path)) == ["runs", "sm"] and os.listdir(user_dir.parent) == ["x"]


def test_the_exported_model_and_its_folder_are_never_replaced(toy_vit, user_dir):
    source = user_dir / "model.keras"
    toy_vit.save(source)
    before = _tree(user_dir)
    for output, format in ((user_dir, "saved_model"), (source, "keras"), (user_dir.parent, "saved_model")):
        with pytest.raises(OutputError, match="model being exported"):
            export_model(str(source), output, format=format, verify=False, overwrite=True)
    assert _tree(user_dir) == before


@pytest.mark.parametrize("output", [".", "..", "./"])
def test_current_folder_and_parents_are_refused(toy_vit, tmp_path, monkeypatch, output):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    with pytest.raises(OutputError, match="current folder"):
        export_model(toy_vit, output, format="saved_model", verify=False, overwrite=True)
    assert (work / "notes.txt").read_text() == "mine"


def test_a_file_that_is_not_an_export_needs_overwrite(toy_vit, tmp_path):
    notes = tmp_path / "notes.tflite"
    notes.write_text("my notes")
    with pytest.raises(OutputError, match="not a tflite file"):
        export_model(toy_vit, notes, verify=False)
    assert notes.read_text() == "my notes"


def test_failed_conversion_leaves_nothing(toy_vit, tmp_path, private_tmp, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of conversion

    monkeypatch.setattr(export_lib, "convert_tflite", fail)
    (tmp_path / "out").mkdir()
    with pytest.raises(KeyboardInterrupt):
        export_model(toy_vit, tmp_path / "out" / "m.tflite", verify=False)
    assert os.listdir(tmp_path / "out") == [] and _exports(private_tmp) == []


def test_failed_saved_model_write_leaves_nothing(toy_vit, tmp_path, monkeypatch):
    def fail(model, path, *args, **kwargs):
        os.makedirs(os.path.join(path, "variables"))
        open(os.path.join(path, "variables", "partial"), "wb").close()
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(export_lib, "write_saved_model", fail)
    with pytest.raises(OSError):
        export_model(toy_vit, tmp_path / "sm", format="saved_model", verify=False)
    assert os.listdir(tmp_path) == []


def _exports(folder):
    return [name for name in os.listdir(folder) if name.startswith("keras_vit_export_")]


def test_sigterm_during_export_removes_every_temporary_folder(tmp_path):
    """A killed export (SIGTERM) unwinds: no SavedModel left in the temp dir, no partial file."""
    systmp, out = tmp_path / "systmp", tmp_path / "out"
    systmp.mkdir()
    out.mkdir()
    code = f"""
import os, sys, tempfile, time
tempfile.tempdir = {str(systmp)!r}
import keras
from keras_vit.tflite import export as export_lib

def slow_conversion(*args, **kwargs):
    print("converting", flush=True)
    time.sleep(60)

export_lib.convert_tflite = slow_conversion
inputs = keras.Input((8, 8, 3))
model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
export_lib.export_model(model, {str(out / "m.tflite")!r}, verify=False)
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "converting"
        # the SavedModel being converted lies beside the output, not in the temp dir
        assert _exports(systmp) == [] and len(os.listdir(out)) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    assert _exports(systmp) == [] and os.listdir(out) == []


@pytest.mark.parametrize(
    "format, error, message",
    [
        ("tflite", errno.ENOSPC, "No space left on the device"),
        ("keras", errno.EROFS, "choose a folder you can write to"),
        ("keras", errno.EACCES, "choose a folder you can write to"),
    ],
)
def test_cli_disk_errors_are_one_line(toy_vit, tmp_path, monkeypatch, capsys, format, error, message):
    import keras

    model = tmp_path / "toy.keras"
    toy_vit.save(model)

    def refuse(*args, **kwargs):  # the data was written, then the disk said no
        raise OSError(error, os.strerror(error))

    if format == "tflite":
        monkeypatch.setattr(atomic_io.os, "fsync", refuse)
    else:
        monkeypatch.setattr(keras.Model, "save", refuse)
    out = tmp_path / "out"
    out.mkdir()
    code = cli.main(["export", str(model), "--format", format, "--output", str(out / f"m.{format}"), "--no-verify"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert os.listdir(out) == []


def test_cli_refuses_a_folder_in_one_line(toy_vit, user_dir, capsys):
    model = user_dir.parent / "toy.keras"
    toy_vit.save(model)
    before = _tree(user_dir)
    code = cli.main(["export", str(model), "--format", "tflite", "--output", str(user_dir), "--no-verify"])
    err = capsys.readouterr().err
    assert code == 1 and "is a folder" in err and len(err.strip().splitlines()) == 1
    assert _tree(user_dir) == before


def test_atomic_write_refuses_a_folder_and_cleans_up(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_io.write_json(folder, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_io.atomic_write(tmp_path / "f.json") as f:
            f.write("{")
            raise RuntimeError("stop")
    assert os.listdir(tmp_path) == ["d"]
    atomic_io.write_json(tmp_path / "f.json", {"a": 1})
    assert (tmp_path / "f.json").read_text().startswith("{")
