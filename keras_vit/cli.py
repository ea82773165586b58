"""The ``keras-vit`` command: train, export, predict, benchmark and list.

Subcommands live with their subsystem (``keras_vit.training.cli``, ``keras_vit.tflite.cli``)
and are imported only when used, so ``keras-vit list`` starts fast.
"""
import argparse
import importlib
import sys

# subcommand -> (module, add-arguments function, run function, help)
SUBCOMMANDS = {
    "train": ("keras_vit.training.cli", "add_train_arguments", "run_train", "train a model (tf.distribute, recipes, export)"),
    "export": ("keras_vit.tflite.cli", "add_export_arguments", "run_export", "export to SavedModel, .keras or TFLite, verified"),
    "predict": ("keras_vit.tflite.cli", "add_predict_arguments", "run_predict", "top-k labels of images with a .tflite or .keras model"),
    "benchmark": ("keras_vit.tflite.cli", "add_benchmark_arguments", "run_benchmark", "TFLite size, latency, memory and accuracy table"),
}


def _add_list_arguments(parser):
    parser.add_argument("--family", help="only this family (e.g. vit, mobilevit)")
    parser.add_argument("--pretrained", action="store_true", help="only models with published weights")


def run_list(args):
    from . import get_model_spec, list_models

    rows = [("name", "params", "input", "default weights", "weights tags")]
    for name in list_models(args.family, pretrained=args.pretrained):
        spec = get_model_spec(name)
        params = f"{spec.parameters:,}" if spec.parameters else "?"
        rows.append((name, params, "x".join(map(str, spec.input_size)), spec.default_weights or "-", ", ".join(spec.weights) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def build_parser(argv=None):
    parser = argparse.ArgumentParser(prog="keras-vit", description="Vision Transformers for Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, (module, add, run, help_text) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        # Import the subsystem only for the subcommand being run (TensorFlow is slow to load).
        if name == wanted:
            mod = importlib.import_module(module)
            getattr(mod, add)(command)
            command.set_defaults(func=getattr(mod, run))
    command = sub.add_parser("list", help="list the registered models")
    _add_list_arguments(command)
    command.set_defaults(func=run_list)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
