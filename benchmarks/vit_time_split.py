"""Where ViT-Ti/16's float32 TFLite time goes, against the GEMM peak measured in the same run.

Issue 15, goal 2 asks for ViT-Ti float32 at >= 80% of ``FLOPs / GEMM peak``. This script
takes the model apart instead of guessing: it exports our ``vit_tiny_patch16_224`` (random
weights) and variants of it with one kind of work removed (the layers are patched before the
model is built, so every variant has exactly the same weights and linear layers):

- ``no attention core``: attention returns its values ``v`` (no QK^T, softmax, AV);
- ``no head split``: also no head split/merge reshapes and transposes (``proj(v)``);
- ``no GELU``: the MLP's activation is the identity;
- ``no LayerNorm``: every LayerNormalization is the identity;
- ``linear layers only``: all of the above: patch embedding, qkv/proj/MLP FULLY_CONNECTEDs,
  residual adds and the head.

Each file, and the GEMM micro-benchmarks of ``perf.py``, is timed interleaved in one process
(1 thread, XNNPACK, every interpreter invoked in turn, ``--rounds`` rounds of ``--runs``).
The table shows each variant's median, the time the removed work took (full minus variant)
as a share of the full model, and ``efficiency = (FLOPs / GEMM peak) / latency`` computed
from the FLOPs of each converted graph.

    python benchmarks/vit_time_split.py [--rounds 7] [--runs 20] [--threads 1]

The machine may be shared: read the shares and ratios, not the times.
"""
import argparse
import contextlib
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perf  # noqa: E402  (imports torch before TensorFlow when it is installed)

VARIANTS = ("full", "no attention core", "no head split", "no GELU", "no LayerNorm", "linear layers only")
REMOVES = {"no attention core": {"core"}, "no head split": {"core", "split"}, "no GELU": {"gelu"},
           "no LayerNorm": {"norm"}, "linear layers only": {"core", "split", "gelu", "norm"}}


@contextlib.contextmanager
def patched(removed):
    """Patch keras_vit's attention/MLP and Keras' LayerNormalization to drop ``removed`` work."""
    import keras

    from keras_vit.layers import attention, mlp

    saved = [(attention.Attention, "attend", attention.Attention.attend),
             (attention.Attention, "call", attention.Attention.call),
             (mlp.MLP, "call", mlp.MLP.call),
             (keras.layers.LayerNormalization, "call", keras.layers.LayerNormalization.call)]
    if "core" in removed:
        attention.Attention.attend = lambda self, q, k, v, **kw: (v, v)
    if "split" in removed:
        def call(self, x, training=None, **kw):
            _, _, v = self.project(x, training=training)
            return self.proj(v)
        attention.Attention.call = call
    if "gelu" in removed:
        mlp.MLP.call = lambda self, x, training=None: self.fc2(self.fc1(x))
    if "norm" in removed:
        keras.layers.LayerNormalization.call = lambda self, x, *a, **kw: x
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    import keras

    import keras_vit
    from keras_vit.tflite import export_model
    from keras_vit.tflite.presets import time_interleaved

    workdir = args.workdir or tempfile.mkdtemp(prefix="vit_time_split_")
    paths, flops = {}, {}
    for m, k, n in perf.GEMM_SHAPES:
        label = f"GEMM {m}x{k}x{n}"
        paths[label], flops[label] = perf.gemm_tflite(workdir, m, k, n)
    for variant in VARIANTS:
        keras.utils.set_random_seed(0)
        with patched(REMOVES.get(variant, set())):
            model = keras_vit.create_model("vit_tiny_patch16_224")
            path = os.path.join(workdir, variant.replace(" ", "_") + ".tflite")
            export_model(model, path, verify=False, overwrite=True)
        paths[variant], flops[variant] = path, 2 * perf.count_macs(path)
        print(f"  exported {variant}", file=sys.stderr, flush=True)
    rounds = time_interleaved(paths, threads=args.threads, rounds=args.rounds, runs=args.runs)
    med = {k: statistics.median(v) for k, v in rounds.items()}
    gemm = [k for k in paths if k.startswith("GEMM")]
    rates = {k: flops[k] / (med[k] * 1e-3) for k in gemm}
    peak = max(rates.values())
    print(f"\n{perf.header(args)}")
    print(f"\n## ViT-Ti/16 224 float32 TFLite, {args.threads} thread(s), XNNPACK, median of "
          f"{args.rounds} interleaved rounds of {args.runs} invokes\n")
    print("GEMM micro-benchmark: " + ", ".join(f"{k[5:]} {r / 1e9:.0f} GFLOP/s" for k, r in rates.items())
          + f"; peak {peak / 1e9:.0f} GFLOP/s\n")
    print("| variant | GFLOPs | latency ms (min-max) | removed work, ms | share of full | efficiency |")
    print("|---|---|---|---|---|---|")
    full = med["full"]
    for variant in VARIANTS:
        ms = med[variant]
        removed = "-" if variant == "full" else f"{full - ms:.2f}"
        share = "-" if variant == "full" else f"{100 * (full - ms) / full:.0f}%"
        print(f"| {variant} | {flops[variant] / 1e9:.3f} | {ms:.2f} ({min(rounds[variant]):.2f}-"
              f"{max(rounds[variant]):.2f}) | {removed} | {share} | "
              f"{100 * flops[variant] / peak * 1e3 / ms:.0f}% |")
    print("\nefficiency = (GFLOPs of that graph / GEMM peak) / latency. 'share of full' is the full "
          "model's time minus the variant's, over the full model's.")


if __name__ == "__main__":
    main()
