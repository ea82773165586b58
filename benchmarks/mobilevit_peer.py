"""MobileViT float32 TFLite latency: ours against keras-cv-attention-models' (kecam).

For each variant (XXS, XS, S at 256x256, random weights: latency does not depend on them)
both models are exported to builtin-only float32 TFLite the same way (Keras SavedModel
archive, then ``TFLiteConverter`` with ``TFLITE_BUILTINS``; ours through
``keras_vit.tflite.export_model``). The peer gets the same in-model ``x / 255`` rescaling and
no softmax, so both graphs take raw pixels and return logits.

Timing is interleaved in one process: every round runs each implementation in turn (in a
rotating order) at each thread count, so that load from other processes on the machine hits
all of them alike. The table gives the median and 90th percentile of all invokes, the ratio
peer/ours of the medians, operator counts and XNNPACK partitions.

``--save-dir`` keeps our `.tflite` files; ``--baseline DIR`` adds the files an earlier run
kept there as a third implementation ("before"), timed in the same rounds.

Usage (needs ``pip install keras-cv-attention-models``, not a dependency of keras_vit):

    python benchmarks/mobilevit_peer.py [--models mobilevit_xxs ...] [--threads 1 2]
        [--rounds 8] [--runs 10] [--save-dir DIR] [--baseline DIR]

This is a script, not a test: timings depend on the machine and its load.
"""
import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script from anywhere: the repository root holds keras_vit.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SIZE = 256
PEER_BUILDERS = {"mobilevit_xxs": "MobileViT_XXS", "mobilevit_xs": "MobileViT_XS", "mobilevit_s": "MobileViT_S"}


def build_peer(name):
    """kecam's MobileViT fed raw pixels: kecam 1.4.3 runs on Keras 3 via its keras_core switch."""
    import keras

    os.environ["KECAM_BACKEND"] = "keras_core"
    sys.modules.setdefault("keras_core", keras)
    from keras_cv_attention_models import mobilevit

    inner = getattr(mobilevit, PEER_BUILDERS[name])(
        input_shape=(SIZE, SIZE, 3), pretrained=None, classifier_activation=None
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    return keras.Model(inputs, inner(x), name=f"kecam_{name}")


def export(model, path):
    from keras_vit.tflite import export_model

    export_model(model, path, quantize="none", verify=False)
    return path


def describe(path):
    from keras_vit.tflite import TFLiteRunner, inspect_ops

    ops, _ = inspect_ops(path)
    report = TFLiteRunner(path, num_threads=1).op_report()
    return dict(
        transpose=ops.get("TRANSPOSE", 0),
        reshape=ops.get("RESHAPE", 0),
        total=sum(ops.values()),
        partitions=report.num_partitions,
        outside=sum(report.outside.values()),
        ops=ops,
    )


def runner(path, threads):
    from keras_vit.tflite import TFLiteRunner

    return TFLiteRunner(path, num_threads=threads)


def run_once(path):
    """Logits of one seeded-noise input (enough to compare two files of the same model)."""
    r = runner(path, 1)
    return r(np.random.default_rng(0).uniform(0, 255, r.input_shape).astype(np.float32))


def time_interleaved(paths, threads, rounds, runs, warmup=2):
    """{(impl, threads): [ms per invoke]} with implementations alternating every round."""
    runners = {(impl, t): runner(path, t) for impl, path in paths.items() for t in threads}
    for r in runners.values():
        r.time_invoke(runs=0, warmup=warmup)
    samples = {key: [] for key in runners}
    keys = list(runners)
    for i in range(rounds):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            # warmup=1 re-warms caches after the other models ran
            samples[key].extend(runners[key].time_invoke(runs=runs, warmup=1).tolist())
    return samples


def p90(values):
    return float(np.percentile(values, 90))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PEER_BUILDERS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--save-dir", default=None, help="keep our .tflite files here")
    parser.add_argument("--baseline", default=None, help="folder of an earlier --save-dir, timed as 'before'")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)

    import keras

    import keras_vit

    workdir = tempfile.mkdtemp(prefix="mobilevit_peer_")
    save_dir = args.save_dir or workdir
    os.makedirs(save_dir, exist_ok=True)
    lines = [
        f"MobileViT float32 TFLite, {SIZE}x{SIZE}, batch 1, XNNPACK; median / p90 ms over "
        f"{args.rounds} interleaved rounds x {args.runs} invokes",
        "",
        "| model | impl | threads | median ms | p90 ms | peer/impl | TRANSPOSE | RESHAPE | ops | XNNPACK partitions | ops outside XNNPACK |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models:
        paths = {}
        keras.utils.set_random_seed(0)
        paths["ours"] = export(keras_vit.create_model(name, input_shape=(SIZE, SIZE, 3)), os.path.join(save_dir, f"{name}_ours.tflite"))
        if args.baseline:
            paths["before"] = os.path.join(args.baseline, f"{name}_ours.tflite")
        paths["kecam"] = export(build_peer(name), os.path.join(workdir, f"{name}_kecam.tflite"))
        info = {impl: describe(path) for impl, path in paths.items()}
        samples = time_interleaved(paths, args.threads, args.rounds, args.runs)
        for t in args.threads:
            peer = statistics.median(samples[("kecam", t)])
            for impl in paths:
                s, d = samples[(impl, t)], info[impl]
                med = statistics.median(s)
                lines.append(
                    f"| {name} | {impl} | {t} | {med:.2f} | {p90(s):.2f} | {peer / med:.2f} | "
                    f"{d['transpose']} | {d['reshape']} | {d['total']} | {d['partitions']} | {d['outside']} |"
                )
        for impl, d in info.items():
            print(f"{name} {impl} ops: {d['ops']}", flush=True)
        if "before" in paths:
            # Same seed, same variables: the restructured graph must compute the same logits.
            ours, before = (run_once(paths[impl]) for impl in ("ours", "before"))
            print(f"{name} ours vs before: max|diff| {np.abs(ours - before).max():.3g} "
                  f"(logit range {before.max() - before.min():.3g})", flush=True)
        print("\n".join(lines[-len(paths) * len(args.threads):]), flush=True)
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
