"""The model table's latency column: the smallest named variant of every family, TFLite
float32 with builtin ops, XNNPACK, 1 thread, timed interleaved in one process.

    python benchmarks/family_latency.py [--rounds 3] [--runs 10] [--families vit mobilevit ...]

Every model is built at its native input size with random weights (latency does not depend
on the values), exported through ``keras_vit.tflite.export_model`` (verified against Keras),
then all files are timed call by call (``peers.time_alternating``): after two warm-up calls
each, every round calls each model once in turn, ``--runs`` times over, so that a burst of load on a shared machine falls
on every model alike (timing one model's calls in a block, as this script first did, let a
burst land on one model). The table reports the median over all calls and the spread of the
per-round medians. It prints the machine's load average before and after: on a shared
machine, compare rows of one run, not across runs.
"""
import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peers.py

from peers import time_alternating  # noqa: E402  (call-by-call timing, shared with the peer scripts)


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
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", help="families to include (default: all)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import keras_vit
    from keras_vit.tflite import TFLiteRunner, export_model

    names = smallest_per_family()
    if args.families:
        names = {f: n for f, n in names.items() if f in args.families}
    load_before = os.getloadavg()
    runners, sizes = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for family, name in sorted(names.items()):
            keras.utils.set_random_seed(0)
            model = keras_vit.create_model(name)
            path = os.path.join(folder, f"{name}.tflite")
            result = export_model(model, path, quantize="none", num_verify=2)
            if not result.passed:
                print(f"{name}: export verification failed, skipped: {result.verification.summary()}", file=sys.stderr)
                continue
            runner = TFLiteRunner(path, num_threads=args.threads)
            report = runner.op_report()
            runners[name] = (family, runner, report)
            sizes[name] = os.path.getsize(path) / 1e6
            keras.backend.clear_session()
        rng = np.random.default_rng(0)
        images = {name: rng.uniform(0, 255, runner.input_shape).astype(np.float32)
                  for name, (_, runner, _) in runners.items()}
        per_round = time_alternating({name: runner for name, (_, runner, _) in runners.items()},
                                     images, args.rounds, args.runs, warmup=2)
    load_after = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"TF {tf.__version__}, Keras {keras.__version__}; {args.threads} thread(s), {args.rounds} rounds x {args.runs} calls, call by call; "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print()
    print("| family | model | input | size MB | median ms | round medians ms | ops outside XNNPACK |")
    print("|---|---|---|---|---|---|---|")
    for name, (family, runner, report) in runners.items():
        times = np.concatenate(per_round[name])
        rounds = ", ".join(f"{np.median(t):.1f}" for t in per_round[name])
        size = "x".join(map(str, runner.input_shape[1:3]))
        outside = "none" if report.fully_delegated else ", ".join(f"{k}x{v}" for k, v in report.outside.items())
        print(f"| {family} | {name} | {size} | {sizes[name]:.1f} | {np.median(times):.1f} | {rounds} | {outside} |")


if __name__ == "__main__":
    main()
