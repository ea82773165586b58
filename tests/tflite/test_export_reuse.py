"""export_model(saved_model_dir=...): TFLite converted from a SavedModel written earlier."""
import numpy as np
import pytest

from keras_vit.tflite import TFLiteRunner, export_model


def test_tflite_from_an_existing_saved_model_equals_a_fresh_export(toy_vit, tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    export_model(toy_vit, tmp_path / "sm", format="saved_model", verify=False)
    reused = export_model(toy_vit, tmp_path / "reused.tflite", saved_model_dir=tmp_path / "sm",
                          sample_images=images)
    fresh = export_model(toy_vit, tmp_path / "fresh.tflite", sample_images=images)
    assert reused.passed and fresh.passed
    # The SavedModel is left in place (it is the user's export) ...
    assert (tmp_path / "sm" / "saved_model.pb").is_file()
    # ... and both files compute the same function.
    a = TFLiteRunner(str(tmp_path / "reused.tflite"))(images[:1])
    b = TFLiteRunner(str(tmp_path / "fresh.tflite"))(images[:1])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_saved_model_of_another_model_fails_verification(toy_vit, tiny_vit, tmp_path):
    # The reused SavedModel is not trusted: verification compares with the Keras model given.
    export_model(tiny_vit, tmp_path / "other", format="saved_model", verify=False)
    result = export_model(toy_vit, tmp_path / "x.tflite", saved_model_dir=tmp_path / "other")
    assert not result.passed


def test_saved_model_dir_is_checked(toy_vit, tmp_path):
    with pytest.raises(ValueError, match="not a SavedModel folder"):
        export_model(toy_vit, tmp_path / "x.tflite", saved_model_dir=tmp_path)
    with pytest.raises(ValueError, match="format='tflite' only"):
        export_model(toy_vit, tmp_path / "k.keras", format="keras", saved_model_dir=tmp_path)
