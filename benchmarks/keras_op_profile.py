"""Where a Keras step's time goes, by TensorFlow op type, for ours and the Keras peers.

For each model and task (inference or a training step: forward, backward, AdamW), this traces
one ``tf.function`` per implementation, warms it up, records ``--steps`` calls with
``tf.profiler`` and sums the executed kernels' durations by op type (``_MklNativeFusedMatMul``
is a MatMul with its bias and activation fused by oneDNN's graph rewriter, ``_MklMatMul`` one
without), with ``--threads`` intra-op threads and one inter-op thread as ``benchmarks/perf.py``.
The wall time per step is printed beside the sums.

``ours (unfused)`` is our model with ``keras_vit.layers.fusion.FUSE = False``: the graph before
token-wise Dense layers were computed as 2-D matmuls and BatchNormalization/SiLU in the forms
oneDNN fuses into the convolution (same weights; ``keras_vit/layers/fusion.py``).

Usage:
    python benchmarks/keras_op_profile.py [--models vit_tiny_patch16_224 mobilevit_xxs]
        [--tasks infer32 infer1 train32] [--steps 3] [--top 12] [--threads 2]

This is a script, not a test: timings depend on the machine and its load.
"""
import argparse
import collections
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peers.py

MODELS = ("vit_tiny_patch16_224", "mobilevit_xxs")  # each at its registry input size
def step_function(model, task, size):
    """A zero-argument callable running one inference or training step of ``model``."""
    import keras
    import tensorflow as tf

    batch = 1 if task == "infer1" else 32
    x = tf.random.uniform((batch, size, size, 3), 0, 255, seed=0)
    if task.startswith("infer"):
        fn = tf.function(lambda images: model(images, training=False), autograph=False)
        return lambda: fn(x)
    y = tf.random.uniform((batch,), 0, model.outputs[0].shape[-1], dtype=tf.int32, seed=1)
    optimizer = keras.optimizers.AdamW(1e-4)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(autograph=False)
    def train(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: train(x, y)


def implementations(name, size):
    """[(label, model, fuse)] for ours, ours unfused and the installed peers."""
    import keras

    import keras_vit
    from peers import kecam_model, keras_hub_model

    keras.utils.set_random_seed(0)
    ours = keras_vit.create_model(name, input_shape=(size, size, 3))
    found = [("ours", ours, True), ("ours (unfused)", ours, False)]
    for label, build in (("kecam", kecam_model), ("keras-hub", keras_hub_model)):
        try:
            found.append((label, build(name, size), True))
        except ImportError as error:
            print(f"note: {label} skipped for {name}: {error}", file=sys.stderr)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--tasks", nargs="+", default=["infer32", "infer1", "train32"],
                        choices=["infer32", "infer1", "train32"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)  # as benchmarks/perf.py
    import keras_vit
    from keras_vit.layers.fusion import executed_kernels, fused

    print(f"# Keras op profile: {time.strftime('%Y-%m-%d %H:%M')}, TensorFlow {tf.__version__}, "
          f"{args.threads} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for name in args.models:
        size = keras_vit.get_model_spec(name).input_size[0]
        impls = implementations(name, size)
        for task in args.tasks:
            rows, walls = {}, {}
            for label, model, fuse in impls:
                run = step_function(model, task, size)
                with fused(fuse):  # read when the step is traced: its first call
                    run()
                run()
                start = time.perf_counter()
                for _ in range(args.steps):
                    run()
                walls[label] = (time.perf_counter() - start) / args.steps * 1000
                rows[label] = collections.Counter(
                    {op: ms / args.steps for op, ms in executed_kernels(run, args.steps)[1].items()})
            labels = list(rows)
            ops = collections.Counter()
            for totals in rows.values():
                ops.update(totals)
            top = [op for op, _ in ops.most_common(args.top)]
            print(f"\n## {name} {size}x{size}, {task} (ms per step, summed kernel time by op type)\n")
            print("| op type | " + " | ".join(labels) + " |")
            print("|---" * (len(labels) + 1) + "|")
            for op in top:
                print(f"| {op} | " + " | ".join(f"{rows[label].get(op, 0.0):.1f}" for label in labels) + " |")
            print("| other ops | " + " | ".join(
                f"{sum(v for k, v in rows[label].items() if k not in top):.1f}" for label in labels) + " |")
            print("| **all kernels** | " + " | ".join(f"{sum(rows[label].values()):.1f}" for label in labels) + " |")
            print("| wall time per step | " + " | ".join(f"{walls[label]:.1f}" for label in labels) + " |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
