"""Export a trained model to SavedModel and TFLite (float32, int8) and compare with Keras.

Conversion and verification are ``keras_vit.tflite``'s (``export_model``/``evaluate_tflite``).
"""
import os
import time

import numpy as np

from .callbacks import atomic_write_json

FORMATS = (("saved_model", "none", "saved_model"), ("tflite", "none", "model_float32.tflite"),
           ("tflite", "int8", "model_int8.tflite"))


def _dir_or_file_size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def _keras_accuracy_and_latency(model, images, labels, latency_samples=50, accuracy=None):
    from .distill import merge_student_outputs

    if accuracy is None:
        logits = merge_student_outputs(model.predict(images, batch_size=64, verbose=0))
        accuracy = float(np.mean(np.argmax(logits, -1) == labels))
    model.predict_on_batch(images[:1])  # trace once before timing
    start = time.perf_counter()
    for i in range(min(latency_samples, len(images))):
        model.predict_on_batch(images[i:i + 1])
    return accuracy, 1000 * (time.perf_counter() - start) / min(latency_samples, len(images))


def _tflite_latency(path, images, samples=50):
    """Mean milliseconds of one invoke (batch 1) with LiteRT, on the first test image."""
    from keras_vit.tflite import TFLiteRunner

    return float(np.mean(TFLiteRunner(path).time_invoke(runs=samples, warmup=1,
                                                        images=images[:1])))


def export_and_compare(model, output_dir, images, labels, *, representative_images=None,
                       verbose=True, keras_accuracy=None, class_names=None):
    """Export ``model`` to SavedModel and TFLite (float32 and int8) and print one table.

    Args:
        model: the trained Keras model (raw [0, 255] RGB input).
        output_dir: receives ``saved_model/``, ``model_float32.tflite``, ``model_int8.tflite``
            and ``export.json``.
        images, labels: the test split (raw pixels, integer labels).
        representative_images: calibration images for int8 (default: ``images``).
        verbose: print the table.
        keras_accuracy: the Keras model's accuracy on ``images``, when the caller has just
            measured it (the trainer has): saves a second pass and its graph (about 3 s).
        class_names: the dataset's class names, written into each `.tflite` file's metadata
            (MediaPipe Tasks and ``keras-vit predict`` show them); default ``class_0``...

    Returns:
        A list of rows ``{"format", "path", "accuracy", "size_bytes", "latency_ms"}``.
    """
    images = np.asarray(images, "float32")
    labels = np.asarray(labels)
    rep = images if representative_images is None else np.asarray(representative_images, "float32")
    keras_path = os.path.join(output_dir, "model.keras")
    accuracy, latency = _keras_accuracy_and_latency(model, images, labels, accuracy=keras_accuracy)
    rows = [{"format": "keras", "path": keras_path, "accuracy": accuracy,
             "size_bytes": _dir_or_file_size(keras_path) if os.path.exists(keras_path) else None,
             "latency_ms": latency}]
    from keras_vit.tflite import evaluate_tflite, export_model

    saved_model = None
    for fmt, quantize, name in FORMATS:
        path = os.path.join(output_dir, name)
        # The TFLite files are converted from the SavedModel just written (one trace of the
        # model instead of three); verification still compares each with the Keras model.
        export_model(model, path, format=fmt, quantize=quantize,
                     representative_data=rep if quantize == "int8" else None,
                     verify=fmt == "tflite", saved_model_dir=saved_model if fmt == "tflite" else None,
                     class_names=class_names)
        if fmt == "saved_model":
            saved_model = path
        acc = evaluate_tflite(path, images, labels)["accuracy"] if fmt == "tflite" else None
        row = {"format": name, "path": path, "accuracy": acc, "size_bytes": _dir_or_file_size(path),
               "latency_ms": _tflite_latency(path, images) if fmt == "tflite" else None}
        rows.append(row)
    atomic_write_json(os.path.join(output_dir, "export.json"), rows)
    if verbose:
        print(format_table(rows))
    return rows


def format_table(rows):
    """The export comparison as a fixed-width text table."""
    lines = [f"{'format':<22}{'test accuracy':>14}{'size (KB)':>12}{'latency (ms)':>14}"]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        size = "-" if r["size_bytes"] is None else f"{r['size_bytes'] / 1024:.0f}"
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.2f}"
        lines.append(f"{r['format']:<22}{acc:>14}{size:>12}{lat:>14}")
    return "\n".join(lines)
