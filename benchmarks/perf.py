"""Performance tables from one command: TFLite float32 against the machine's GEMM peak, and
Keras inference/training throughput against the peers (timm in PyTorch eager, kecam, keras-hub).

Table 1, "float32 TFLite vs arithmetic": for each family's smallest model (random weights:
latency does not depend on them), the float32 TFLite latency at 1 thread with XNNPACK, the
multiply-adds counted from the converted graph (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
BATCH_MATMUL, from the tensor shapes) and ``efficiency = (2 * MACs / GEMM peak) / latency``.
The GEMM peak is measured in the same run, interleaved with the models: a TFLite model of one
FULLY_CONNECTED per shape in ``GEMM_SHAPES`` (float32, same interpreter settings); the peak is the
fastest of them.

Table 2, "Keras throughput": images/s of ViT-Ti/16 and MobileViT-XXS, inference at batch 1
and 32 and training steps (forward, backward, AdamW) at batch 32, with ``jit_compile`` off and
on, our graph without the oneDNN-fusable forms (``keras-vit unfused``: ``keras_vit/layers/fusion.py``
with ``FUSE = False``, the graph before 2026-11-27), against timm's model of the same name in PyTorch eager, keras-cv-attention-models (if
installed) and keras-hub's ViT (if installed). Every implementation runs in this process at
``--threads`` threads, in rotating order each round; the table shows the median over rounds,
the min-max of rounds and ``ours/peer`` ratios. Peers that are not installed are skipped and
named.

Table 3, "mobile export": ``benchmarks/int8_profile.py`` for MobileViT-XXS, ViT-Ti/16 and PVT
v2-b0 with the mobile preset's int8 candidates and kecam's float32 TFLite, interleaved, 1 thread.
``--skip-int8`` leaves it out.

The machine may be shared: read the ratios, not the times. Writes
``docs/benchmarks/perf_tflite.md``, ``perf_keras.md`` and ``perf_int8.md``, each starting with the
run stamp (date, CPU model and flags, versions).

Usage:
    python benchmarks/perf.py [--models vit_tiny_patch16_224 mobilevit_xxs ...] [--rounds 5]
        [--skip-keras] [--skip-tflite] [--skip-int8] [--threads 2]
"""
import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # int8_profile.py (table 3)

try:  # torch and timm must be imported before TensorFlow in one process (else the process dies)
    import torch
    import timm
except ImportError:  # pragma: no cover - optional peer
    torch = timm = None

import numpy as np  # noqa: E402

from keras_vit.tflite.runtime import invoker  # noqa: E402
from keras_vit.utils import benchmark  # noqa: E402  (the shared harness: timing, peers, run stamp)

#: Each family's smallest registry model and the input size it is timed at.
SMALLEST = {
    "vit": ("vit_tiny_patch16_224", 224),
    "deit": ("deit_tiny_patch16_224", 224),
    "mobilevit": ("mobilevit_xxs", 256),
    "pvt_v2": ("pvt_v2_b0", 224),
    "pvt": ("pvt_tiny", 224),
    "swin": ("swin_tiny_patch4_window7_224", 224),
    "cvt": ("cvt_13_224", 224),
    "t2t_vit": ("t2t_vit_7", 224),
    "cct": ("cct_2_3x2_32", 32),
    "beit": ("beit_base_patch16_224", 224),
    "dat": ("dat_tiny", 224),
}
#: GEMM micro-benchmark shapes (M, K, N): ViT-Ti's MLP GEMM, and two larger square-ish ones.
GEMM_SHAPES = ((197, 192, 768), (256, 512, 512), (256, 1024, 1024))
KERAS_MODELS = {"vit_tiny_patch16_224": 224, "mobilevit_xxs": 256}
#: Table 3 (``benchmarks/int8_profile.py``): the models with a kecam peer, and the mobile preset's candidates.
INT8_MODELS = ("mobilevit_xxs", "vit_tiny_patch16_224", "pvt_v2_b0")
INT8_VARIANTS = ("float32", "dynamic", "int8 full", "int8 float=transformer", "int8 float=transformer+GELU")


# ------------------------------------------------------------------ table 1: TFLite vs arithmetic


