"""Child process for the distribution tests (run as a script, not collected by pytest).

Modes:
  fit         a small Dense model trained with model.fit under a chosen strategy; writes
              the final weights and per-epoch losses to --out (.npz).
  mirrored    tiny-ViT train() and Distiller under MirroredStrategy over 2 logical CPUs.
"""
import argparse
import json
import os
import sys

import numpy as np


def fit_mode(args):
    from keras_vit.training import get_strategy

    strategy = get_strategy(args.strategy, workers=args.workers, worker_index=args.index)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8)).astype("float32")
    # Learnable labels (a linear rule), so the loss must go down.
    y = np.eye(3, dtype="float32")[np.argmax(x @ rng.normal(size=(8, 3)), axis=1)]
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).with_options(options)
    with strategy.scope():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, name="dense")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    history = model.fit(ds, epochs=3, verbose=0)
    np.savez(args.out, *[v.numpy() for v in model.weights],
             loss=np.asarray(history.history["loss"]),
             replicas=strategy.num_replicas_in_sync)


def mirrored_mode(args):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from keras_vit.training import get_strategy, train

    strategy = get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    recipe = json.loads(args.recipe)
    result = train(dict_recipe(recipe), os.path.join(args.out, "plain"), strategy=strategy,
                   verbose=0)
    # A distilled run on the same strategy, with the first run's model as teacher.
    teacher = os.path.join(args.out, "plain", "model.keras")
    distilled = train(dict_recipe(recipe), os.path.join(args.out, "distilled"),
                      strategy=strategy, teacher=teacher, distillation="soft", verbose=0)
    # The same run on one device: same global batches, so the same losses.
    single = train(dict_recipe(recipe), os.path.join(args.out, "single"),
                   strategy=get_strategy("one_device"), verbose=0)
    out = {"replicas": strategy.num_replicas_in_sync,
           "plain": result.metrics["test_accuracy"],
           "plain_loss": result.history["loss"],
           "single": single.metrics["test_accuracy"],
           "single_loss": single.history["loss"],
           "distilled": distilled.metrics["test_accuracy"],
           "distilled_loss": distilled.history["loss"]}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(out, f)
    del keras


def dict_recipe(values):
    from keras_vit.training import Recipe

    return Recipe(**values).validated()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("fit", "mirrored"))
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--workers")
    parser.add_argument("--index", type=int)
    parser.add_argument("--recipe")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    {"fit": fit_mode, "mirrored": mirrored_mode}[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
