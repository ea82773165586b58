"""Int8 exports keep DIV in float: TFLite's int8 DIV stops the interpreter on a divisor that
rounds to the zero point, which T2T-ViT's performer attention normalizer does."""
import numpy as np
import pytest

from keras_vit.tflite import convert as convert_lib
from keras_vit.tflite.export import export_model
from keras_vit.tflite.runtime import TFLiteRunner


@pytest.fixture(scope="module")
def performer_t2t():
    import keras

    from keras_vit.models.t2t_vit import presets
    from keras_vit.models.t2t_vit.model import T2TViT

    keras.utils.set_random_seed(0)
    config = dict(presets.TINY, depth=1)
    model = T2TViT(**config)
    images = np.random.default_rng(0).uniform(0, 255, (24,) + tuple(config["input_shape"]))
    return model, images.astype("float32")


@pytest.mark.slow
def test_t2t_full_int8_keeps_div_in_float_and_runs(performer_t2t, tmp_path, monkeypatch):
    model, images = performer_t2t
    result = export_model(model, tmp_path / "t2t_int8.tflite", quantize="int8",
                          representative_data=images, sample_images=images[:8],
                          min_top1_agreement=0.0)
    assert result.float_ops == ("DIV",)
    assert "DIV" not in convert_lib.integer_ops(result.path)
    assert result.ops["DIV"] >= 1 and result.verification.passed
    # Everything else stayed integer: the fully connected layers take int8 inputs.
    assert "FULLY_CONNECTED" in convert_lib.integer_ops(result.path)

    # What the rule prevents: the same export with the DIVs left integer fails on these images.
    monkeypatch.setattr(convert_lib, "INT8_UNSAFE_OPS", ())
    raw = export_model(model, tmp_path / "t2t_raw.tflite", quantize="int8",
                       representative_data=images, verify=False)
    assert raw.float_ops == () and "DIV" in convert_lib.integer_ops(raw.path)
    with pytest.raises(RuntimeError, match="DIV"):
        TFLiteRunner(raw.path)(images[:8])