def gemm_tflite(workdir, m, k, n):
    """A float32 TFLite model of one FULLY_CONNECTED ``(m, k) @ (k, n)``; returns (path, flops)."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((m, k), tf.float32)])
    def gemm(x):
        return tf.matmul(x, w)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([gemm.get_concrete_function()], gemm)
    path = os.path.join(workdir, f"gemm_{m}x{k}x{n}.tflite")
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path, 2 * m * k * n


def count_macs(path):
    """Multiply-adds of the GEMM-like ops of a TFLite file, from its tensor shapes."""
    from keras_vit.tflite import TFLiteRunner

    interp = TFLiteRunner(path, use_xnnpack=False).interpreter
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in interp.get_tensor_details()}
    macs = 0
    for node in interp._get_ops_details():
        name, ins, outs = node["op_name"], [int(i) for i in node["inputs"]], [int(o) for o in node["outputs"]]
        out = int(np.prod(shapes[outs[0]]))
        if name == "FULLY_CONNECTED":
            macs += out * shapes[ins[1]][-1]
        elif name == "CONV_2D":
            _, kh, kw, cin = shapes[ins[1]]
            macs += out * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D":
            _, kh, kw, _ = shapes[ins[1]]
            macs += out * kh * kw
        elif name == "BATCH_MATMUL":
            lhs, o = shapes[ins[0]], shapes[outs[0]]
            macs += out * (lhs[-1] if lhs[-2] == o[-2] else lhs[-2])
    return macs


def tflite_table(args, workdir):
    import keras

    import keras_vit
    from keras_vit.tflite import export_model

    paths, flops, skipped = {}, {}, []
    gemm_flops = {}
    for m, k, n in GEMM_SHAPES:
        label = f"GEMM {m}x{k}x{n}"
        paths[label], gemm_flops[label] = gemm_tflite(workdir, m, k, n)
    known = set(keras_vit.list_models())
    for name in args.models:
        size = next((s for n, s in SMALLEST.values() if n == name), 224)
        if name not in known:
            skipped.append(f"{name} (not in the registry)")
            continue
        keras.utils.set_random_seed(0)
        try:
            model = keras_vit.create_model(name, input_shape=(size, size, 3))
            path = os.path.join(workdir, f"{name}.tflite")
            export_model(model, path, verify=False, overwrite=True)
        except Exception as e:  # a family that does not export is reported, not fatal
            skipped.append(f"{name} ({type(e).__name__}: {str(e).splitlines()[0][:100]})")
            continue
        paths[name] = path
        flops[name] = 2 * count_macs(path)
        print(f"  exported {name}", file=sys.stderr, flush=True)
    fns = {label: invoker(path, threads=1) for label, path in paths.items()}
    rounds = {label: [1e3 * t for t in v]
              for label, v in benchmark.time_interleaved(fns, rounds=args.rounds, calls=args.runs).items()}
    rates = {label: f / (statistics.median(rounds[label]) * 1e-3) for label, f in gemm_flops.items()}
    peak = max(rates.values())
    lines = [f"\n## float32 TFLite vs arithmetic (1 thread, XNNPACK, median of {args.rounds} interleaved rounds)\n",
             "GEMM micro-benchmark (one FULLY_CONNECTED, M x K x N): "
             + ", ".join(f"{label[5:]} {rate / 1e9:.0f} GFLOP/s" for label, rate in rates.items())
             + f"; peak = the best, **{peak / 1e9:.0f} GFLOP/s**\n",
             "| model | input | GFLOPs (2*MACs) | latency ms (min-max) | FLOPs / peak ms | efficiency |",
             "|---|---|---|---|---|---|"]
    for name in flops:
        ms = statistics.median(rounds[name])
        ideal = flops[name] / peak * 1e3
        size = next((s for n, s in SMALLEST.values() if n == name), 224)
        lines.append(f"| {name} | {size} | {flops[name] / 1e9:.3f} | {ms:.2f} ({min(rounds[name]):.2f}-"
                     f"{max(rounds[name]):.2f}) | {ideal:.2f} | {100 * ideal / ms:.0f}% |")
    if skipped:
        lines.append("\nSkipped: " + "; ".join(skipped))
    return "\n".join(lines)


# ------------------------------------------------------------------ table 2: Keras throughput


def keras_runner(model, batch, train, jit):
    """A function running one inference batch or one training step of a Keras model."""
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
    y = rng.integers(0, int(model.outputs[0].shape[-1]), batch)
    if train:
        return lambda: model.train_on_batch(x, y)
    return lambda: model.predict_on_batch(x)


def torch_runner(name, size, batch, train):
    model = timm.create_model(name, pretrained=False, num_classes=1000)
    x = torch.rand(batch, 3, size, size) * 255
    if not train:
        model.eval()

        def infer():
            with torch.no_grad():
                model(x)

        return infer
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    y = torch.randint(0, 1000, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def unfused(fn):
    """``fn`` traced (on its first call) with ``keras_vit.layers.fusion.FUSE = False``: our graph
    before the oneDNN-fusable forms, same weights and arithmetic."""
    from keras_vit.layers.fusion import fused

    def run():
        with fused(False):
            return fn()

    return run


def keras_table(args):
    import keras

    import keras_vit

    lines = [f"\n## Keras throughput, images/s ({args.threads} threads, median of {args.rounds} rotating rounds, "
             "min-max in brackets)\n"]
    skipped = set()
    for name in args.keras_models:
        size = KERAS_MODELS[name]
        for task, batch, train in (("inference", 1, False), ("inference", 32, False), ("training", 32, True)):
            keras.utils.set_random_seed(0)
            fns = {}
            for jit in (False, True):
                fns[f"keras-vit jit={jit}"] = keras_runner(
                    keras_vit.create_model(name, input_shape=(size, size, 3)), batch, train, jit)
            fns["keras-vit unfused"] = unfused(keras_runner(
                keras_vit.create_model(name, input_shape=(size, size, 3)), batch, train, False))
            builders = [("kecam jit=False", lambda: benchmark.kecam_model(name, size)),
                        ("keras-hub jit=False", lambda: benchmark.keras_hub_model(name, size))]
            for label, build in builders:
                try:
                    fns[label] = keras_runner(build(), batch, train, False)
                except ImportError as e:
                    skipped.add(f"{label.split()[0]} for {name}: {e}")
            if torch is not None:
                try:
                    fns["timm eager"] = torch_runner(name, size, batch, train)
                except Exception as e:  # noqa: BLE001 - a missing timm model is reported
                    skipped.add(f"timm {name}: {e}")
            steps = max(1, args.steps // batch) if batch > 1 else args.steps
            # Blocks of `steps` calls per implementation (per_call=False): a training step at batch 32
            # takes the whole thread pool, so alternating call by call would only add switching.
            secs = benchmark.time_interleaved(fns, rounds=args.rounds, calls=steps, warmup=2, per_call=False)
            ours = batch / statistics.median(secs["keras-vit jit=False"])
            lines += [f"\n### {name} {size}x{size}, {task}, batch {batch}\n",
                      "| implementation | images/s (min-max) | ours (jit=False) / it |", "|---|---|---|"]
            for label, s in secs.items():
                ips = [batch / t for t in s]
                med = batch / statistics.median(s)
                lines.append(f"| {label} | {med:.1f} ({min(ips):.1f}-{max(ips):.1f}) | {ours / med:.2f} |")
            print(lines[-len(secs) - 3:] and "\n".join(lines[-len(secs) - 4:]), file=sys.stderr, flush=True)
    if skipped:
        lines.append("\nSkipped: " + "; ".join(sorted(skipped)))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=[n for n, _ in SMALLEST.values()],
                        help="TFLite table models (default: every family's smallest)")
    parser.add_argument("--keras-models", nargs="*", default=list(KERAS_MODELS), choices=list(KERAS_MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10, help="TFLite invokes per round")
    parser.add_argument("--steps", type=int, default=8, help="Keras calls per round at batch 1 (images at 32)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the Keras/PyTorch table")
    parser.add_argument("--skip-tflite", action="store_true")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--skip-int8", action="store_true", help="skip table 3 (int8 against the peers' float32)")
    parser.add_argument("--int8-models", nargs="*", default=list(INT8_MODELS))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--results-dir", default=None, help="where to write the result files (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if torch is not None:
        torch.set_num_threads(args.threads)
    stamp = benchmark.run_stamp("benchmarks/perf.py")
    print(stamp, flush=True)
    workdir = args.workdir or tempfile.mkdtemp(prefix="keras_vit_perf_")
    if not args.skip_tflite:
        table = tflite_table(args, workdir)
        print(table, flush=True)
        benchmark.write_result("perf_tflite", "Float32 TFLite against the GEMM peak", stamp, table, folder=args.results_dir)
    if not args.skip_keras:
        table = keras_table(args)
        print(table, flush=True)
        benchmark.write_result("perf_keras", "Keras throughput against the peers", stamp, table, folder=args.results_dir)
    if not args.skip_int8:
        # Table 3: the mobile export candidates against the fastest float32 TFLite (ours or kecam's).
        import int8_profile

        int8_profile.main(["--models", *args.int8_models, "--rounds", str(args.rounds), "--only", *INT8_VARIANTS,
                           "--workdir", workdir, "--result-name", "perf_int8"]
                          + (["--results-dir", args.results_dir] if args.results_dir else []))


if __name__ == "__main__":
    main()
