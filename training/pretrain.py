"""``keras-vit pretrain``: BEiT's masked image modeling on a dataset, under ``tf.distribute``,
resumable, ending in a backbone that ``create_model(..., weights=PATH)`` fine-tunes.

    keras-vit pretrain --model beit_base_patch16_224 --data digits --output runs/mim \\
        --image-size 32 --set patch_size=4 --set embed_dim=64 --set depth=4 --set num_heads=4
    keras-vit train --model beit_base_patch16_224 --weights runs/mim/backbone.safetensors ...

The tokenizer is the offline default of :mod:`keras_vit.models.beit.mim` (a k-means codebook
of the training images' patches), fitted once and saved in the output folder so that a
resumed run predicts the same tokens. Backups are written atomically at every epoch end;
re-running the same command resumes from the last one.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

DEFAULTS = dict(image_size=32, epochs=30, batch_size=64, learning_rate=1e-3, weight_decay=0.05, vocab_size=64,
                mask_ratio=0.4, seed=0)


def add_pretrain_arguments(parser):
    """Add the ``pretrain`` command's arguments to ``parser``."""
    parser.add_argument("--model", required=True, help="a BEiT name (keras-vit list beit)")
    parser.add_argument("--data", default="digits", help="'digits' (default, offline), 'tfds:<name>' or an image folder")
    parser.add_argument("--data-dir", help="tensorflow-datasets data directory")
    parser.add_argument("--output", "-o", required=True, help="output folder (re-run the same command to resume)")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value, help=f"default {value}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor keyword (JSON value), e.g. --set patch_size=4 --set depth=4")
    parser.add_argument("--strategy", default="auto", choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"))
    parser.add_argument("--workers", help="multi_worker without TF_CONFIG: comma-separated host:port of all workers")
    parser.add_argument("--worker-index", type=int, help="this machine's index in --workers")
    parser.add_argument("--verbose", "-v", action="store_true", help="show TensorFlow's own logs and warnings")
    return parser


def _parse_override(text):
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected KEY=VALUE.")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _train_images(data, image_size, data_dir, seed):
    from .data import load_dataset

    splits = load_dataset(data, image_size, data_dir=data_dir, seed=seed)
    images = np.stack([np.asarray(x) for x, _ in splits.train.as_numpy_iterator()]).astype(np.float32)
    return images, splits.num_classes


def _tokenizer(output_dir, images, patch_size, vocab_size, seed):
    """The k-means tokenizer, fitted once and kept in the output folder for resumed runs."""
    import keras

    from keras_vit.models.beit.mim import fit_kmeans_tokenizer
    from keras_vit.utils.io import atomic_path

    path = os.path.join(output_dir, "tokenizer.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    tokenizer = fit_kmeans_tokenizer(images, patch_size, vocab_size=vocab_size, seed=seed)
    with atomic_path(path) as tmp:
        tokenizer.save(tmp)
    return tokenizer


def pretrain(model, output_dir, *, data="digits", data_dir=None, strategy="auto", workers=None, worker_index=None,
             verbose=1, overrides=None, **settings):
    """Masked-image-modeling pre-training of a BEiT on ``data``; returns the metrics dict.

    Writes ``backbone.safetensors`` (the pre-trained backbone, loadable with
    ``create_model(model, weights=...)`` at the same ``input_shape`` and overrides),
    ``tokenizer.keras``, ``history.json``, ``metrics.json`` and ``backup/`` (resume state).
    """
    import keras

    import keras_vit
    from keras_vit.models.beit.mim import MaskedImageData, MaskedTokenLoss, PatchTokenizer, masked_image_model
    from keras_vit.utils.io import write_json

    from .callbacks import HistoryFile, ResumableBackup
    from .distribute import get_strategy

    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown pretrain settings {sorted(unknown)}; expected {sorted(DEFAULTS)}.")
    cfg = {**DEFAULTS, **settings}
    for key in ("epochs", "batch_size", "vocab_size", "image_size"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {cfg[key]!r}.")
    if not 0.0 < cfg["mask_ratio"] < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {cfg['mask_ratio']}.")
    if cfg["learning_rate"] <= 0:
        raise ValueError(f"learning_rate must be positive, got {cfg['learning_rate']}.")
    spec = keras_vit.get_model_spec(model)
    if spec.family != "beit":
        raise ValueError(f"Masked image modeling pre-trains BEiT models; {model} is a {spec.family} model.")
    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(cfg["seed"])
    images, num_classes = _train_images(data, cfg["image_size"], data_dir, cfg["seed"])
    overrides = dict(overrides or {})
    backbone_kwargs = dict(input_shape=(cfg["image_size"],) * 2 + (3,), num_classes=num_classes, **overrides)
    patch = overrides.get("patch_size", spec.config.get("patch_size", 16))
    tokenizer = _tokenizer(output_dir, images, patch, cfg["vocab_size"], cfg["seed"])
    vocab = next(layer.vocab_size for layer in tokenizer.layers if isinstance(layer, PatchTokenizer))
    strategy = get_strategy(strategy, workers=workers, worker_index=worker_index)
    with strategy.scope():
        backbone = keras_vit.create_model(model, **backbone_kwargs)
        mim = masked_image_model(backbone, vocab)
        mim.compile(keras.optimizers.AdamW(cfg["learning_rate"], weight_decay=cfg["weight_decay"]), MaskedTokenLoss())
        mim.optimizer.build(mim.trainable_variables)
    data_seq = MaskedImageData(images, tokenizer, batch_size=cfg["batch_size"], ratio=cfg["mask_ratio"], seed=cfg["seed"],
                               drop_remainder=strategy.num_replicas_in_sync > 1)
    backup = ResumableBackup(os.path.join(output_dir, "backup"), len(data_seq))
    with strategy.scope():
        state = backup.restore(mim)
    initial_epoch = state["epoch"] if state else 0
    if verbose and initial_epoch:
        print(f"Resuming {output_dir} at epoch {initial_epoch + 1} of {cfg['epochs']}.", flush=True)
    start = time.time()
    history = mim.fit(data_seq, epochs=cfg["epochs"], initial_epoch=initial_epoch, verbose=verbose,
                      callbacks=[backup, HistoryFile(os.path.join(output_dir, "history.json"))])
    keras_vit.save_weights(backbone, os.path.join(output_dir, "backbone.safetensors"))
    losses = history.history.get("loss", [])
    metrics = {"model": model, "data": data, "settings": cfg, "overrides": overrides, "num_classes": num_classes,
               "final_loss": losses[-1] if losses else None, "epochs_run": len(losses), "seconds": time.time() - start,
               "backbone": os.path.join(output_dir, "backbone.safetensors")}
    write_json(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics


def run_pretrain(args):
    """Run ``pretrain`` for parsed arguments; return the process exit code."""
    from keras_vit.utils.logs import quiet_logs

    quiet_logs(verbose=getattr(args, "verbose", False))
    try:
        overrides = dict(_parse_override(o) for o in args.overrides)
        settings = {key: getattr(args, key) for key in DEFAULTS}
        metrics = pretrain(args.model, args.output, data=args.data, data_dir=args.data_dir, strategy=args.strategy,
                           workers=args.workers, worker_index=args.worker_index, overrides=overrides, **settings)
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as e:
        print(f"keras-vit pretrain: error: {e}", file=sys.stderr)
        return 2
    command = f"keras-vit train --model {args.model} --weights {metrics['backbone']} --image-size {args.image_size}"
    if overrides:
        command += f" --set 'model_overrides={json.dumps(overrides)}'"
    print(f"Pre-trained backbone: {metrics['backbone']} (final masked-token loss {metrics['final_loss']:.3f}).\n"
          f"Fine-tune it with: {command}")
    return 0


def main(argv=None):
    parser = add_pretrain_arguments(argparse.ArgumentParser(prog="keras-vit pretrain", description=__doc__.splitlines()[0]))
    return run_pretrain(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
