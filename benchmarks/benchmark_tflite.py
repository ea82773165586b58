"""Size, latency, memory and int8 accuracy of every export format (``keras-vit benchmark``).

Two parts, one run:

1. ``vit_tiny_patch16_224`` at 224x224 (random weights: latency and size do not depend on
   them), against keras-cv-attention-models' ViT of the same configuration.
2. A small ViT trained here for a few epochs on the embedded ``digits`` dataset (32x32), so
   that float16/dynamic/int8 accuracy on the held-out test split means something.

Usage (peers need ``pip install keras-cv-attention-models``; ``--no-peers`` skips them):

    python benchmarks/benchmark_tflite.py     # writes docs/benchmarks/tflite_formats.md

This is a script, not a test: timings depend on the machine and its load.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def train_digits_model(path, epochs):
    """A 4-block ViT-Tiny on 32x32 digits; returns its test accuracy."""
    import keras
    import numpy as np

    import keras_vit
    from keras_vit.tflite.data import load_dataset

    keras.utils.set_random_seed(0)
    x_train, y_train = load_dataset("digits", image_size=(32, 32, 3), split="train")
    x_test, y_test = load_dataset("digits", image_size=(32, 32, 3), split="test")
    model = keras_vit.create_model("vit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=4,
                                   depth=4, num_classes=10)
    model.compile(keras.optimizers.AdamW(1e-3, weight_decay=0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    acc = float((np.asarray(model.predict(x_test, verbose=0)).argmax(-1) == y_test).mean())
    model.save(path)
    return acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    from keras_vit.tflite import cli
    from keras_vit.utils import benchmark

    stamp = benchmark.run_stamp("benchmarks/benchmark_tflite.py")
    workdir = args.workdir or tempfile.mkdtemp(prefix="keras_vit_bench_")
    digits_model = os.path.join(workdir, "vit_tiny_digits32.keras")
    keras_acc = train_digits_model(digits_model, args.epochs)
    print(f"digits model: Keras test accuracy {keras_acc:.4f}", flush=True)

    bench = argparse.ArgumentParser()
    cli.add_benchmark_arguments(bench)
    peers = [] if args.no_peers else ["kecam"]
    parts = []
    for extra in (["vit_tiny_patch16_224", "--num-calibration", "50"],
                  [digits_model, "--data", "digits", "--num-calibration", "200", "--num-eval", "400"]):
        md = os.path.join(workdir, f"part{len(parts)}.md")
        ns = bench.parse_args(extra + ["--runs", str(args.runs), "--workdir", workdir, "--markdown", md,
                                       "--peers", *peers])
        if cli.run_benchmark(ns):
            return 1
        with open(md) as f:
            parts.append(f.read())
    path = benchmark.write_result("tflite_formats", "Size, latency, memory and accuracy of every format", stamp,
                                  "\n".join(parts), folder=args.results_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
