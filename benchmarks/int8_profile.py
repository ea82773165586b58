"""Where selective int8 spends its time, and what keeping more ops in float buys.

For MobileViT-XXS (256x256), ViT-Ti/16 and PVT v2-b0 (224x224) by default, or any registry
model (``--models``), random weights (latency does not depend
on them; calibration uses smooth seeded images), this exports float32, dynamic-range int8,
full int8 and int8 with several ``float_ops`` sets, then prints per variant:

* the number of QUANTIZE / DEQUANTIZE nodes (each float island costs one pair),
* XNNPACK partitions and the ops left outside the delegate (with their output dtype),
* the median latency at 1 thread over interleaved rounds and the ratio to float32.

All interpreters are loaded at once and invoked in turn, in a rotating order, every round, so
that load from other processes hits every variant alike; read the ratios, not the times.

Usage:
    python benchmarks/int8_profile.py [--models mobilevit_xxs vit_tiny_patch16_224]
        [--rounds 7] [--runs 10] [--threads 1] [--num-calibration 32]

This is a script, not a test: timings depend on the machine and its load.
"""
import argparse
import collections
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

#: The default models: the families with a kecam peer (each is timed at its registry input size).
MODELS = ("mobilevit_xxs", "vit_tiny_patch16_224", "pvt_v2_b0")


def variants():
    """(label, export kwargs): the candidates of the mobile preset plus extra float-op sets."""
    from keras_vit.tflite.convert import TRANSFORMER_FLOAT_OPS
    from keras_vit.tflite.presets import TRANSFORMER_GELU_FLOAT_OPS

    return [
        ("float32", dict(quantize="none")),
        ("dynamic", dict(quantize="dynamic")),
        ("int8 full", dict(quantize="int8", input_dtype="uint8")),
        ("int8 float=transformer", dict(quantize="int8", input_dtype="uint8", float_ops="transformer")),
        ("int8 float=transformer+ADD", dict(quantize="int8", input_dtype="uint8",
                                            float_ops=list(TRANSFORMER_FLOAT_OPS) + ["ADD"])),
        ("int8 float=transformer+GELU", dict(quantize="int8", input_dtype="uint8",
                                             float_ops=list(TRANSFORMER_GELU_FLOAT_OPS))),
    ]


