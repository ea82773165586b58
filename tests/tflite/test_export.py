"""export_model: every format and quantization, parity with Keras, builtin-only, atomic writes."""
import os

import keras
import numpy as np
import pytest

from keras_vit.tflite import ConversionError, TFLiteRunner, export_model, inspect_ops

IMAGE_SHAPE = (32, 32, 3)  # the conftest models' input


def _files(folder):
    return sorted(os.listdir(folder))


def test_float32_tflite_matches_keras(toy_vit, pixel_data, tmp_path):
    out = tmp_path / "toy.tflite"
    result = export_model(toy_vit, out, sample_images=pixel_data[:8])
    assert result.passed and result.verification.metric == "max_abs_diff/range"
    assert result.verification.value <= 1e-4
    assert result.input_shape == (1,) + IMAGE_SHAPE and result.input_dtype == "float32"
    assert result.size == os.path.getsize(out)
    # Independent re-check with a fresh interpreter, not the one export_model used.
    ref = np.asarray(toy_vit(pixel_data[8:12]))
    got = TFLiteRunner(str(out))(pixel_data[8:12])
    assert np.abs(ref - got).max() <= 1e-4 * (ref.max() - ref.min())
    ops, non_builtin = inspect_ops(str(out))
    assert non_builtin == [] and ops == result.ops
    assert "GELU" in ops and "BATCH_MATMUL" in ops
    assert _files(tmp_path) == ["toy.tflite"]  # no temporary files left


@pytest.mark.parametrize("quantize", ["float16", "dynamic", "int8"])
def test_quantized_tflite_agrees_with_keras(toy_vit, pixel_data, tmp_path, quantize):
    # Labels independent of the model: the reported accuracies must be each model's own.
    labels = np.random.default_rng(1).integers(0, 10, len(pixel_data) - 32)
    result = export_model(toy_vit, tmp_path / f"{quantize}.tflite", quantize=quantize,
                          representative_data=pixel_data[:32], sample_images=pixel_data[32:], labels=labels)
    v = result.verification
    assert result.passed, v.summary()
    assert v.metric == "top1_agreement"
    keras_top1 = np.asarray(toy_vit(pixel_data[32:])).argmax(-1)
    tflite_top1 = TFLiteRunner(result.path)(pixel_data[32:]).argmax(-1)
    assert v.keras_accuracy == pytest.approx(np.mean(keras_top1 == labels))
    assert v.accuracy == pytest.approx(np.mean(tflite_top1 == labels))
    float_size = export_model(toy_vit, tmp_path / "f32.tflite", verify=False).size
    assert result.size < 0.7 * float_size


def test_int8_uint8_io_takes_raw_pixel_bytes(toy_vit, pixel_data, tmp_path):
    out = str(tmp_path / "int8_u8.tflite")
    result = export_model(toy_vit, out, quantize="int8", representative_data=pixel_data[:32],
                          input_dtype="uint8", output_dtype="uint8", sample_images=pixel_data[32:])
    assert result.passed, result.verification.summary()
    assert (result.input_dtype, result.output_dtype) == ("uint8", "uint8")
    runner = TFLiteRunner(out)
    scale, zero_point = runner._input["quantization"]
    assert scale == pytest.approx(1.0) and zero_point == 0
    # Feeding bytes straight into the interpreter equals the runner's float path.
    pixels = np.round(pixel_data[40:41]).astype(np.uint8)
    runner.interpreter.set_tensor(runner._input["index"], pixels)
    runner.interpreter.invoke()
    raw = runner.interpreter.get_tensor(runner._outputs[0]["index"])
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw.argmax(-1), runner(pixels.astype(np.float32)).argmax(-1))


def test_saved_model_and_keras_formats(toy_vit, pixel_data, tmp_path):
    import tensorflow as tf

    sm = export_model(toy_vit, tmp_path / "sm", format="saved_model", sample_images=pixel_data[:4])
    assert sm.passed and sm.verification.max_abs_diff < 1e-5
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["images"].shape == (1,) + IMAGE_SHAPE
    # Re-export over an existing SavedModel folder replaces it.
    export_model(toy_vit, tmp_path / "sm", format="saved_model", verify=False)
    kr = export_model(toy_vit, tmp_path / "m.keras", format="keras", sample_images=pixel_data[:4])
    assert kr.passed and kr.verification.max_abs_diff == 0
    assert _files(tmp_path) == ["m.keras", "sm"]


def test_export_from_keras_file_and_batch_size(toy_vit, pixel_data, tmp_path):
    toy_vit.save(tmp_path / "toy.keras")
    result = export_model(str(tmp_path / "toy.keras"), tmp_path / "b2.tflite", batch_size=2,
                          sample_images=pixel_data[:5])
    assert result.passed and result.input_shape == (2,) + IMAGE_SHAPE


