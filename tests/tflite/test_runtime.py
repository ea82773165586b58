"""Operator listing, XNNPACK delegate coverage and the raw-pixel runner."""
import numpy as np
import pytest
import tensorflow as tf

from keras_vit.tflite import TFLiteRunner, delegate_coverage, evaluate_tflite, inspect_ops


def _convert(fn, shape):
    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


# Single-op graphs whose XNNPACK support is known: they pin down the coverage method.
# Each op is followed by a MUL, which XNNPACK always takes.
@pytest.mark.parametrize(
    "fn, shape, expected_outside",
    [
        (lambda x: tf.nn.gelu(x, approximate=False) * 2.0, [1, 16, 8], {}),
        (lambda x: tf.gather(x, [3, 1, 2, 0], axis=1) * 2.0, [1, 4, 8], {"GATHER": 1}),
        (lambda x: x[:, 0] * 2.0, [1, 5, 8], {"STRIDED_SLICE": 1}),
        (lambda x: tf.reshape(x[:, 0:1], [-1, 8]) * 2.0, [1, 5, 8], {}),
    ],
    ids=["gelu", "gather", "shrink_slice", "slice_reshape"],
)
def test_delegate_coverage_on_known_ops(fn, shape, expected_outside):
    runner = TFLiteRunner(_convert(fn, shape))
    report = runner.op_report()
    assert report.outside == expected_outside
    assert report.fully_delegated == (not expected_outside)
    assert report.num_partitions >= 1


def test_delegate_coverage_counts_partitions():
    # GATHER in the middle splits the graph into two XNNPACK partitions.
    runner = TFLiteRunner(_convert(lambda x: tf.gather(x * 2.0, [1, 0], axis=1) * 3.0, [1, 2, 4]))
    report = delegate_coverage(runner.interpreter)
    assert report.num_partitions == 2
    assert [name for _, name in report.outside_nodes] == ["GATHER"]


def test_without_xnnpack_has_no_report():
    runner = TFLiteRunner(_convert(lambda x: x * 2.0, [1, 4]), use_xnnpack=False)
    with pytest.raises(ValueError, match="use_xnnpack"):
        runner.op_report()


def test_inspect_ops_lists_builtins():
    ops, non_builtin = inspect_ops(_convert(lambda x: tf.nn.softmax(x * 2.0), [1, 8]))
    assert ops == {"MUL": 1, "SOFTMAX": 1}
    assert non_builtin == []


def test_runner_matches_tensorflow_and_batches():
    w = np.random.default_rng(0).normal(size=(12, 5)).astype(np.float32)
    fn = lambda x: tf.matmul(tf.reshape(x, [1, 12]), w)  # noqa: E731
    runner = TFLiteRunner(_convert(fn, [1, 2, 2, 3]))
    images = np.random.default_rng(1).uniform(0, 255, (3, 2, 2, 3)).astype(np.float32)
    out = runner(images)  # 3 images through a batch-1 model
    expected = images.reshape(3, 12) @ w
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
    assert runner(images[0]).shape == (1, 5)


def test_runner_rejects_wrong_shape():
    runner = TFLiteRunner(_convert(lambda x: x * 2.0, [1, 4, 4, 3]))
    with pytest.raises(ValueError, match=r"\(N, 4, 4, 3\)"):
        runner(np.zeros((1, 4, 4, 1), np.float32))


def test_evaluate_tflite_accuracy():
    w = np.eye(3, dtype=np.float32)
    model = _convert(lambda x: tf.matmul(tf.reshape(x, [1, 3]), w), [1, 1, 1, 3])
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (20, 1, 1, 3)).astype(np.float32)
    truth = images.reshape(20, 3).argmax(-1)
    labels = truth.copy()
    labels[:5] = (labels[:5] + 1) % 3  # five wrong labels
    result = evaluate_tflite(model, images, labels)
    assert result["accuracy"] == pytest.approx(0.75)
    np.testing.assert_array_equal(result["predictions"], truth)
    with pytest.raises(ValueError, match="labels"):
        evaluate_tflite(model, images, labels[:3])


