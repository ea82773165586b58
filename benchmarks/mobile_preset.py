"""The mobile preset on trained models: which format it picks, how fast, how accurate.

Trains small models on scikit-learn's digits (embedded, no download) for a few epochs, then
runs ``export_model(..., preset="mobile")``: every candidate is exported, its accuracy
measured on the held-out test split and its latency timed interleaved with the others at
1 thread (XNNPACK). Prints each preset table and the reason for the choice.

Models: a 4-block ViT-Ti at 32x32 (patch 4) and MobileViT-XXS's registry test configuration
at 64x64. They are small stand-ins for the real sizes, trained to real margins so that
accuracy differences mean something; the latency ratios of full-size models are in
``benchmarks/int8_profile.py``.

Usage:
    python benchmarks/mobile_preset.py [--epochs 10] [--models vit mobilevit]

This is a script, not a test: timings depend on the machine and its load.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def digits(size):
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.asarray(data.images, np.float32) * (255.0 / 16.0)
    images = np.repeat(np.repeat(images, size // 8, axis=1), size // 8, axis=2)
    return np.repeat(images[..., None], 3, axis=-1), np.asarray(data.target)


def build(kind):
    import keras_vit

    if kind == "vit":
        return keras_vit.create_model("vit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=4, depth=4,
                                      num_classes=10), 32
    config = {**keras_vit.get_model_spec("mobilevit_xxs").tiny, "num_classes": 10, "input_shape": (64, 64, 3)}
    return keras_vit.create_model("mobilevit_xxs", **config), 64


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["vit", "mobilevit"], choices=["vit", "mobilevit"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import tempfile

    import keras

    from keras_vit.tflite import export_model

    out_dir = args.output_dir or tempfile.mkdtemp(prefix="mobile_preset_")
    from keras_vit.utils import benchmark

    stamp = benchmark.run_stamp("benchmarks/mobile_preset.py")
    print(stamp, flush=True)
    out = []
    for kind in args.models:
        keras.utils.set_random_seed(0)
        model, size = build(kind)
        images, labels = digits(size)
        # The recipe of benchmarks/benchmark_tflite.py (95% on digits for the ViT).
        model.compile(keras.optimizers.AdamW(1e-3, weight_decay=0.05),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images[:1400], labels[:1400], epochs=args.epochs, batch_size=64, verbose=0)
        result = export_model(model, os.path.join(out_dir, f"{kind}_mobile.tflite"), preset="mobile",
                              representative_data=images[:1400:7], sample_images=images[1400:],
                              labels=labels[1400:], overwrite=True)
        out.append(f"\n## {kind} on digits {size}x{size} ({len(labels) - 1400} held-out images, {args.epochs} "
                   f"epochs)\n\n{result.preset_report.summary()}")
        print(out[-1], flush=True)
    benchmark.write_result("mobile_preset", "The mobile preset on models trained on digits", stamp, "\n".join(out),
                           folder=args.results_dir)


if __name__ == "__main__":
    main()
