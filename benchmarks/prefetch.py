"""Does the training pipeline's ``prefetch`` pay? The default digits recipe's model and data,
``model.fit`` epochs alternating between the pipeline as ``make_pipeline`` builds it (ends in
``prefetch(AUTOTUNE)``) and the same pipeline without the prefetch (issue 15).

    python benchmarks/prefetch.py [--rounds 4] [--steps 19]

Prints seconds per epoch (median over rounds) and the ratio. The machine may be shared: read
the ratio.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=19)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from keras_vit.training import load_dataset, load_recipe, make_pipeline
    from keras_vit.training.augment import Augmenter
    from keras_vit.training.trainer import build_model, compile_for_recipe

    recipe = load_recipe("digits_default")
    splits = load_dataset("digits", recipe.image_size, seed=recipe.split_seed)
    augment = Augmenter.from_recipe(recipe, splits.num_classes)
    original = tf.data.Dataset.prefetch
    pipelines = {}
    for name, prefetch in (("prefetch (default)", True), ("no prefetch", False)):
        if not prefetch:
            tf.data.Dataset.prefetch = lambda self, *a, **k: self
        try:
            pipelines[name] = make_pipeline(splits.train, splits.num_classes, recipe.batch_size,
                                            training=True, augment=augment, seed=recipe.seed)
        finally:
            tf.data.Dataset.prefetch = original
    model = build_model(recipe, splits.num_classes)
    compile_for_recipe(model, recipe, args.steps)
    # Each fit() starts its own iterator on the (infinite) dataset, as train() does once per run.
    iterators = pipelines
    for it in iterators.values():  # trace the train function and warm both pipelines
        model.fit(it, steps_per_epoch=args.steps, epochs=1, verbose=0)
    load = os.getloadavg()[0]
    times = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, it in iterators.items():
            start = time.perf_counter()
            model.fit(it, steps_per_epoch=args.steps, epochs=1, verbose=0)
            times[name].append(time.perf_counter() - start)
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"TF {tf.__version__}, Keras {keras.__version__}; {recipe.model} at {recipe.image_size}, "
          f"batch {recipe.batch_size}, {args.steps} steps per epoch, {args.rounds} rounds; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| pipeline | s per epoch (median) | rounds |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | "
              f"{', '.join(f'{v:.2f}' for v in values)} |")
    ratio = statistics.median(times["no prefetch"]) / statistics.median(times["prefetch (default)"])
    print(f"\nno prefetch / prefetch: {ratio:.2f}")


if __name__ == "__main__":
    main()