def test_sixteen_bit_grayscale_is_rescaled_not_saturated(tmp_path):
    from PIL import Image

    from keras_vit.tflite.data import load_image

    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    pixels = load_image(str(tmp_path / "g16.png"), (32, 32), resize=True)
    assert pixels.shape == (32, 32, 3)
    assert np.mean(pixels == 255) < 0.02 and 100 < pixels.mean() < 155
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])
    with pytest.raises(ValueError, match="--resize"):
        load_image(str(tmp_path / "g16.png"), (64, 64))


def test_a_huge_image_is_a_one_line_error(tmp_path):
    from PIL import Image

    from keras_vit.tflite.data import load_image

    Image.new("L", (15000, 15000)).save(tmp_path / "huge.png")  # 225 megapixels
    for resize in (True, False):
        with pytest.raises(ValueError, match="huge.png.*(too many pixels|more than)"):
            load_image(str(tmp_path / "huge.png"), (32, 32), resize=resize)


def test_one_channel_arrays_are_not_broadcast_to_rgb(tmp_path):
    from keras_vit.tflite.data import load_dataset

    np.save(tmp_path / "gray.npy", np.zeros((1, 32, 32, 1), np.float32) + 100)
    with pytest.raises(ValueError, match="1 channel"):
        load_dataset(str(tmp_path / "gray.npy"))


def test_predict_and_the_on_device_example_prepare_images_identically(tmp_path):
    from PIL import Image

    from keras_vit.data import prepare_image
    from keras_vit.tflite.data import load_image
    from keras_vit.tflite.on_device_example import load_rgb

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    path = str(tmp_path / "p.png")
    predicted = load_image(path, (32, 32), resize=True)
    on_device = load_rgb(path, 32)
    np.testing.assert_array_equal(predicted, on_device.astype(np.float32))
    np.testing.assert_array_equal(on_device, prepare_image(path, 32))
    cropped = load_rgb(path, 32, crop_fraction=0.875)
    assert cropped.shape == (32, 32, 3) and not np.array_equal(cropped, on_device)


# Keras, TensorFlow and torch are made unimportable in the child, as on a device.
_NO_KERAS = (
    "import sys\n"
    "for name in ('keras', 'tensorflow', 'torch', 'tf_keras'):\n"
    "    sys.modules[name] = None\n"
    "import runpy\n"
    "sys.argv = ['on_device_example'] + sys.argv[1:]\n"
    "runpy.run_module('keras_vit.tflite.on_device_example', run_name='__main__')\n"
    "assert 'tensorflow' not in [m for m, v in sys.modules.items() if v is not None]\n"
)


def test_on_device_example_runs_with_numpy_pillow_and_litert_only(tmp_path, toy_vit):
    import subprocess
    import sys

    from PIL import Image

    from keras_vit.tflite.on_device_example import Classifier, load_rgb

    from keras_vit.tflite import export_model

    path = str(tmp_path / "toy.tflite")
    export_model(toy_vit, path, format="tflite")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "labels.txt").write_text("\n".join(f"class_{i}" for i in range(10)))
    result = subprocess.run(
        [sys.executable, "-c", _NO_KERAS, path, str(tmp_path / "x.png"), "--labels",
         str(tmp_path / "labels.txt"), "--top", "3"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "class_" in line]
    assert len(lines) == 3
    # The child's top class is the one Keras computes on the same prepared pixels.
    expected = int(np.argmax(toy_vit(load_rgb(str(tmp_path / "x.png"), 32)[None].astype("float32"))))
    assert lines[0].split()[1] == str(expected)
    assert Classifier(path).top_k(load_rgb(str(tmp_path / "x.png"), 32), 1)[0][0] == expected


def test_benchmark_without_optional_peers_says_what_it_skipped(tmp_path, tiny_vit):
    import subprocess
    import sys

    from keras_vit.utils.benchmark import peer_available

    if peer_available("kecam") is None:
        pytest.skip("kecam is installed here")
    path = str(tmp_path / "tiny.keras")
    tiny_vit.save(path)
    result = subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", "benchmark", path, "--formats", "tflite:none",
         "--threads", "1", "--runs", "3", "--rounds", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "skipping peer kecam" in result.stderr
    assert "pip install keras-cv-attention-models" in result.stderr
    assert "| keras_vit | tflite:none |" in result.stdout