def test_flex_ops_fail_loudly_and_leave_nothing(tmp_path):
    inputs = keras.Input((8, 8, 3))
    # tf.math.erf has no TFLite builtin: conversion would need SELECT_TF_OPS.
    outputs = keras.layers.Lambda(lambda t: keras.ops.erf(t / 255.0))(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(outputs))
    with pytest.raises(ConversionError, match="Erf"):
        export_model(model, tmp_path / "erf.tflite", verify=False)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "onnx"}, "Unknown format 'onnx'"),
        ({"quantize": "int4"}, "Unknown quantization 'int4'"),
        ({"format": "keras", "quantize": "int8"}, "TFLite only"),
        ({"quantize": "int8"}, "representative_data"),
        ({"input_dtype": "uint8"}, "needs quantize='int8'"),
        ({"input_dtype": "int16", "quantize": "int8"}, "Unknown input_dtype"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_are_explained(toy_vit, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_model(toy_vit, tmp_path / "x.tflite", **kwargs)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((4, 16, 16, 3)), "expected 32x32"),
        (np.zeros((4, 32, 32, 1)), "expected 3 channels"),
        (np.full((4, 32, 32, 3), 0.5), r"\[0, 255\]"),
    ],
)
def test_bad_representative_data(toy_vit, tmp_path, data, message):
    with pytest.raises(ValueError, match=message):
        export_model(toy_vit, tmp_path / "x.tflite", quantize="int8", representative_data=data)


def test_keras_vit_tiny_all_formats_builtin_only(tiny_vit, pixel_data, tmp_path):
    """The real ViT: float32 parity and builtin-only conversion in every mode."""
    for quantize in ("none", "float16", "dynamic", "int8"):
        result = export_model(tiny_vit, tmp_path / f"vit_{quantize}.tflite", quantize=quantize,
                              representative_data=pixel_data[:32], sample_images=pixel_data[32:])
        assert result.passed, f"{quantize}: {result.verification.summary()}"
        assert inspect_ops(result.path)[1] == []
        if quantize == "none":  # class-token pooling included: one XNNPACK partition
            assert result.ops_outside_delegate == {} and result.delegate_partitions == 1
    assert export_model(tiny_vit, tmp_path / "vit.keras", format="keras", sample_images=pixel_data[:4]).passed


FAMILIES = {
    "deit_distilled": dict(name="deit_tiny_distilled_patch16_224", patch_size=8, depth=2),
    # Every MobileViT block kind (stem, MobileNetV2 blocks, the three MobileViT stages) at its
    # smallest depth: the same ops as the full XXS, whose conversions took 50 s.
    "mobilevit": dict(name="mobilevit_xxs", block_depths=(1, 1), transformer_depths=(1, 1, 1)),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_builtin_only_and_delegated(family, pixel_data, tmp_path):
    """Every other family converts builtin-only in every mode; float32 runs wholly on XNNPACK.

    Random-weight networks give near-equal logits, so int8 top-1 agreement is only asserted
    where it is meaningful (float formats); the trained demo model reports int8 accuracy.
    """
    import keras_vit

    kwargs = dict(FAMILIES[family])
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(kwargs.pop("name"), input_shape=(64, 64, 3), num_classes=10, **kwargs)
    images = np.repeat(np.repeat(pixel_data, 2, axis=1), 2, axis=2)
    # The four conversions start from one SavedModel (the same one each would write for itself:
    # tests/tflite/test_export_reuse.py), written once instead of four times.
    export_model(model, tmp_path / "sm", format="saved_model", verify=False)
    for quantize in ("none", "float16", "dynamic", "int8"):
        result = export_model(model, tmp_path / f"{family}_{quantize}.tflite", quantize=quantize,
                              representative_data=images[:32], sample_images=images[32:],
                              saved_model_dir=tmp_path / "sm")
        assert inspect_ops(result.path)[1] == [], quantize
        if quantize == "none":
            assert result.passed, result.verification.summary()
            assert result.ops_outside_delegate == {} and result.delegate_partitions == 1
        elif quantize in ("float16", "dynamic"):
            assert result.passed, f"{quantize}: {result.verification.summary()}"


def test_verification_on_noise_says_so(toy_vit, pixel_data, tmp_path):
    noise = export_model(toy_vit, tmp_path / "noise.tflite")
    assert noise.verification.on_noise and "noise images (no --data given)" in noise.verification.summary()
    data = export_model(toy_vit, tmp_path / "data.tflite", sample_images=pixel_data[:4])
    assert not data.verification.on_noise and "on 4 samples" in data.verification.summary()
