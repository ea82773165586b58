"""Where does MobileViT's full-int8 error come from? Per-layer analysis and float fallbacks.

Runs TFLite's QuantizationDebugger on the int8 conversion and prints the layers with the
largest quantization error (RMSE of the quantized output over its scale), grouped by op
type; then converts again with the worst op types kept in float (selective quantization:
builtin float kernels between quantize/dequantize ops) and compares agreement with Keras and latency.

Usage:
    python benchmarks/mobilevit_int8_debug.py --model mobilevit_xxs --size 256 [--weights ckpt]
"""
import argparse
import collections
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.mobilevit_tflite import compare, delegate_report, interpreter, latency_ms, run, smooth_images  # noqa: E402

# Op types a LayerNorm decomposes into (TFLite has no LayerNorm builtin).
LAYER_NORM_OPS = ["MEAN", "SQUARED_DIFFERENCE", "RSQRT"]
ATTENTION_OPS = ["SOFTMAX", "BATCH_MATMUL"]


def converter_for(model, size, calibration):
    import keras
    import tensorflow as tf

    saved = os.path.join(tempfile.mkdtemp(), "saved_model")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda images: model(images, training=False), input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)])
    archive.write_out(saved, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serve"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    return converter


def main():
    import tensorflow as tf

    import keras_vit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilevit_xxs")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--calibration", type=int, default=16)
    parser.add_argument("--verify", type=int, default=16)
    args = parser.parse_args()

    model = keras_vit.create_model(args.model, weights=args.weights, input_shape=(args.size, args.size, 3))
    calibration = smooth_images(args.calibration, args.size, seed=1)
    verify = smooth_images(args.verify, args.size, seed=2)
    expected = model.predict(verify, verbose=0)

    converter = converter_for(model, args.size, calibration)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=lambda: ([image[None]] for image in calibration[:4]))
    debugger.run()
    path = os.path.join(tempfile.mkdtemp(), "stats.csv")
    with open(path, "w") as f:
        debugger.layer_statistics_dump(f)
    import csv

    rows = list(csv.DictReader(open(path)))
    for row in rows:
        scale = float(row["scale"]) or 1.0
        row["rmse/scale"] = np.sqrt(float(row["mean_squared_error"])) / scale
    rows.sort(key=lambda r: -r["rmse/scale"])
    print("Largest per-layer int8 errors (RMSE / quantization scale; ~0.29 is ideal rounding):")
    for row in rows[:15]:
        print(f"  {row['rmse/scale']:7.2f}  {row['op_name']:20s} {row['tensor_name'][:90]}")
    by_op = collections.defaultdict(list)
    for row in rows:
        by_op[row["op_name"]].append(row["rmse/scale"])
    print("Mean RMSE/scale by op type:", {k: round(float(np.mean(v)), 2) for k, v in sorted(by_op.items(), key=lambda kv: -np.mean(kv[1]))})

    variants = {"all int8": [], "LayerNorm float": LAYER_NORM_OPS, "LayerNorm+attention float": LAYER_NORM_OPS + ATTENTION_OPS}
    for label, denylist in variants.items():
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=denylist) if denylist else None
        debug = tf.lite.experimental.QuantizationDebugger(
            converter=converter_for(model, args.size, calibration), debug_dataset=lambda: ([image[None]] for image in calibration[:2]),
            debug_options=options,
        )
        tflite_bytes = debug.get_nondebug_quantized_model()
        got = run(interpreter(tflite_bytes, 2), verify)
        print(f"{label:28s} {len(tflite_bytes) / 1e6:.2f} MB", {k: round(v, 4) for k, v in compare(expected, got).items()})
        print(f"{'':28s} latency ms (1 thread): {latency_ms(interpreter(tflite_bytes, 1), args.size):.1f}; {delegate_report(tflite_bytes)}")


if __name__ == "__main__":
    main()