def smooth_images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, 3))
    x = np.repeat(np.repeat(coarse, -(-size // 8), axis=1), -(-size // 8), axis=2)[:, :size, :size]
    return np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.float32)


def describe(path):
    """Q/DQ counts, partitions, and ``op(dtype) xN`` for nodes outside XNNPACK."""
    from keras_vit.tflite import TFLiteRunner, inspect_ops
    from keras_vit.tflite.runtime import delegate_coverage

    ops, _ = inspect_ops(path)
    runner = TFLiteRunner(path, num_threads=1)
    report = delegate_coverage(runner.interpreter)
    # Output dtypes of the undelegated nodes, from an undelegated interpreter (same node order).
    plain = TFLiteRunner(path, use_xnnpack=False).interpreter
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in plain.get_tensor_details()}
    outside = collections.Counter()
    nodes = plain._get_ops_details()
    for index, name in report.outside_nodes:
        node = nodes[index]
        ins = "/".join(sorted({dtypes[int(t)] for t in node["inputs"] if t >= 0}))
        outside[f"{name}({ins}->{dtypes[int(node['outputs'][0])]})"] += 1
    return {
        "quantize": ops.get("QUANTIZE", 0), "dequantize": ops.get("DEQUANTIZE", 0),
        "ops": sum(ops.values()), "partitions": report.num_partitions,
        "outside": ", ".join(f"{k} x{v}" for k, v in sorted(outside.items())) or "none",
    }


def time_interleaved(paths, threads, rounds, runs):
    """{label: [median ms of each round]}: the shared harness, call by call."""
    from keras_vit.tflite.runtime import invoker
    from keras_vit.utils import benchmark

    fns = {label: invoker(p, threads=threads) for label, p in paths.items()}
    return {label: [1e3 * t for t in v] for label, v in benchmark.time_interleaved(fns, rounds=rounds, calls=runs).items()}


def export_peer(name, size, workdir):
    """kecam's float32 TFLite of the same architecture (fed raw pixels), or None when not installed."""
    from keras_vit.tflite import export_model
    from keras_vit.utils.benchmark import kecam_model, peer_available

    missing = peer_available("kecam")
    if missing:
        print(f"note: {missing}", file=sys.stderr)
        return None

    try:
        model = kecam_model(name, size)
    except ImportError as error:
        print(f"note: no kecam peer timed for {name} ({error}): our float32 is the baseline", file=sys.stderr)
        return None
    path = os.path.join(workdir, f"{name}_kecam_float32.tflite")
    export_model(model, path, verify=False, overwrite=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--num-calibration", type=int, default=32)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--only", nargs="*", default=None, help="variant labels to run (default: all)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="MODEL:LABEL=PATH",
                        help="also time a file made earlier (e.g. by a previous version: 'before')")
    parser.add_argument("--reuse", action="store_true",
                        help="time the files an earlier run of this script left in --workdir instead of exporting")
    parser.add_argument("--no-peer", action="store_true",
                        help="do not time kecam's float32 TFLite (timed when keras-cv-attention-models is installed)")
    parser.add_argument("--result-name", default="int8_profile", help="docs/benchmarks/<name>.md to write")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import keras

    import keras_vit
    from keras_vit.tflite import export_model

    from keras_vit.utils import benchmark

    workdir = args.workdir or tempfile.mkdtemp(prefix="int8_profile_")
    stamp = benchmark.run_stamp("benchmarks/int8_profile.py")
    out = [f"{args.threads} thread(s), XNNPACK, random weights, median of {args.rounds} interleaved rounds "
           f"of {args.runs} invokes (min-max of the round medians)."]

    def emit(line=""):
        print(line, flush=True)
        out.append(line)

    for name in args.models:
        size = keras_vit.get_model_spec(name).input_size[0]  # the registry's native size
        keras.utils.set_random_seed(0)
        model = keras_vit.create_model(name, input_shape=(size, size, 3))
        cal = smooth_images(args.num_calibration, size)
        paths, info = {}, {}
        for label, kwargs in variants():
            if args.only and label not in args.only:
                continue
            path = os.path.join(workdir, f"{name}_{label.replace(' ', '_').replace('=', '-')}.tflite")
            t0 = time.perf_counter()
            if args.reuse and os.path.exists(path):
                paths[label], info[label] = path, describe(path)
                info[label]["size"] = os.path.getsize(path) / 1e6
                continue
            export_model(model, path, representative_data=cal, num_calibration=args.num_calibration,
                         verify=False, overwrite=True, **kwargs)
            paths[label] = path
            info[label] = describe(path)
            info[label]["size"] = os.path.getsize(path) / 1e6
            print(f"  exported {name} {label} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        for extra in args.extra:
            model_name, _, rest = extra.partition(":")
            label, _, path = rest.rpartition("=")
            if model_name == name:
                paths[label], info[label] = path, describe(path)
                info[label]["size"] = os.path.getsize(path) / 1e6
        peer = None if args.no_peer else export_peer(name, size, workdir)
        if peer:
            paths["kecam float32"] = peer
            info["kecam float32"] = describe(peer)
            info["kecam float32"]["size"] = os.path.getsize(peer) / 1e6
        load_before = os.getloadavg()[0]
        medians = time_interleaved(paths, args.threads, args.rounds, args.runs)
        base = statistics.median(medians["float32"]) if "float32" in medians else None
        peer_ms = statistics.median(medians["kecam float32"]) if "kecam float32" in medians else None
        emit(f"\n## {name} {size}x{size} (load average {load_before:.1f} -> {os.getloadavg()[0]:.1f})\n")
        emit("| variant | MB | ops | QUANTIZE | DEQUANTIZE | partitions | median ms (min-max of rounds) "
              "| float32 / variant | kecam float32 / variant | outside XNNPACK |")
        emit("|---|---|---|---|---|---|---|---|---|---|")
        for label, m in medians.items():
            d = info[label]
            med = statistics.median(m)
            ratio = f"{base / med:.2f}" if base else "-"
            peer_ratio = f"{peer_ms / med:.2f}" if peer_ms else "-"
            emit(f"| {label} | {d['size']:.2f} | {d['ops']} | {d['quantize']} | {d['dequantize']} | "
                  f"{d['partitions']} | {med:.2f} ({min(m):.2f}-{max(m):.2f}) | {ratio} | {peer_ratio} | "
                  f"{d['outside']} |")
        # The fastest variant against the fastest float32 (ours or the peer's).
        candidates = {k: statistics.median(v) for k, v in medians.items() if k not in ("float32", "kecam float32")}
        floats = {k: statistics.median(medians[k]) for k in ("float32", "kecam float32") if k in medians}
        if candidates and floats:
            best, fastest_float = min(candidates, key=candidates.get), min(floats, key=floats.get)
            emit(f"\nFastest variant: {best}, {candidates[best]:.2f} ms, {floats[fastest_float] / candidates[best]:.2f}x "
                  f"the fastest float32 ({fastest_float}, {floats[fastest_float]:.2f} ms)")
    benchmark.write_result(args.result_name, "Int8 export variants against float32", stamp, "\n".join(out),
                           folder=args.results_dir)


if __name__ == "__main__":
    main()
