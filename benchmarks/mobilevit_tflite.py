"""MobileViT on TFLite: builtin-only export in four precisions, checked against Keras, timed.

For each of float32, float16, dynamic-range int8 and full int8 this script converts the
model (builtin ops only), lists its operators and what XNNPACK leaves outside, compares it
with Keras on calibration-disjoint images (max|diff|/range for float32, top-1 agreement and
cosine similarity for the others) and measures the median latency at 1 and 2 threads. With
``--kecam`` it also times keras-cv-attention-models' MobileViT of the same size.

Without internet there are no pretrained weights: pass ``--weights`` (any checkpoint
``create_model`` reads) or the model keeps its random initialisation; agreement numbers on
random networks are only a proxy for accuracy.

Usage:
    python benchmarks/mobilevit_tflite.py --model mobilevit_xxs --size 256 [--weights ckpt] [--kecam]
"""
import argparse
import collections
import os
import sys
import tempfile

import numpy as np

# Run as a script from anywhere: the repository root holds keras_vit and the tflite helpers.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def smooth_images(n, size, seed=0):
    """Natural-ish raw RGB images: upsampled low-frequency noise plus gradients, 0..255."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, 3)).astype(np.float32)
    x = tf.image.resize(coarse, (size, size), method="bicubic").numpy()
    x += rng.normal(0, 12, x.shape)
    return np.clip(x, 0, 255).astype(np.float32)


def export(model, size, quantize, calibration=None, workdir=None):
    """Builtin-only TFLite bytes from ``keras_vit.tflite.export_model``; full int8 takes uint8 pixels."""
    from keras_vit.tflite import export_model

    path = os.path.join(workdir or tempfile.mkdtemp(), f"{model.name}_{size}_{quantize}.tflite")
    export_model(
        model, path, quantize=quantize, representative_data=calibration,
        input_dtype="uint8" if quantize == "int8" else None, verify=False,
    )
    with open(path, "rb") as f:
        return f.read()


def interpreter(tflite_bytes, threads=1, delegate=True):
    """keras_vit's runner (XNNPACK on or off); ``.interpreter`` is the LiteRT interpreter."""
    from keras_vit.tflite import TFLiteRunner

    return TFLiteRunner(tflite_bytes, num_threads=threads, use_xnnpack=delegate)


def run(runner, images):
    """Logits of ``images`` one at a time (batch-1 files), dequantized by the runner."""
    return np.concatenate([runner(image[None]) for image in images])


def latency_ms(runner, size, runs=30, warmup=5):
    return float(np.median(runner.time_invoke(runs=runs, warmup=warmup)))


def op_histogram(tflite_bytes):
    it = interpreter(tflite_bytes, delegate=False).interpreter
    return collections.Counter(d["op_name"] for d in it._get_ops_details())


def delegate_report(tflite_bytes):
    try:
        from keras_vit.tflite.runtime import delegate_coverage
    except ImportError:
        return "n/a"
    report = delegate_coverage(interpreter(tflite_bytes).interpreter)
    return f"{report.num_partitions} XNNPACK partition(s), outside: {report.outside or 'none'}"


def compare(reference, got):
    cos = np.sum(reference * got, -1) / (np.linalg.norm(reference, axis=-1) * np.linalg.norm(got, axis=-1))
    return dict(
        max_abs_diff=float(np.abs(reference - got).max()),
        diff_over_range=float(np.abs(reference - got).max() / (reference.max() - reference.min())),
        top1_agreement=float(np.mean(reference.argmax(-1) == got.argmax(-1))),
        mean_cosine=float(cos.mean()),
    )


def kecam_latency(name, size, threads):
    """keras-cv-attention-models' MobileViT, exported the same way, or the reason it fails."""
    try:
        from keras_cv_attention_models import mobilevit

        builder = {"mobilevit_xxs": mobilevit.MobileViT_XXS, "mobilevit_xs": mobilevit.MobileViT_XS, "mobilevit_s": mobilevit.MobileViT_S}[name]
        model = builder(input_shape=(size, size, 3), pretrained=None)
        tflite_bytes = export(model, size, "none")
    except Exception as e:  # report any failure of the third-party package
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return {t: latency_ms(interpreter(tflite_bytes, t), size) for t in threads}


def main():
    import keras_vit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilevit_xxs")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--verify", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--kecam", action="store_true")
    parser.add_argument("--formats", nargs="+", default=["none", "float16", "dynamic", "int8"])
    args = parser.parse_args()

    model = keras_vit.create_model(args.model, weights=args.weights, input_shape=(args.size, args.size, 3))
    calibration = smooth_images(args.calibration, args.size, seed=1)
    verify = smooth_images(args.verify, args.size, seed=2)
    expected = model.predict(verify, verbose=0)
    for quantize in args.formats:
        tflite_bytes = export(model, args.size, quantize, calibration)
        ops = op_histogram(tflite_bytes)
        got = run(interpreter(tflite_bytes, 2), verify)
        print(f"\n== {args.model} {args.size}x{args.size} {quantize}: {len(tflite_bytes) / 1e6:.2f} MB, {sum(ops.values())} ops")
        print("ops:", dict(sorted(ops.items())))
        print("delegate:", delegate_report(tflite_bytes))
        print("vs keras:", {k: round(v, 6) for k, v in compare(expected, got).items()})
        print("latency ms (median):", {t: round(latency_ms(interpreter(tflite_bytes, t), args.size), 2) for t in args.threads})
    if args.kecam:
        print("\nkeras-cv-attention-models latency ms:", kecam_latency(args.model, args.size, args.threads))


if __name__ == "__main__":
    main()
