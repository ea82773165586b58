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
