"""Every family's smallest named model: TFLite float32 latency, builtin ops, XNNPACK.

    python benchmarks/family_latency.py [--rounds 3] [--calls 10] [--threads 1] [--families vit mobilevit ...]

Each model is built at its native input size with random weights (latency does not depend on
the values), exported through ``keras_vit.tflite.export_model`` (verified against Keras), and
all files are timed side by side in this process with the shared harness
(``keras_vit.utils.benchmark.time_interleaved``, call by call). Writes
``docs/benchmarks/family_latency.md``.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def smallest_per_family():
    import keras_vit

    best = {}
    for name in keras_vit.list_models():
        spec = keras_vit.get_model_spec(name)
        if spec.family not in best or spec.parameters < keras_vit.get_model_spec(best[spec.family]).parameters:
            best[spec.family] = name
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=10, help="calls of each model per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", help="families to include (default: all)")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import keras

    import keras_vit
    from keras_vit.tflite import TFLiteRunner, export_model
    from keras_vit.tflite.runtime import invoker
    from keras_vit.utils import benchmark

    stamp = benchmark.run_stamp("benchmarks/family_latency.py")
    names = smallest_per_family()
    if args.families:
        names = {f: n for f, n in names.items() if f in args.families}
    fns, rows_info, skipped = {}, {}, []
    with tempfile.TemporaryDirectory() as folder:
        for family, name in sorted(names.items()):
            keras.utils.set_random_seed(0)
            path = os.path.join(folder, f"{name}.tflite")
            result = export_model(keras_vit.create_model(name), path, quantize="none", num_verify=2)
            keras.backend.clear_session()
            if not result.passed:
                skipped.append(f"{name}: verification failed ({result.verification.summary()})")
                continue
            report = TFLiteRunner(path).op_report()
            outside = "none" if report.fully_delegated else ", ".join(f"{k}x{v}" for k, v in report.outside.items())
            fns[name] = invoker(path, threads=args.threads)
            rows_info[name] = (family, "x".join(map(str, TFLiteRunner(path).input_shape[1:3])),
                               os.path.getsize(path) / 1e6, outside)
            print(f"  exported {name}", file=sys.stderr, flush=True)
        rounds = benchmark.time_interleaved(fns, rounds=args.rounds, calls=args.calls)
    rows = []
    for name, (family, size, mb, outside) in rows_info.items():
        med, lo, hi = benchmark.summarize([1e3 * t for t in rounds[name]])
        rows.append((family, name, size, f"{mb:.1f}", f"{med:.2f} ({lo:.2f}-{hi:.2f})", outside))
    body = (f"TFLite float32, random weights, {args.threads} thread(s), XNNPACK, median of {args.rounds} "
            f"interleaved rounds of {args.calls} calls (min-max of the round medians).\n\n"
            + benchmark.markdown_table(("family", "model", "input", "size MB", "latency ms", "ops outside XNNPACK"), rows))
    if skipped:
        body += "\n\nSkipped: " + "; ".join(skipped)
    path = benchmark.write_result("family_latency", "Every family's smallest model, TFLite float32", stamp, body,
                                  folder=args.results_dir)
    print(open(path, encoding="utf-8").read())


if __name__ == "__main__":
    main()
