"""``keras-vit train``: train a model from a recipe on any strategy.

The lead's ``keras_vit/cli.py`` wires :func:`add_train_arguments` and :func:`run_train`;
``python -m keras_vit.training.cli`` runs the same command on its own.
"""
import argparse
import sys

from .recipe import list_recipes, parse_override

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
                        help="shipped recipe name (%s) or JSON file" % ", ".join(list_recipes()))
    parser.add_argument("--model", help="registered model name (keras_vit.list_models())")
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
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"))
    parser.add_argument("--workers", help="multi_worker without TF_CONFIG: comma-separated "
                                          "host:port of all workers, same on every machine")
    parser.add_argument("--worker-index", type=int, help="this machine's index in --workers")
    parser.add_argument("--tpu", help="TPU name or grpc:// address ('' for a TPU VM)")
    parser.add_argument("--export", action="store_true",
                        help="also write saved_model/ and float32/int8 .tflite and compare them")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                        help="1: progress bar, 2: one line per epoch, 0: silent")
    return parser


def run_train(args):
    """Run ``train`` for parsed arguments; return the process exit code."""
    from .recipe import load_recipe

    try:
        overrides = dict(parse_override(o) for o in args.overrides)
        for dest, key in _RECIPE_FLAGS.items():
            value = getattr(args, dest, None)
            if value is not None:
                overrides[key] = value
        recipe = load_recipe(args.recipe, **overrides)
    except (ValueError, FileNotFoundError) as e:
        print(f"keras-vit train: error: {e}", file=sys.stderr)
        return 2
    from .train import train

    try:
        result = train(recipe, args.output, strategy=args.strategy, workers=args.workers,
                       worker_index=args.worker_index, tpu=args.tpu, export=args.export,
                       verbose=args.verbose)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"keras-vit train: error: {e}", file=sys.stderr)
        return 2
    return 0 if result.metrics.get("test_accuracy") is not None else 1


def main(argv=None):
    """Entry point of ``python -m keras_vit.training.cli``."""
    parser = argparse.ArgumentParser(prog="keras-vit train", description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
