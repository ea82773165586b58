"""Keras' AdamW against keras_vit's (one fused kernel per variable, schedule read once).

The default digits recipe's model, optimizer settings and batch size (MobileViT-XXS at 32x32,
AdamW with warmup-cosine, weight decay, clipping, EMA with warmup), on random images. Both
models are built and their optimizers built before the first ``fit``, as ``training/trainer.py``
does; then the first epoch (graph tracing + its steps) is timed for each, and afterwards
epochs alternate between the two. Issues 10 and 15.

    python benchmarks/optimizer_trace.py [--rounds 5] [--model mobilevit_xxs --image-size 32]

Prints the first epoch's seconds, the median step time and the ratios. The machine may be
shared: read the ratios.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="mobilevit_xxs")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=23, help="steps per epoch (digits: 23)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import keras_vit
    from keras_vit.optimizers import AdamW
    from keras_vit.training import load_recipe
    from keras_vit.training.optim import build_optimizer

    class KerasAdamW(AdamW):
        """Keras' update and weight-decay graph; everything else (EMA warmup) is keras_vit's."""
        _distributed_tf_update_step = keras.optimizers.AdamW._distributed_tf_update_step
        _apply_weight_decay = keras.optimizers.AdamW._apply_weight_decay

    recipe = load_recipe("digits_default")
    size, batch = args.image_size, args.batch_size
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch * args.steps, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, batch * args.steps), 10)
    models, first = {}, {}
    for name, cls in (("keras.optimizers.AdamW", KerasAdamW), ("keras_vit AdamW", AdamW)):
        keras.utils.set_random_seed(0)
        model = keras_vit.create_model(args.model, num_classes=10, input_shape=(size, size, 3),
                                       drop_path_rate=recipe.drop_path_rate)
        # The training's own optimizer (schedule, decay exclusions, clipping, EMA), with
        # Keras' two update methods put back for the baseline.
        optimizer = build_optimizer(recipe, model, args.steps)
        optimizer.__class__ = cls
        model.compile(optimizer, keras.losses.CategoricalCrossentropy(from_logits=True))
        optimizer.build(model.trainable_variables)
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        first[name] = time.perf_counter() - start
        models[name] = model
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / args.steps)
    print(f"{args.model} at {size}x{size}, batch {batch}, {len(models['keras_vit AdamW'].trainable_variables)} "
          f"trainable variables, AdamW + weight decay + clipping + EMA, {args.rounds} rounds")
    print(f"| optimizer | first epoch ({args.steps} steps) | step (median) |")
    print("|---|---|---|")
    for name in models:
        print(f"| {name} | {first[name]:.1f} s | {1000 * statistics.median(times[name]):.1f} ms |")
    base, ours = "keras.optimizers.AdamW", "keras_vit AdamW"
    print(f"first epoch: keras_vit takes {first[ours] / first[base]:.2f}x Keras' time; "
          f"steps: {statistics.median(times[ours]) / statistics.median(times[base]):.2f}x")


if __name__ == "__main__":
    main()
