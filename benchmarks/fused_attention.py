"""Fused attention (``keras.ops.dot_product_attention``) against our explicit attention, in Keras.

Issue 15 asks whether Keras' fused attention makes training or inference faster. This builds
ViT-Ti/16 twice with the same weights: as keras_vit builds it (``Attention.attend``: scaled
``matmul``, ``softmax``, ``matmul`` on ``(B, heads, N, D)``), and with every block's attention
computed by ``keras.ops.dot_product_attention`` on ``(B, N, heads, D)`` (no head transposes).
It checks that both give the same logits, then times inference (batch 1 and 32) and a training
step (batch 32: forward, backward, AdamW), each as one ``tf.function``, the two graphs
alternating call by call, at ``--threads`` threads; median over rounds and ours/fused.

    python benchmarks/fused_attention.py [--rounds 5] [--calls 5] [--threads 2]

The machine may be shared: read the ratios, not the times.
"""
import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fused_call(self, x, attention_bias=None, attention_mask=None, training=None,
               return_attention_scores=False):
    """``Attention.call`` through ``keras.ops.dot_product_attention`` (plain attention only)."""
    from keras import ops

    if (attention_bias is not None or attention_mask is not None or self.position_bias is not None
            or return_attention_scores):
        raise NotImplementedError("the fused variant covers plain attention only")
    q, k, v = self.project(x, training=training)
    n, m = q.shape[1], k.shape[1]
    heads = lambda t, length: ops.reshape(t, (-1, length, self.num_heads, self.head_dim))  # noqa: E731
    out = ops.dot_product_attention(heads(q, n), heads(k, m), heads(v, m), scale=float(self.scale))
    out = ops.reshape(out, (-1, n, self.num_heads * self.head_dim))
    return self.proj_drop(self.proj(out), training=training)


def build_pair(name, size, seed=0):
    import keras

    import keras_vit
    from keras_vit.layers.attention import Attention

    keras.utils.set_random_seed(seed)
    ours = keras_vit.create_model(name, input_shape=(size, size, 3))
    fused = keras_vit.create_model(name, input_shape=(size, size, 3))
    fused.set_weights(ours.get_weights())
    # Every attention layer of the second model computes through the fused op.
    for layer in fused._flatten_layers():
        if isinstance(layer, Attention):
            layer.call = fused_call.__get__(layer)
    return ours, fused


def step_functions(model, batch, size):
    import keras
    import numpy as np
    import tensorflow as tf

    optimizer = keras.optimizers.AdamW(1e-4)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    x32 = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    x1 = x32[:1]
    y32 = tf.one_hot(rng.integers(0, 1000, batch), 1000)

    @tf.function
    def infer(x):
        return model(x, training=False)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return {
        "inference, batch 1": (lambda: infer(x1).numpy(), 1),
        f"inference, batch {batch}": (lambda: infer(x32).numpy(), batch),
        f"training step, batch {batch}": (lambda: train_step(x32, y32).numpy(), batch),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_tiny_patch16_224")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    load_before = os.getloadavg()[0]
    ours, fused = build_pair(args.model, args.size)
    x = np.random.default_rng(1).uniform(0, 255, (2, args.size, args.size, 3)).astype("float32")
    a = ours(x, training=False).numpy()
    b = fused(x, training=False).numpy()
    diff = float(np.max(np.abs(a - b)))
    if diff > 1e-3 * float(np.ptp(a)):
        raise SystemExit(f"the fused graph disagrees with ours: max |diff| {diff:.3g}")
    runs = {"keras_vit": step_functions(ours, args.batch, args.size),
            "fused": step_functions(fused, args.batch, args.size)}
    for impl in runs.values():  # trace and warm up
        for fn, _ in impl.values():
            fn(), fn()
    times = {(impl, task): [] for impl in runs for task in runs[impl]}
    for _ in range(args.rounds):
        per_call = {key: [] for key in times}
        for _ in range(args.calls):
            for task in runs["keras_vit"]:
                for impl in runs:
                    fn, _ = runs[impl][task]
                    start = time.perf_counter()
                    fn()
                    per_call[(impl, task)].append(time.perf_counter() - start)
        for key, values in per_call.items():
            times[key].append(statistics.median(values))
    cpu = platform.processor() or platform.machine()
    print(f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"TF {tf.__version__}, Keras {keras.__version__}; {args.model} {args.size}x{args.size}, "
          f"{args.threads} threads, {args.rounds} rounds x {args.calls} calls, alternating call by call; "
          f"max |logit diff| {diff:.2e}; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| task | keras_vit images/s | fused images/s | keras_vit / fused time |")
    print("|---|---|---|---|")
    for task, (_, images) in runs["keras_vit"].items():
        ours_s = statistics.median(times[("keras_vit", task)])
        fused_s = statistics.median(times[("fused", task)])
        print(f"| {task} | {images / ours_s:.1f} | {images / fused_s:.1f} | {ours_s / fused_s:.2f} |")


if __name__ == "__main__":
    main()
