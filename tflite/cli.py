"""Command-line entry points: ``export``, ``predict`` and ``benchmark``.

``keras_vit/cli.py`` wires these into ``keras-vit``; ``python -m keras_vit.tflite.cli`` runs
them on their own. Each ``run_*`` returns the process exit code: 0 on success, 1 when
verification fails or the input is bad (with a one-line message on stderr), 2 for argument
errors (argparse).
"""
import argparse
import errno
import os
import sys

import numpy as np

from .export import FORMATS, QUANTIZATIONS, resolve_model

EXIT_OK, EXIT_FAILED = 0, 1
#: Images read and predicted at once by ``keras-vit predict``.
PREDICT_BATCH = 32


def _error(message):
    print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILED


def os_error_message(error, what="write"):
    """One line for an ``OSError`` a user can fix: full disk, read-only or forbidden folder."""
    where = error.filename or "the output"
    if error.errno == errno.ENOSPC:
        return f"No space left on the device holding {where}; free some space or choose another --output."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot {what} {where}: {error.strerror or 'permission denied'}; choose a folder you can write to."
    if error.errno == errno.EISDIR:
        return f"{where} is a folder; give the path of a file."
    return f"Cannot {what} {where}: {error.strerror or error}."


def disk_error_message(error):
    """One line for a disk error, an ``OSError`` or TensorFlow's own (a full disk while writing a
    SavedModel is a ``ResourceExhaustedError``); None for any other error."""
    if isinstance(error, OSError):
        return os_error_message(error)
    name = type(error).__name__
    if type(error).__module__.startswith("tensorflow") and name in (
            "ResourceExhaustedError", "PermissionDeniedError", "NotFoundError", "FailedPreconditionError"):
        text = (getattr(error, "message", None) or str(error)).strip().splitlines()[0][:300]
        if name == "ResourceExhaustedError" or "space" in text.lower():
            return f"No space left on the device while writing ({text}); free some space or choose another --output."
        return f"Cannot write the output ({text}); choose a folder you can write to."
    return None


def _positive(value):
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def _non_negative(value):
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return number


def _add_model_arguments(parser):
    parser.add_argument("--weights", default=None, help="weights tag or file for a registry model")
    parser.add_argument("--image-size", type=_positive, default=None, help="square input size of a registry model")
    parser.add_argument("--num-classes", type=_positive, default=None, help="classes of a registry model")


def add_export_arguments(parser):
    """Arguments of ``keras-vit export``."""
    parser.add_argument("model", help="registry name (with --weights) or .keras file")
    parser.add_argument("--format", default=None, choices=FORMATS,
                        help="output format (required unless --preset, which writes tflite)")
    parser.add_argument("--preset", default=None, choices=("mobile",),
                        help="mobile: export float32, float16, dynamic int8, full int8 and int8 with float "
                             "transformer ops (with and without GELU in float), time them (1 thread, XNNPACK) and keep the fastest within 0.5 "
                             "accuracy points of float32 on the held-out labelled --data")
    parser.add_argument("--threads", type=_positive, default=1, help="--preset: interpreter threads for timing")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="TFLite only: none (float32), float16, dynamic (int8 weights) or int8 (full integer)")
    parser.add_argument("--data", default=None,
                        help="representative/labelled images: .npy/.npz, image folder, or a training dataset name "
                             "(digits, tfds:NAME); required for --quantize int8")
    parser.add_argument("--num-calibration", type=_non_negative, default=100, help="images used for int8 calibration")
    parser.add_argument("--num-verify", type=_non_negative, default=200,
                        help="held-out images from --data used to verify (and measure accuracy)")
    parser.add_argument("--float-ops", default=None,
                        help="--quantize int8 only: op types to keep in float, 'transformer' (LayerNorm and "
                             "attention ops: several times faster int8 transformers on CPU at equal accuracy) "
                             "or a comma list of TFLite op names, e.g. SOFTMAX,BATCH_MATMUL")
    parser.add_argument("--input-dtype", default=None, choices=("float32", "uint8", "int8"),
                        help="int8 models: integer input (uint8 takes raw pixel bytes unchanged)")
    parser.add_argument("--output-dtype", default=None, choices=("float32", "uint8", "int8"))
    parser.add_argument("--batch-size", type=_positive, default=1, help="fixed batch size of the export")
    parser.add_argument("--output", "-o", required=True, help="output file (.tflite/.keras) or SavedModel folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --output that is not an earlier export of the same format "
                             "(the current folder and the model's own folder are refused even so)")
    parser.add_argument("--no-verify", action="store_true", help="skip the parity check")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="float32: bound on max|diff| / Keras logit range (default: %(default)s)")
    parser.add_argument("--min-agreement", type=float, default=None,
                        help="float16/dynamic/int8: minimum top-1 agreement with Keras "
                             "(default: 0.99 / 0.9 / 0.8)")
    _add_model_arguments(parser)


