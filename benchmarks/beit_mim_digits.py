"""BEiT on digits: masked-image-modeling pre-training then fine-tuning, against training from
scratch with the same fine-tuning budget, over several seeds.

    python benchmarks/beit_mim_digits.py [--seeds 0 1 2] [--pretrain-epochs 30] [--finetune-epochs 20]

Both arms fine-tune the same small BEiT (32x32 input, patch 4, width 64, 4 blocks) for the
same number of epochs with the same optimizer on the same train split, and are scored on the
fixed test split of ``keras_vit.training.data.load_dataset("digits")``; the pre-trained arm
first runs ``keras_vit.training.pretrain.pretrain`` (the ``keras-vit pretrain`` command) on
the training images only (no labels). Prints a table per seed and the mean.
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONFIG = {"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 4}
SIZE = 32


def finetune(weights, splits, epochs, seed):
    import keras

    import keras_vit

    keras.utils.set_random_seed(seed)
    model = keras_vit.create_model("beit_base_patch16_224", weights=weights, input_shape=(SIZE, SIZE, 3),
                                   num_classes=splits.num_classes, drop_path_rate=0.1, **CONFIG)
    train = splits.train.shuffle(2048, seed=seed).batch(64)
    model.compile(keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(1e-3, epochs * 20)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.time()
    model.fit(train, epochs=epochs, verbose=0)
    seconds = time.time() - start
    return model.evaluate(splits.test.batch(256), verbose=0, return_dict=True)["accuracy"], seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=20)
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from keras_vit.utils import benchmark

    from keras_vit.training.data import load_dataset
    from keras_vit.training.pretrain import pretrain

    splits = load_dataset("digits", SIZE, seed=0)
    rows = []
    stamp = benchmark.run_stamp("benchmarks/beit_mim_digits.py")
    for seed in args.seeds:
        scratch, t_scratch = finetune(None, splits, args.finetune_epochs, seed)
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.time()
            metrics = pretrain("beit_base_patch16_224", folder, epochs=args.pretrain_epochs, image_size=SIZE, seed=seed,
                               overrides=CONFIG, verbose=0)
            t_pre = time.time() - t0
            tuned, t_tune = finetune(metrics["backbone"], splits, args.finetune_epochs, seed)
        rows.append((seed, scratch, tuned, metrics["final_loss"], t_scratch, t_pre, t_tune))
        keras.backend.clear_session()
    scratch = np.array([r[1] for r in rows])
    tuned = np.array([r[2] for r in rows])
    table = benchmark.markdown_table(
        ("seed", "from scratch", "MIM pre-trained", "final MIM loss", "scratch s", "pre-train s", "fine-tune s"),
        [(seed, f"{a:.2%}", f"{b:.2%}", f"{loss:.3f}", f"{t1:.0f}", f"{t2:.0f}", f"{t3:.0f}")
         for seed, a, b, loss, t1, t2, t3 in rows]
        + [("mean", f"{scratch.mean():.2%} ({scratch.min():.2%}-{scratch.max():.2%})",
            f"{tuned.mean():.2%} ({tuned.min():.2%}-{tuned.max():.2%})", "", "", "", "")])
    body = (f"A small BEiT ({CONFIG}) at {SIZE}x{SIZE}: {args.pretrain_epochs} pre-training epochs on the training "
            f"images without labels, then {args.finetune_epochs} fine-tuning epochs, against the same fine-tuning "
            f"from scratch; digits test split ({splits.num_test} images).\n\n" + table)
    print(body)
    benchmark.write_result("beit_mim_digits", "BEiT masked-image-modeling pre-training on digits", stamp, body,
                           folder=args.results_dir)


if __name__ == "__main__":
    main()
