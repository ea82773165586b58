"""The ``keras-vit`` command: train, export, predict, benchmark and list.

Subcommands live with their subsystem (``keras_vit.training.cli``, ``keras_vit.tflite.cli``)
and are imported only when that subcommand runs, so ``keras-vit --help``, ``keras-vit list``
and ``keras-vit <command> --help`` answer without loading TensorFlow.

TensorFlow's own logs are off unless ``--verbose`` is given (:mod:`keras_vit.utils.logs`).
"""
import argparse
import importlib
import json
import os
import sys

from .utils.logs import filter_native_stderr, quiet_logs, wants_verbose_logs  # noqa: F401  (re-exported)

# subcommand -> (module, add-arguments function, run function, help)
SUBCOMMANDS = {
    "train": ("keras_vit.training.cli", "add_train_arguments", "run_train", "train a model (tf.distribute, recipes, export)"),
    "pretrain": ("keras_vit.training.pretrain", "add_pretrain_arguments", "run_pretrain", "BEiT masked-image-modeling pre-training"),
    "export": ("keras_vit.tflite.cli", "add_export_arguments", "run_export", "export to SavedModel, .keras or TFLite, verified"),
    "predict": ("keras_vit.tflite.cli", "add_predict_arguments", "run_predict", "top-k labels of images with a .tflite or .keras model"),
    "benchmark": ("keras_vit.tflite.cli", "add_benchmark_arguments", "run_benchmark", "TFLite size, latency, memory and accuracy table"),
}

# The registry as a table, so that `keras-vit list` needs no TensorFlow. tests/test_cli.py
# checks that it equals the live registry; regenerate it with write_model_index().
MODEL_INDEX = os.path.join(os.path.dirname(__file__), "model_index.json")

def _add_list_arguments(parser):
    parser.add_argument("--family", help="only this family (e.g. vit, mobilevit)")
    parser.add_argument("--pretrained", action="store_true", help="only models with published weights")


def model_index_from_registry():
    """The rows of ``keras-vit list`` from the live registry (imports Keras)."""
    import keras_vit

    rows = []
    for name in keras_vit.list_models():
        spec = keras_vit.get_model_spec(name)
        rows.append({"name": name, "family": spec.family, "parameters": spec.parameters,
                     "input_size": list(spec.input_size),
                     "default_weights": spec.default_weights, "weights": list(spec.weights)})
    return rows


def write_model_index(path=MODEL_INDEX):
    """Regenerate ``model_index.json`` after adding a model or a weights tag."""
    rows = model_index_from_registry()
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def run_list(args):
    with open(MODEL_INDEX, encoding="utf-8") as f:
        index = json.load(f)
    families = sorted({m["family"] for m in index})
    if args.family and args.family not in families:
        print(f"keras-vit list: error: unknown family {args.family!r}; families: "
              f"{', '.join(families)}", file=sys.stderr)
        return 2
    rows = [("name", "params", "input", "default weights", "weights tags")]
    for m in index:
        if (args.family and m["family"] != args.family) or (args.pretrained and not m["weights"]):
            continue
        params = f"{m['parameters']:,}" if m["parameters"] else "?"
        rows.append((m["name"], params, "x".join(map(str, m["input_size"])),
                     m["default_weights"] or "-", ", ".join(m["weights"]) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def _add_verbose(parser):
    try:
        parser.add_argument("--verbose", "-v", action="store_true",
                            help="show TensorFlow's own logs and warnings")
    except argparse.ArgumentError:
        pass  # the subcommand defines its own --verbose


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
            _add_verbose(command)
            command.set_defaults(func=getattr(mod, run))
    command = sub.add_parser("list", help="list the registered models")
    _add_list_arguments(command)
    _add_verbose(command)
    command.set_defaults(func=run_list)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = wants_verbose_logs(argv)
    quiet_logs(verbose)
    if not verbose and argv and argv[0] in SUBCOMMANDS and not {"-h", "--help"} & set(argv):
        filter_native_stderr()
    args = build_parser(argv).parse_args(argv)
    if getattr(args, "backend", None):
        # `train --backend`: Keras reads its backend once, when imported, so set it first (or
        # run the command again in a process on that backend).
        from keras_vit.training.backend import choose_backend

        code = choose_backend(args.backend, argv[1:])
        if code is not None:
            return code
    if args.command != "list":
        register_layers()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        # Every file is written to a temporary name and renamed when complete, and temporary
        # files are removed on the way out: an interrupted command leaves nothing half-written.
        print(f"keras-vit {args.command}: interrupted; nothing half-written was left behind "
              "(outputs are written atomically). Run the command again to redo it.", file=sys.stderr)
        return 130


def register_layers():
    """Register keras_vit's layers with Keras (so ``.keras`` files load); no-op without Keras."""
    try:
        import keras  # noqa: F401
    except ImportError:
        return
    importlib.import_module("keras_vit.models")


if __name__ == "__main__":
    sys.exit(main())
