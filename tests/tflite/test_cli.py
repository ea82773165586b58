"""The export/predict command line: exit codes and messages."""
import numpy as np
import pytest
from PIL import Image

from keras_vit.tflite import cli

# One worker runs the whole module: its module-scoped model is then made once, not once
# per worker (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("tflite_cli")


@pytest.fixture(scope="module")
def toy_keras_file(toy_vit, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "toy.keras"
    toy_vit.save(path)
    return str(path)


@pytest.fixture(scope="module")
def toy_tflite(toy_keras_file, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tflite") / "toy.tflite")
    assert cli.main(["export", toy_keras_file, "--format", "tflite", "--output", out]) == 0
    return out


def _png(path, size=(32, 32), mode="RGB"):
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = size[::-1] + ((channels,) if channels else ())
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode).save(path)
    return str(path)


def test_export_int8_with_npz_data(toy_keras_file, toy_vit, pixel_data, tmp_path, capsys):
    labels = np.asarray(toy_vit(pixel_data)).argmax(-1)
    np.savez(tmp_path / "data.npz", images=pixel_data, labels=labels)
    out = tmp_path / "toy_int8.tflite"
    code = cli.main(["export", toy_keras_file, "--format", "tflite", "--quantize", "int8",
                     "--data", str(tmp_path / "data.npz"), "--num-calibration", "32",
                     "--input-dtype", "uint8", "--output", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "PASSED: top1_agreement" in text and "accuracy" in text and "XNNPACK" in text
    assert out.exists()


def test_export_exit_code_follows_verification(toy_keras_file, tmp_path, capsys):
    out = tmp_path / "dyn.tflite"
    base = ["export", toy_keras_file, "--format", "tflite", "--quantize", "dynamic", "--output", str(out)]
    assert cli.main(base) == 0
    assert "Verification PASSED" in capsys.readouterr().out
    # No export can agree on more than 100% of samples: verification fails, exit code 1.
    assert cli.main(base + ["--min-agreement", "1.01"]) == 1
    assert "Verification FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--format", "onnx"], "invalid choice: 'onnx'"),
        (["--format", "tflite", "--quantize", "int4"], "invalid choice: 'int4'"),
    ],
)
def test_export_rejects_unknown_choices(toy_keras_file, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["export", toy_keras_file, "--output", str(tmp_path / "x")] + argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_export_int8_without_data_and_unknown_model(toy_keras_file, tmp_path, capsys):
    assert cli.main(["export", toy_keras_file, "--format", "tflite", "--quantize", "int8",
                     "--output", str(tmp_path / "x.tflite")]) == 1
    assert "needs --data" in capsys.readouterr().err
    assert cli.main(["export", "no_such_model", "--format", "tflite", "--output", str(tmp_path / "y.tflite")]) == 1
    assert "Unknown model 'no_such_model'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_predict_top_k_with_labels(toy_tflite, toy_keras_file, tmp_path, capsys):
    images = [_png(tmp_path / "a.png"), _png(tmp_path / "b.png")]
    (tmp_path / "labels.txt").write_text("\n".join(f"class_{i}" for i in range(10)))
    assert cli.main(["predict", toy_tflite, *images, "--top-k", "3", "--labels", str(tmp_path / "labels.txt")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(images[0]) and lines[0].count("class_") == 3
    # The .keras model gives the same top-1 class.
    assert cli.main(["predict", toy_keras_file, images[0], "--top-k", "1"]) == 0
    keras_top1 = capsys.readouterr().out.split(": ")[1].split(" ")[0]
    assert lines[0].split(": ")[1].split(" ")[0] == f"class_{keras_top1}"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: _png(p / "small.png", size=(16, 16)), "is 16x16, the model takes 32x32"),
        (lambda p: _png(p / "rgba.png", mode="RGBA"), "has 4 channels"),
        (lambda p: _png(p / "gray.png", mode="L"), "grayscale"),
        (lambda p: (p / "notes.txt").write_text("hello") and str(p / "notes.txt"), "not an image file"),
        (lambda p: str(p / "missing.png"), "No such image file"),
    ],
)
def test_predict_bad_images(toy_tflite, tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert cli.main(["predict", toy_tflite, path]) == 1
    assert message in capsys.readouterr().err


def test_predict_resize_accepts_other_sizes(toy_tflite, tmp_path, capsys):
    path = _png(tmp_path / "big.png", size=(48, 40))
    assert cli.main(["predict", toy_tflite, path, "--resize", "--top-k", "2"]) == 0
    assert capsys.readouterr().out.startswith(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "m.tflite", "a.png", "--top-k", "0"], "--top-k: must be a positive integer, got 0"),
        (["predict", "m.tflite", "a.png", "--top-k", "-3"], "--top-k: must be a positive integer"),
        (["export", "m.keras", "--format", "tflite", "--output", "o.tflite", "--num-calibration", "-1"],
         "--num-calibration: must be 0 or more, got -1"),
        (["export", "m.keras", "--format", "tflite", "--output", "o.tflite", "--batch-size", "0"],
         "--batch-size: must be a positive integer"),
    ],
)
def test_non_positive_counts_are_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
