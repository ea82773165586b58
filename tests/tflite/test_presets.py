"""export_model(preset="mobile") / keras-vit export --preset mobile: measured choice of format."""
import numpy as np
import pytest

import keras
from keras_vit.tflite import TFLiteRunner, cli, evaluate_tflite, export_model
from keras_vit.tflite.presets import MAX_ACCURACY_DROP, MOBILE_CANDIDATES, Measurement, choose

# One worker runs the whole module: its module-scoped model is then made once, not once
# per worker (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("presets")


def _m(name, ms, acc, error=None):
    return Measurement(name, latency_ms=None if error else ms, round_ms=(ms,), accuracy=acc, size=1, error=error)


# ---------------------------------------------------------------- the rule, on given numbers


def test_choose_takes_fastest_within_half_a_point():
    ms = [_m("float32", 10.0, 0.950), _m("float16", 9.8, 0.950), _m("dynamic int8", 4.0, 0.946),
          _m("full int8", 12.0, 0.950), _m("int8, float transformer ops", 3.0, 0.930)]
    best, reason = choose(ms)
    assert best.name == "dynamic int8"
    # The faster candidate that lost 2 points is named in the reason, with its loss.
    assert "int8, float transformer ops is faster" in reason and "2 points" in reason
    assert "2.50x" in reason


def test_choose_boundary_and_failures():
    # Exactly 0.5 points lower is accepted; 0.6 is not.
    assert choose([_m("float32", 10, 0.900), _m("q", 5, 0.900 - MAX_ACCURACY_DROP)])[0].name == "q"
    assert choose([_m("float32", 10, 0.900), _m("q", 5, 0.894)])[0].name == "float32"
    # A failed candidate is never chosen, however it is listed.
    assert choose([_m("float32", 10, 0.9), _m("bad", 1, 0.99, error="boom")])[0].name == "float32"
    # Better accuracy than float32 is fine; the slower of two accepted ones loses.
    assert choose([_m("float32", 10, 0.9), _m("a", 6, 0.95), _m("b", 7, 0.95)])[0].name == "a"
    # A wider tolerance changes the answer.
    assert choose([_m("float32", 10, 0.9), _m("q", 5, 0.88)], max_accuracy_drop=0.03)[0].name == "q"
    with pytest.raises(ValueError, match="float32"):
        choose([_m("dynamic int8", 5, 0.9)])
    with pytest.raises(ValueError, match="float32"):
        choose([_m("float32", 10, 0.9, error="conversion failed"), _m("q", 5, 0.9)])


# ---------------------------------------------------------------- end to end, on a trained model


def _digits(size):
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.asarray(data.images, np.float32) * (255.0 / 16.0)
    images = np.repeat(np.repeat(images, size // 8, axis=1), size // 8, axis=2)
    return np.repeat(images[..., None], 3, axis=-1), np.asarray(data.target)


@pytest.fixture(scope="module")
def trained_digits():
    """A 2-block ViT trained briefly on digits (32x32), with calibration and held-out data."""
    import keras_vit

    images, labels = _digits(32)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model("vit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=8, depth=2,
                                   embed_dim=64, num_heads=2, num_classes=10)
    # Adam 1e-3: 83-84% held-out accuracy (3e-3 gave 77-78%, near the bound below).
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images[:1200], labels[:1200], epochs=15, batch_size=32, verbose=0)
    return model, images[:1200:12], images[1200:], labels[1200:]


def test_mobile_preset_end_to_end(trained_digits, tmp_path):
    model, cal, ev, ev_labels = trained_digits
    out = tmp_path / "mobile.tflite"
    result = export_model(model, str(out), preset="mobile", representative_data=cal, sample_images=ev,
                          labels=ev_labels)
    report = result.preset_report
    assert [m.name for m in report.measurements] == [c.name for c in MOBILE_CANDIDATES]
    assert all(m.error is None and m.latency_ms > 0 and len(m.round_ms) == report.rounds
               for m in report.measurements)
    # The choice is the rule applied to what was measured, and it stays within 0.5 points.
    assert report.chosen == choose(report.measurements)[0].name
    chosen = next(m for m in report.measurements if m.name == report.chosen)
    base = next(m for m in report.measurements if m.name == "float32")
    assert base.accuracy > 0.8  # the model learned something: accuracy differences mean something
    assert chosen.accuracy >= base.accuracy - MAX_ACCURACY_DROP - 1e-9
    assert chosen.latency_ms <= base.latency_ms
    # The written file is the chosen candidate: its format and accuracy are the measured ones.
    candidate = next(c for c in MOBILE_CANDIDATES if c.name == report.chosen)
    assert result.path == str(out) and result.quantize == candidate.quantize
    assert str(TFLiteRunner(str(out)).input_dtype) == (candidate.input_dtype or "float32")
    assert evaluate_tflite(str(out), ev, ev_labels)["accuracy"] == pytest.approx(chosen.accuracy)
    text = result.summary()
    assert "Chose " + report.chosen in text and "speed-up vs float32" in text


def test_preset_refuses_missing_labels_and_explicit_quantization(trained_digits, tmp_path):
    model, cal, ev, _ = trained_digits
    with pytest.raises(ValueError, match="labelled"):
        export_model(model, str(tmp_path / "a.tflite"), preset="mobile", representative_data=cal, sample_images=ev)
    with pytest.raises(ValueError, match="chooses the TFLite quantization"):
        export_model(model, str(tmp_path / "a.tflite"), preset="mobile", quantize="int8", representative_data=cal)
    assert not (tmp_path / "a.tflite").exists()


@pytest.mark.parametrize("extra, message", [
    ([], "needs --data"),
    (["--quantize", "dynamic", "--data", "digits"], "chooses the TFLite quantization"),
    (["--format", "keras", "--data", "digits"], "chooses the TFLite quantization"),
])
def test_cli_preset_errors(extra, message, tmp_path, capsys):
    code = cli.main(["export", "vit_tiny_patch16_224", "--preset", "mobile", "--output",
                     str(tmp_path / "m.tflite")] + extra)
    assert code == 1 and message in capsys.readouterr().err
    assert not (tmp_path / "m.tflite").exists()


def test_cli_needs_format_or_preset(tmp_path, capsys):
    assert cli.main(["export", "vit_tiny_patch16_224", "--output", str(tmp_path / "m.tflite")]) == 1
    assert "--preset mobile" in capsys.readouterr().err
