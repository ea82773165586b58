"""Keras training and inference throughput, float32 against ``mixed_bfloat16``, same process.

On CPUs with bfloat16 units (AMX, AVX512-BF16) oneDNN runs bfloat16 matrix multiplies and
convolutions on them; ``mixed_precision: "auto"`` in a recipe picks ``mixed_bfloat16`` there
(``training/distribute.py``). This script measures what that buys: for ViT-Ti/16, MobileViT-XXS
and Swin-T (random weights, native input size, batch 32), it builds each model twice, once under
the ``float32`` policy and once under ``mixed_bfloat16``, and times with the shared harness
(``keras_vit.utils.benchmark.time_interleaved``):

* inference: ``predict_on_batch`` call by call, rotating order;
* training: ``train_on_batch`` (forward, backward, AdamW), ``per_call=False`` (a block of steps
  of one policy, then the other: training steps share oneDNN's thread pool badly when
  alternated one by one), rotating order each round;

and writes ``docs/benchmarks/bf16.md`` with images/s and the speed-up (float32 time /
bfloat16 time, median over rounds of the per-round ratio). On a CPU without bf16 units
bfloat16 is emulated and slower: the table's run stamp says which CPU it ran on.

Usage::

    python benchmarks/bf16.py [--models vit_tiny_patch16_224 mobilevit_xxs swin_tiny_patch4_window7_224]
        [--batch 32] [--rounds 3] [--train-steps 3] [--infer-calls 5] [--threads 0]
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

MODELS = ("vit_tiny_patch16_224", "mobilevit_xxs", "swin_tiny_patch4_window7_224")
#: Fewer training steps per round for the slow ones (Swin-T: ~4.5 GFLOPs per image).
FEWER_STEPS = {"swin_tiny_patch4_window7_224": 1}
POLICIES = ("float32", "mixed_bfloat16")


def runners(name, policy, batch):
    """``(infer, train_step)`` for ``name`` built under ``policy``."""
    import keras

    import keras_vit

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(name)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
    y = rng.integers(0, int(model.outputs[0].shape[-1]), batch)
    return (lambda: model.predict_on_batch(x)), (lambda: model.train_on_batch(x, y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=3, help="training steps per policy per round")
    parser.add_argument("--infer-calls", type=int, default=5, help="inference batches per policy per round")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: its default)")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from keras_vit.utils import benchmark
    from training.distribute import default_mixed_precision_policy

    stamp = benchmark.run_stamp("benchmarks/bf16.py")
    auto = default_mixed_precision_policy(None) or "float32"
    rows = []
    for name in args.models:
        built = {policy: runners(name, policy, args.batch) for policy in POLICIES}
        steps = FEWER_STEPS.get(name, args.train_steps)
        infer = benchmark.time_interleaved({p: built[p][0] for p in POLICIES}, rounds=args.rounds,
                                           calls=args.infer_calls, warmup=1)
        train = benchmark.time_interleaved({p: built[p][1] for p in POLICIES}, rounds=args.rounds,
                                           calls=steps, warmup=1, per_call=False)
        for kind, result, calls in (("inference", infer, args.infer_calls), ("training", train, steps)):
            ips = {p: [args.batch / t for t in result[p]] for p in POLICIES}
            ratios = sorted(a / b for a, b in zip(result["float32"], result["mixed_bfloat16"]))
            speedup = ratios[len(ratios) // 2]
            rows.append((name, kind, f"{benchmark.summarize(ips['float32'])[0]:.1f}",
                         f"{benchmark.summarize(ips['mixed_bfloat16'])[0]:.1f}", f"{speedup:.2f}x",
                         " / ".join(f"{r:.2f}" for r in (a / b for a, b in zip(result["float32"], result["mixed_bfloat16"]))),
                         f"{args.rounds} x {calls}"))
            print(f"  {name} {kind}: bf16 speed-up {speedup:.2f}x", file=sys.stderr, flush=True)
        del built
        import keras

        keras.backend.clear_session()
    body = (
        f"Keras on TensorFlow, batch {args.batch}, random weights, native input size, "
        f"{'TensorFlow default' if not args.threads else args.threads} intra-op threads, `jit_compile` off. "
        f"Both policies' models are built in this process; `mixed_precision: \"auto\"` picks `{auto}` on this CPU. "
        "Inference: `predict_on_batch`, interleaved call by call. Training: `train_on_batch` (AdamW), blocks of "
        "steps per policy (`per_call=False`), rotating order. images/s: median over rounds; speed-up: median over "
        "rounds of float32 time / bfloat16 time in the same round (per-round values listed).\n\n"
        + benchmark.markdown_table(("model", "work", "float32 images/s", "mixed_bfloat16 images/s", "speed-up",
                                    "per round", "rounds x calls"), rows))
    path = benchmark.write_result("bf16", "float32 against mixed_bfloat16 (Keras, CPU)", stamp, body,
                                  folder=args.results_dir)
    print(open(path, encoding="utf-8").read())


if __name__ == "__main__":
    main()
