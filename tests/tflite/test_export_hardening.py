"""Issue 24, export: nothing the user made is replaced, nothing is left behind, nothing hangs."""
import argparse
import errno
import os
import stat
import subprocess
import sys
import tempfile
import threading

import pytest

from keras_vit.tflite import cli, export_model
from keras_vit.tflite import export as export_lib
from keras_vit.tflite.export import OutputError
from keras_vit.utils import io as atomic_io


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(r, f), folder) for r, _, files in os.walk(folder) for f in files)


@pytest.fixture
def run_dir(toy_vit, tmp_path):
    """A training run folder: the model, a checkpoint, metrics."""
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    (folder / "checkpoints" / "epoch-001.keras").write_bytes(b"checkpoint")
    toy_vit.save(folder / "model.keras")
    return folder


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _fake_saved_model(folder):
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / "fingerprint.pb").write_bytes(b"fp")


# --- data loss ----------------------------------------------------------------------------

def test_cli_export_onto_the_models_own_run_folder_is_refused(run_dir, capsys):
    """Case 1: the CLI loads the model first; its source is protected all the same."""
    before = _tree(run_dir)
    code = cli.main(["export", str(run_dir / "model.keras"), "--format", "saved_model", "--overwrite",
                     "--output", str(run_dir), "--no-verify"])
    err = capsys.readouterr().err
    assert code == 1 and "model being exported" in err and len(err.strip().splitlines()) == 1
    assert _tree(run_dir) == before


def test_cli_keras_export_onto_its_source_file_is_refused(run_dir, capsys):
    """Case 3: rewriting the source from a compile-less load would drop its optimizer state."""
    source = run_dir / "model.keras"
    data = source.read_bytes()
    for extra in ([], ["--overwrite"]):
        code = cli.main(["export", str(source), "--format", "keras", "--output", str(source), "--no-verify"] + extra)
        assert code == 1 and "model being exported" in capsys.readouterr().err
    assert source.read_bytes() == data


def test_loaded_model_remembers_its_source(run_dir):
    model = export_lib.load_keras_model(str(run_dir / "model.keras"))
    with pytest.raises(OutputError, match="model being exported"):
        export_model(model, run_dir, format="saved_model", overwrite=True, verify=False)


@pytest.mark.parametrize("others", [["old.keras"], ["thesis.tex", "figs/fig1.pdf"]])
def test_saved_model_folder_with_user_files_is_not_replaced(toy_vit, tmp_path, others):
    """Cases 2 and 4: a saved_model.pb in the listing does not make the user's files ours."""
    folder = tmp_path / "export"
    _fake_saved_model(folder)
    for name in others:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("mine")
    before = _tree(folder)
    with pytest.raises(OutputError, match=others[0].split("/")[0]) as info:
        export_model(toy_vit, folder, format="saved_model", verify=False)
    assert "saved_model.pb" not in str(info.value).split("also")[-1]
    assert _tree(folder) == before and sorted(os.listdir(tmp_path)) == ["export"]


@pytest.mark.slow
def test_saved_model_folder_of_an_export_alone_is_replaced(toy_vit, tmp_path):
    folder = tmp_path / "export"
    _fake_saved_model(folder)
    export_model(toy_vit, folder, format="saved_model", verify=False)
    assert os.path.getsize(folder / "saved_model.pb") > 2


@pytest.mark.parametrize("format", ["keras", "tflite", "saved_model"])
def test_a_device_is_never_replaced_even_with_overwrite(toy_vit, tmp_path, format):
    """Case 5: a link to /dev/null stays a link to the device (no regular file over it)."""
    link = tmp_path / f"null.{format}"
    os.symlink(os.devnull, link)
    with pytest.raises(OutputError, match="character device"):
        export_model(toy_vit, link, format=format, overwrite=True, verify=False)
    assert os.path.islink(link) and stat.S_ISCHR(os.stat(link).st_mode)