def _parse_float_ops(value):
    """``--float-ops``: a preset name stays a string, anything else becomes a list of op names."""
    from .export import FLOAT_OPS_PRESETS

    if value is None or value in FLOAT_OPS_PRESETS:
        return value
    return [name for name in value.split(",") if name.strip()]


def _class_names(model, args):
    """Names for the .tflite metadata: --data's labels, ImageNet-1k's with registry weights, else class_N."""
    from .metadata import class_names_for

    shape = model.outputs[0].shape if len(model.outputs) == 1 else None
    if shape is None or len(shape) != 2:
        return None  # not a classifier: export_model writes no classifier metadata
    imagenet = bool(args.weights) and not args.model.endswith(".keras")
    return class_names_for(int(shape[-1]), data=args.data, imagenet=imagenet)[0]


def run_export(args):
    """Run ``keras-vit export``; prints the verification result, returns the exit code."""
    from .export import ConversionError, export_model

    if args.format is None and args.preset is None:
        return _error("give --format (tflite, saved_model or keras) or --preset mobile.")
    if args.preset and (args.format not in (None, "tflite") or args.quantize != "none" or args.float_ops):
        return _error("--preset chooses the TFLite quantization itself; drop --format/--quantize/--float-ops.")
    try:
        model = resolve_model(args.model, args.weights, args.image_size, args.num_classes)
        image_shape = tuple(model.inputs[0].shape[1:])
        class_names = _class_names(model, args)
        cal = ev = ev_labels = None
        if args.data:
            from .data import calibration_and_eval

            cal, ev, ev_labels = calibration_and_eval(args.data, image_shape, args.num_calibration, args.num_verify)
        elif args.quantize == "int8" or args.preset:
            return _error(f"{'--preset' if args.preset else '--quantize int8'} needs --data (images from the "
                          "training data; --preset also needs their labels).")
        if args.preset:
            if ev_labels is None:
                return _error("--preset needs labelled --data: it chooses by accuracy against float32.")
            result = export_model(model, args.output, preset=args.preset, representative_data=cal, sample_images=ev,
                                  labels=ev_labels, num_threads=args.threads, batch_size=args.batch_size,
                                  num_calibration=args.num_calibration, overwrite=args.overwrite,
                                  class_names=class_names)
            print(result.summary())
            return EXIT_OK if result.passed else EXIT_FAILED
        result = export_model(
            model, args.output, format=args.format, quantize=args.quantize, representative_data=cal,
            input_dtype=args.input_dtype, output_dtype=args.output_dtype, batch_size=args.batch_size,
            verify=not args.no_verify, sample_images=ev, labels=ev_labels, num_calibration=args.num_calibration,
            tolerance=args.tolerance, min_top1_agreement=args.min_agreement,
            float_ops=_parse_float_ops(args.float_ops), overwrite=args.overwrite, class_names=class_names,
        )
    except (ValueError, FileNotFoundError, ConversionError) as e:
        return _error(str(e))
    except Exception as e:  # OSError, or TensorFlow's error for a full disk
        message = disk_error_message(e)
        if message is None:
            raise
        return _error(message)
    print(result.summary())
    return EXIT_OK if result.passed else EXIT_FAILED


def add_predict_arguments(parser):
    """Arguments of ``keras-vit predict``."""
    parser.add_argument("model", help=".tflite or .keras file (or registry name)")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--top-k", type=_positive, default=5)
    parser.add_argument("--labels", default=None, help="text file with one class name per line")
    parser.add_argument("--resize", action="store_true",
                        help="resize images and convert them to RGB instead of rejecting a mismatch")
    parser.add_argument("--num-threads", type=_positive, default=None)
    _add_model_arguments(parser)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _load_predictor(spec, args):
    """``(predict_fn, (H, W, C))`` for a .tflite, .keras or registry model."""
    if spec.endswith(".tflite"):
        from .runtime import TFLiteRunner

        if not os.path.exists(spec):
            raise FileNotFoundError(f"No such model file: {spec}")
        runner = TFLiteRunner(spec, num_threads=args.num_threads)
        return runner, runner.input_shape[1:]
    model = resolve_model(spec, args.weights, args.image_size, args.num_classes)
    return (lambda x: np.asarray(model(x, training=False))), tuple(model.inputs[0].shape[1:])


