"""Checks every family goes through: config round trips, .keras save/load, shapes, mixed precision."""
import keras
import numpy as np


def iter_layers(model):
    """Every layer of a model, nested sublayers included."""
    seen = set()
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "_layers", []))


def check_layer_configs(model):
    """Every keras_vit layer re-creates from its config with an identical config."""
    checked = 0
    for layer in iter_layers(model):
        if not type(layer).__module__.startswith("keras_vit"):
            continue
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, type(layer).__name__
        checked += 1
    assert checked, "no keras_vit layer found"


def check_no_strided_pointwise_conv(model):
    """No 1 x 1 convolution with a stride: its gradient in TensorFlow 2.21's oneDNN kernels
    (and PyTorch's) corrupts the heap during ``fit``. ``keras_vit.layers.conv.torch_conv``
    builds it as ``Subsample2D`` and a stride-1 convolution instead."""
    bad = [layer.name for layer in iter_layers(model)
           if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
           and tuple(layer.kernel_size) == (1, 1) and max(layer.strides) > 1]
    assert not bad, f"strided 1x1 convolutions (use torch_conv, or Subsample2D + a stride-1 conv): {bad}"


def check_keras_round_trip(model, images, tmp_path):
    """Saving to .keras and loading back (safe mode) gives the same outputs."""
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]


def check_mixed_precision(build, images):
    """The model builds and runs under mixed_bfloat16 and returns finite float32 logits."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build()
        out = model.predict(images, verbose=0)
        assert model.outputs[0].dtype == "float32"
        assert np.isfinite(out).all()
        assert any(w.dtype == "float32" for w in model.weights)
        compute = {layer.compute_dtype for layer in model.layers if layer.weights}
        assert "bfloat16" in compute
    finally:
        keras.config.set_dtype_policy(previous)


def check_tflite(model, images, atol=1e-4):
    """Converts ``model`` with TFLite builtin ops only, runs it with LiteRT and compares.

    Works for one output or a dict of outputs (feature pyramids). Returns the XNNPACK op
    report of the converted model.
    """
    import tempfile

    if keras.backend.backend() != "tensorflow":
        # TFLite converts TensorFlow graphs: export is the TensorFlow backend's job (a model
        # trained on another backend is saved as .keras and exported from TensorFlow).
        import pytest

        pytest.skip(f"TFLite export runs on the TensorFlow backend, not {keras.backend.backend()}")
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from keras_vit.tflite import TFLiteRunner

    spec = tf.TensorSpec((1,) + tuple(images.shape[1:]), tf.float32, name="images")

    def serve(x):
        out = model(x, training=False)
        return dict(out) if isinstance(out, dict) else {"output": out}

    with tempfile.TemporaryDirectory() as directory:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=[spec])
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        content = converter.convert()
    runner = Interpreter(model_content=content).get_signature_runner()
    for image in images:
        expected = model(image[None], training=False)
        expected = dict(expected) if isinstance(expected, dict) else {"output": expected}
        got = runner(images=image[None].astype("float32"))
        assert set(got) == set(expected), (sorted(got), sorted(expected))
        for key, value in expected.items():
            value = np.asarray(value)
            scale = max(float(value.max() - value.min()), 1e-6)
            diff = float(np.abs(got[key] - value).max())
            assert diff <= atol * scale, f"{key}: TFLite differs from Keras by {diff:.2e} (range {scale:.2f})"
    return TFLiteRunner(content).op_report()