@pytest.mark.parametrize("format", ["tflite", "keras"])
def test_a_fifo_as_output_is_refused_without_blocking(tmp_path, format):
    """The 'earlier export?' check used to open the FIFO for reading and wait for ever."""
    fifo = tmp_path / f"pipe.{format}"
    os.mkfifo(fifo)
    outcome = []

    def check():
        try:
            export_lib.check_output(fifo, format)
        except OutputError as e:
            outcome.append(str(e))

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader so that the test ends
        with open(fifo, "wb"):
            pass
        thread.join(10)
        pytest.fail("check_output blocked on a FIFO")
    assert outcome and "named pipe" in outcome[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# --- left behind --------------------------------------------------------------------------

def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_saved_model_is_beside_the_output_and_stale_ones_are_swept(toy_vit, tmp_path, private_tmp,
                                                                              monkeypatch):
    """A SIGKILLed export left $TMPDIR/keras_vit_export_* for ever; now its leftover lies beside
    the output, where the next export sweeps it (only names of dead writers of this machine)."""
    out = tmp_path / "out"
    out.mkdir()
    stale = atomic_io.tmp_sibling(out / "m.tflite", tag="sm-").replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    os.makedirs(os.path.join(stale, "variables"))
    alive = atomic_io.tmp_sibling(out / "other.keras")  # a live writer's (this process)
    open(alive, "w").close()
    (out / ".tmp-notes").write_text("not ours")
    seen = []

    def fail(sm_dir, *args, **kwargs):
        seen.append(sm_dir)
        raise export_lib.ConversionError("stop here")

    monkeypatch.setattr(export_lib, "convert_tflite", fail)
    with pytest.raises(export_lib.ConversionError):
        export_model(toy_vit, out / "m.tflite", verify=False)
    assert os.path.dirname(seen[0]) == str(out)
    assert sorted(os.listdir(out)) == sorted([".tmp-notes", os.path.basename(alive)])
    assert os.listdir(private_tmp) == []


def test_failed_keras_export_into_a_new_folder_leaves_no_folder(toy_vit, tmp_path, monkeypatch):
    """Full disk during a .keras export: the folder made for it goes, the error names the target."""
    import keras

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(keras.Model, "save", full)
    target = tmp_path / "new" / "deeper" / "m.keras"
    with pytest.raises(OSError) as info:
        export_model(toy_vit, target, format="keras", verify=False)
    assert info.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_failed_tflite_export_into_a_new_folder_leaves_no_folder(toy_vit, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise export_lib.ConversionError("stop here")

    monkeypatch.setattr(export_lib, "convert_tflite", fail)
    with pytest.raises(export_lib.ConversionError):
        export_model(toy_vit, tmp_path / "new" / "m.tflite", verify=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", [["--runs", "0"], ["--threads", "0"], ["--rounds", "0"]])
def test_benchmark_counts_must_be_positive(flag, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["benchmark", "vit_tiny_patch16_224"] + flag)
    assert info.value.code == 2 and flag[0] in capsys.readouterr().err


def test_benchmark_removes_its_temporary_folder_on_errors(private_tmp):
    from keras_vit.tflite import benchmark

    args = argparse.Namespace(models=["no_such_model"], formats=["keras"], data=None, num_calibration=1, num_eval=1,
                              threads=[1], runs=1, rounds=1, peers=[], workdir=None, markdown=None, weights=None,
                              image_size=None, num_classes=None)
    with pytest.raises(ValueError, match="Unknown model"):
        benchmark.run(args)
    assert os.listdir(private_tmp) == []
    args.runs = 0
    with pytest.raises(ValueError, match="--runs"):
        benchmark.run(args)


# --- silently ignored arguments -----------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["export", "vit_tiny_patch16_224", "--format", "keras", "--output", "{tmp}/x.keras", "--image-size", "0"],
    ["predict", "vit_tiny_patch16_224", "{tmp}/img.png", "--num-classes", "0"],
    ["predict", "{tmp}/m.tflite", "{tmp}/img.png", "--num-threads", "0"],
])
def test_zero_sizes_are_argument_errors(argv, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        cli.main([a.format(tmp=tmp_path) for a in argv])
    assert info.value.code == 2 and "positive" in capsys.readouterr().err


def test_keras_file_refuses_registry_only_flags(run_dir, tmp_path, capsys):
    code = cli.main(["export", str(run_dir / "model.keras"), "--format", "keras", "--output",
                     str(tmp_path / "o.keras"), "--image-size", "64", "--num-classes", "5", "--no-verify"])
    err = capsys.readouterr().err
    assert code == 1 and "--image-size, --num-classes" in err and not os.path.exists(tmp_path / "o.keras")


# --- memory ---------------------------------------------------------------------------------

def _declared_npz(path, shape):
    """An .npz whose 'images' declares ``shape`` float32 zeros: megabytes on disk, far more inflated."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("images.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        zeros = bytes(1 << 20)
        for _ in range(int(np.prod(shape)) * 4 >> 20):
            f.write(zeros)


def test_export_data_reads_only_the_images_asked_for(tmp_path):
    """A 100 MB array in a 100 KB .npz: only calibration + verification images are inflated."""
    import tracemalloc

    from keras_vit.tflite.data import calibration_and_eval

    path = tmp_path / "big.npz"
    _declared_npz(path, (2000, 64, 64, 3))
    assert os.path.getsize(path) < 1 << 20
    tracemalloc.start()
    try:
        cal, ev, _ = calibration_and_eval(str(path), (64, 64, 3), 8, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cal.shape == (8, 64, 64, 3) and ev.shape == (8, 64, 64, 3)
    assert peak < 8 << 20  # 16 images are 0.8 MB; the whole array would be 98 MB (196 MB as float32)


def test_export_data_refuses_images_far_larger_than_the_model_input(tmp_path):
    from keras_vit.tflite.data import load_dataset

    path = tmp_path / "huge_images.npz"
    _declared_npz(path, (1, 1024, 1024, 3))
    with pytest.raises(ValueError, match="far larger than the model input"):
        load_dataset(str(path), (32, 32, 3), limit=4)


def test_predict_on_many_files_runs_in_batches(tmp_path, monkeypatch, capsys):
    import numpy as np

    from keras_vit.tflite import data as data_lib

    batches = []

    def predict(x):
        batches.append(len(x))
        return np.tile(np.arange(3, dtype=np.float32), (len(x), 1))

    monkeypatch.setattr(cli, "_load_predictor", lambda spec, args: (predict, (8, 8, 3)))
    monkeypatch.setattr(data_lib, "load_image", lambda path, shape, resize=False: np.zeros(shape, np.float32))
    files = []
    for i in range(100):
        files.append(str(tmp_path / f"{i}.png"))
        open(files[-1], "wb").close()
    assert cli.main(["predict", "m.keras", *files, "--top-k", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 100 and out[-1].startswith(files[-1]) and max(batches) <= cli.PREDICT_BATCH
    assert sum(batches) == 100


def test_export_full_disk_from_tensorflow_is_one_line(toy_vit, tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    model = tmp_path / "toy.keras"
    toy_vit.save(model)

    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "variables.data-00000-of-00001: No space left on device")

    monkeypatch.setattr(export_lib, "write_saved_model", full)
    code = cli.main(["export", str(model), "--format", "saved_model", "--output", str(tmp_path / "sm"), "--no-verify"])
    err = capsys.readouterr().err
    assert code == 1 and "No space left" in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["toy.keras"]