def run_predict(args):
    """Run ``keras-vit predict``: print the top-k classes of each image."""
    from .data import load_image

    try:
        predict, image_shape = _load_predictor(args.model, args)
        class_names = None
        if args.labels:
            with open(args.labels, encoding="utf-8") as f:
                class_names = [line.strip() for line in f if line.strip()]
        elif args.model.endswith(".tflite"):  # the names written into the file's metadata
            from .metadata import read_metadata

            class_names = (read_metadata(args.model) or {}).get("class_names")
        missing = next((p for p in args.images if not os.path.isfile(p)), None)
        if missing is not None:  # before the first batch, so that nothing is half-printed
            raise FileNotFoundError(f"No such image file: {missing}")
        # Batches keep memory flat however many files are given (10,000 files took 1.8 GB at once).
        for start in range(0, len(args.images), PREDICT_BATCH):
            paths = args.images[start:start + PREDICT_BATCH]
            images = [load_image(p, image_shape, resize=args.resize) for p in paths]
            scores = predict(np.stack(images)).reshape(len(images), -1)
            if start == 0 and class_names is not None and len(class_names) != scores.shape[-1]:
                if not args.labels:
                    class_names = None  # the file's own labels do not fit its output: print indices
                else:
                    return _error(f"{args.labels} has {len(class_names)} labels but the model has "
                                  f"{scores.shape[-1]} classes.")
            # Logits become probabilities; outputs that already sum to one are kept.
            if not (np.all(scores >= 0) and np.allclose(scores.sum(-1), 1, atol=1e-2)):
                scores = _softmax(scores)
            for path, row in zip(paths, scores):
                top = np.argsort(-row)[: args.top_k]
                names = [class_names[i] if class_names else str(i) for i in top]
                print(f"{path}: " + ", ".join(f"{n} ({row[i]:.3f})" for n, i in zip(names, top)))
    except (ValueError, FileNotFoundError) as e:
        return _error(str(e))
    except OSError as e:
        return _error(os_error_message(e, "read"))
    return EXIT_OK


def add_benchmark_arguments(parser):
    """Arguments of ``keras-vit benchmark``."""
    from .benchmark import DEFAULT_FORMATS

    parser.add_argument("models", nargs="+", help="registry names or .keras files")
    parser.add_argument("--formats", nargs="+", default=list(DEFAULT_FORMATS),
                        help="keras and/or tflite:QUANTIZE entries (default: %(default)s)")
    parser.add_argument("--data", default=None, help="labelled images for calibration and accuracy")
    parser.add_argument("--num-calibration", type=_non_negative, default=100)
    parser.add_argument("--num-eval", type=_non_negative, default=500)
    parser.add_argument("--threads", type=_positive, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=_positive, default=50, help="timed invocations per measurement")
    parser.add_argument("--rounds", type=_positive, default=3,
                        help="interleaved measurement rounds; tables show the median over rounds")
    parser.add_argument("--peers", nargs="*", default=["kecam"],
                        help="other Keras implementations to compare with (kecam); empty for none")
    parser.add_argument("--workdir", default=None, help="keep exported files here (default: a temp folder)")
    parser.add_argument("--markdown", default=None, help="also write the tables as markdown to this file")
    _add_model_arguments(parser)


def run_benchmark(args):
    """Run ``keras-vit benchmark``: tables of size, latency, memory and accuracy."""
    from .benchmark import run

    try:
        return run(args)
    except (ValueError, FileNotFoundError) as e:
        return _error(str(e))


def main(argv=None):
    """``python -m keras_vit.tflite.cli {export,predict,benchmark} ...``"""
    parser = argparse.ArgumentParser(prog="keras-vit", description="Export, run and benchmark mobile models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add, run_fn in (
        ("export", add_export_arguments, run_export),
        ("predict", add_predict_arguments, run_predict),
        ("benchmark", add_benchmark_arguments, run_benchmark),
    ):
        p = sub.add_parser(name, help=(run_fn.__doc__ or "").split("\n")[0])
        add(p)
        p.set_defaults(func=run_fn)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
