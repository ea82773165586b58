"""``keras-vit train``: train a model from a recipe on any strategy.

``keras_vit/cli.py`` wires :func:`add_train_arguments` and :func:`run_train`;
``python -m keras_vit.training.cli`` runs the same command on its own. With no ``--recipe``
the run uses the tuned small-data recipe (:mod:`keras_vit.training.defaults`), sized for
``--model`` when one is named.
"""
import argparse
import sys

from .recipe import list_recipes, parse_override

_PROGRESS = {"steps": 1, "epochs": 2, "none": 0}

# Flags that map onto recipe keys (flag dest -> recipe key).
_RECIPE_FLAGS = {
    "model": "model", "data": "data", "data_dir": "data_dir", "epochs": "epochs",
    "batch_size": "batch_size", "learning_rate": "learning_rate", "image_size": "image_size",
    "seed": "seed", "teacher": "teacher", "distillation": "distillation",
    "weights": "weights", "drop_path_rate": "drop_path_rate",
}


def add_train_arguments(parser):
    """Add the ``train`` command's arguments to ``parser``."""
    parser.add_argument("--recipe", default=None,
                        help="shipped recipe name (%s) or JSON file; default: the tuned "
                             "small-data recipe, sized for --model if given"
                             % ", ".join(list_recipes()))
    parser.add_argument("--model", help="registered model name (keras-vit list)")
    parser.add_argument("--data", help="'digits' (default, offline), 'tfds:<name>' or an image "
                                       "folder with one sub-folder per class")
    parser.add_argument("--data-dir", help="tensorflow-datasets data directory")
    parser.add_argument("--output", "-o", required=True, help="output folder (re-run the same "
                        "command to resume an interrupted run)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="global batch, split across replicas")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--weights", help="pretrained weights tag or file to start from")
    parser.add_argument("--drop-path-rate", type=float, help="stochastic depth rate")
    parser.add_argument("--teacher", help=".keras teacher model for DeiT distillation")
    parser.add_argument("--distillation", choices=("soft", "hard"))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override any recipe key; VALUE is JSON when it parses "
                             "(e.g. --set mixup_alpha=0.2 --set 'model_overrides={\"depth\":6}')")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                        help="Keras backend to train on (default: KERAS_BACKEND, else tensorflow); "
                             "the export runs on TensorFlow")
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"),
                        help="TensorFlow: the tf.distribute strategy. JAX: keras.distribution "
                             "DataParallel over all local devices (auto, mirrored, tpu), the "
                             "first device (one_device) or every process's devices "
                             "(multi_worker, --workers). PyTorch: one device")
    parser.add_argument("--workers", help="multi_worker without TF_CONFIG: comma-separated "
                                          "host:port of all workers, same on every machine "
                                          "(JAX: the first is the coordinator)")
    parser.add_argument("--worker-index", type=int, help="this machine's index in --workers")
    parser.add_argument("--tpu", help="TPU name or grpc:// address ('' for a TPU VM)")
    parser.add_argument("--export", action="store_true",
                        help="also write saved_model/ and float32/int8 .tflite and compare them")
    parser.add_argument("--progress", default="steps", choices=tuple(_PROGRESS),
                        help="steps: lines from the first step (steps/s, time left) and per "
                             "epoch; epochs: one line per epoch; none: silent")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show TensorFlow's own logs and warnings")
    return parser


def run_train(args):
    """Run ``train`` for parsed arguments; return the process exit code."""
    from keras_vit.utils.logs import quiet_logs

    from .defaults import resolve_recipe

    quiet_logs(verbose=getattr(args, "verbose", False))
    progress = _PROGRESS[getattr(args, "progress", "steps")]
    try:
        overrides = dict(parse_override(o) for o in args.overrides)
        for dest, key in _RECIPE_FLAGS.items():
            value = getattr(args, dest, None)
            if value is not None:
                overrides[key] = value
        recipe = resolve_recipe(args.recipe, **overrides)
    except (ValueError, FileNotFoundError) as e:
        print(f"keras-vit train: error: {e}", file=sys.stderr)
        return 2
    if progress:
        print(f"Recipe {args.recipe or 'default'}: {recipe.model} at {recipe.image_size}x"
              f"{recipe.image_size}, {recipe.epochs} epochs, batch {recipe.batch_size}, data "
              f"{recipe.data} (all settings: {args.output}/recipe.json)", flush=True)
    from .trainer import train

    try:
        result = train(recipe, args.output, strategy=args.strategy, workers=args.workers,
                       worker_index=args.worker_index, tpu=args.tpu, export=args.export,
                       verbose=progress)
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as e:
        print(f"keras-vit train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nkeras-vit train: interrupted. {_kept(args.output)}", file=sys.stderr)
        return 130
    except Exception as e:  # OSError, or TensorFlow's errors for a full or unwritable disk
        message = _storage_message(e)
        if message is None:
            raise
        print(f"keras-vit train: error: {message}", file=sys.stderr)
        return 1
    return 0 if result.metrics.get("test_accuracy") is not None else 1


def _kept(output):
    """What an interrupted run left to resume from, and how."""
    import os

    from .callbacks import read_backup_state

    try:
        state = read_backup_state(os.path.join(output, "backup", "worker-0"))
    except (OSError, ValueError, KeyError):
        state = None
    if state is None:
        return f"No backup was written yet; run the same command to start again (output: {output})."
    return (f"Kept the backup in {output}/backup (epoch {state['epoch'] + 1}, {state['step']} steps into it); "
            "run the same command to resume from there.")


def _storage_message(error):
    """One line for a disk error (``OSError`` or TensorFlow's), or None for other errors."""
    from keras_vit.tflite.cli import disk_error_message

    return disk_error_message(error)


def main(argv=None):
    """Entry point of ``python -m keras_vit.training.cli``."""
    from keras_vit.utils.logs import filter_native_stderr, quiet_logs, wants_verbose_logs

    verbose = wants_verbose_logs(sys.argv[1:] if argv is None else argv)
    quiet_logs(verbose)
    if not verbose:
        filter_native_stderr()
    parser = argparse.ArgumentParser(prog="keras-vit train", description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    if args.backend:
        from .backend import choose_backend

        code = choose_backend(args.backend, sys.argv[1:] if argv is None else list(argv))
        if code is not None:
            return code
    import keras_vit.models  # noqa: F401  (registers every family and layer with Keras)

    return run_train(args)


if __name__ == "__main__":
    sys.exit(main())
