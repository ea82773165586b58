"""The keras-vit command line: the parts owned by the package itself."""
import subprocess
import sys

from keras_vit.cli import main


def test_list_prints_every_model_with_parameters(capsys):
    assert main(["list", "--family", "vit"]) == 0
    out = capsys.readouterr().out
    assert "vit_base_patch16_224   86,567,656" in out
    assert out.count("\nvit_") == 15  # one row per variant after the header


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "keras_vit.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("train", "export", "predict", "benchmark", "list"):
        assert command in result.stdout


def _run(code, **kwargs):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_help_and_list_do_not_import_tensorflow():
    # --help, `<command> --help` and `list` answer without loading TensorFlow (or Keras).
    # The console script's name is what keeps `import keras_vit` light (see its docstring).
    for argv in (["--help"], ["train", "--help"], ["export", "--help"], ["predict", "--help"],
                 ["benchmark", "--help"], ["list"]):
        result = _run(
            "import sys\n"
            "sys.argv[0] = 'keras-vit'\n"
            "from keras_vit.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stdout, (argv, result.stdout[-500:])


def test_model_index_matches_the_registry():
    # `keras-vit list` reads keras_vit/model_index.json; regenerate it with
    # `python -c "from keras_vit.cli import write_model_index; write_model_index()"`.
    import json

    from keras_vit.cli import MODEL_INDEX, model_index_from_registry

    with open(MODEL_INDEX, encoding="utf-8") as f:
        assert json.load(f) == model_index_from_registry()


def test_native_log_lines_are_filtered_unless_verbose():
    code = (
        "import os, sys\n"
        "sys.argv[0] = 'keras-vit'\n"
        "from keras_vit.cli import filter_native_stderr\n"
        "if sys.argv[1] == 'quiet':\n"
        "    filter_native_stderr()\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1795689961.242110   15383 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1795689961.242110   15383 cuda_executor.cc:1] failed call to cuInit\\n')\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'keep: a real error message\\n')\n"
        "print('to stderr from python', file=sys.stderr)\n")
    quiet = subprocess.run([sys.executable, "-c", code, "quiet"], capture_output=True,
                           text=True, timeout=60)
    assert quiet.returncode == 0
    assert quiet.stderr.splitlines() == ["keep: a real error message", "to stderr from python"]
    loud = subprocess.run([sys.executable, "-c", code, "verbose"], capture_output=True,
                          text=True, timeout=60)
    assert len(loud.stderr.splitlines()) == 6


def test_a_real_command_prints_no_tensorflow_log_line(tmp_path):
    # predict with a .keras model loads TensorFlow in the child: none of its C++ log lines
    # (absl preamble, oneDNN, CUDA probing) may reach the user; --verbose shows them.
    import keras
    import numpy as np
    from PIL import Image

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.save(tmp_path / "m.keras")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    argv = [sys.executable, "-m", "keras_vit.cli", "predict", str(tmp_path / "m.keras"),
            str(tmp_path / "x.png")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    for noise in ("I0000", "W0000", "E0000", "absl::InitializeLog", "oneDNN"):
        assert noise not in text, text
    loud = subprocess.run(argv + ["--verbose"], capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "absl::InitializeLog" in loud.stderr or "I0000" in loud.stderr


def test_import_registers_layers_so_keras_files_load(tmp_path):
    import keras_vit

    model = keras_vit.create_model("vit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=16,
                                   embed_dim=16, depth=1, num_heads=2, num_classes=3)
    model.save(tmp_path / "m.keras")
    result = _run("import keras, keras_vit, sys\n"
                  f"m = keras.saving.load_model({str(tmp_path / 'm.keras')!r})\n"
                  "print('OK', m.output_shape)\n")
    assert result.returncode == 0 and "OK (None, 3)" in result.stdout, result.stderr[-1500:]


def test_ctrl_c_is_one_line_not_a_traceback(monkeypatch, capsys):
    import keras_vit.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_list", interrupted)
    assert cli.main(["list"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err
