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
