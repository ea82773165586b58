"""Swin-T as keras_vit builds it against the straightforward graph: float32 TFLite, builtin
ops, XNNPACK, 1 thread, timed interleaved in one process (random weights, 224x224).

    python benchmarks/swin_graph.py [--rounds 5] [--runs 20] [--no-reference] [--keep DIR]

keras-cv-attention-models has no Swin v1, so issue 12 compares our Swin with "our own
straightforward graph": the same model, sharing every weight, written the way timm and the
keras-io example write it:

* windows cut and put back with 6-D reshapes and transposes
  (``(B, H/wh, wh, W/ww, ww, C)`` -> ``(0, 1, 3, 2, 4, 5)``), and patch merging the same way;
* the cyclic shift with ``keras.ops.roll`` (``tf.roll``);
* the relative position index computed from ``arange``/``meshgrid`` and gathered from the
  table at call time;
* the shift mask computed in the graph from the region ids of the shifted map.

keras_vit's graph instead shifts by slicing and concatenating, cuts windows with 4-D
transposes, merges patches with a 5-D transpose and keeps the mask as a NumPy constant.

The straightforward model is built by the library's own builder with its Swin block and patch
merging classes swapped for the subclasses below (for the duration of the build only; the
library is not changed), then every variable is copied from ours by path. The script checks
the two Keras models agree, converts both with ``keras_vit.tflite.export_model`` (builtin ops
only, verified against Keras), compares the two TFLite files with each other, lists the ops
each file runs outside XNNPACK and its delegate partitions, and times them alternating call
by call (``peers.time_alternating``).

For reference only, it also times keras-cv-attention-models' ``SwinTransformerV2Tiny_window8``
(Swin v2-T, 256x256, cosine attention and a log-spaced continuous position bias: a different
model, so no ratio), built on kecam's Keras 3 backend (``KECAM_BACKEND=keras_core``).
"""
import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peers.py

from peers import import_kecam, time_alternating  # noqa: E402

KERAS_TOLERANCE = 1e-4  # max |diff| of logits between the two Keras graphs
REFERENCE = "kecam Swin v2-T w8 (reference)"


def straightforward_classes():
    """Swin block, relative position bias and patch merging written the straightforward way."""
    from keras import ops

    from keras_vit.layers import RelativePositionBias
    from keras_vit.models.swin import model as swin

    def window_partition(x, wh, ww):
        """``(B, H, W, C)`` -> ``(B * windows, wh * ww, C)`` by a 6-D transpose (timm)."""
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(x, (-1, h // wh, wh, w // ww, ww, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, wh * ww, c))

    def window_reverse(windows, wh, ww, h, w):
        c = windows.shape[-1]
        x = ops.reshape(windows, (-1, h // wh, w // ww, wh, ww, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h, w, c))

    class StraightforwardRelativePositionBias(RelativePositionBias):
        """The index computed in the graph and the table gathered at call time."""

        def bias(self):
            wh, ww = self.window_size
            rows, cols = ops.meshgrid(ops.arange(wh), ops.arange(ww), indexing="ij")
            coords = ops.stack([ops.reshape(rows, (-1,)), ops.reshape(cols, (-1,))])  # (2, N)
            rel = coords[:, :, None] - coords[:, None, :]
            index = (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)
            n = wh * ww
            table = ops.take(self.relative_position_bias_table, ops.reshape(index, (-1,)), axis=0)
            return ops.transpose(ops.reshape(table, (n, n, self.num_heads)), (2, 0, 1))

    class StraightforwardSwinBlock(swin.SwinTransformerBlock):
        """Roll for the shift, 6-D window partition/reverse, the mask computed in the graph."""

        position_bias_class = StraightforwardRelativePositionBias

        def build(self, input_shape):
            super().build(input_shape)
            self.mask = None  # computed in call instead

        def _shift(self, x, sign):
            sh, sw = self.shift_size
            if not (sh or sw):
                return x
            return ops.roll(x, shift=(-sign * sh, -sign * sw), axis=(1, 2))

        def partition(self, x):
            return window_partition(x, *self.window_size)

        def merge(self, x):
            return window_reverse(x, *self.window_size, *self.padded_size)

        def graph_mask(self):
            """timm's ``attn_mask``: region ids of the shifted, padded map, compared per window."""
            (h, w), (wh, ww), (sh, sw) = self.padded_size, self.window_size, self.shift_size
            row = ops.cast(ops.arange(h) >= h - wh, "int32") + ops.cast(ops.arange(h) >= h - sh, "int32")
            col = ops.cast(ops.arange(w) >= w - ww, "int32") + ops.cast(ops.arange(w) >= w - sw, "int32")
            regions = ops.cast(row[:, None] * 3 + col[None, :], "float32")
            windows = ops.reshape(window_partition(ops.reshape(regions, (1, h, w, 1)), wh, ww), (-1, wh * ww))
            diff = windows[:, None, :] - windows[:, :, None]
            return ops.where(ops.not_equal(diff, 0.0), -100.0, 0.0)

        def _attention(self, x, training, return_attention_scores, **attention_kwargs):
            if any(self.shift_size):
                attention_kwargs.setdefault("attention_mask", self.graph_mask())
            return super()._attention(x, training, return_attention_scores, **attention_kwargs)

    class StraightforwardPatchMerging(swin.PatchMerging):
        """timm's ``reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5)``: a 6-D transpose."""

        def call(self, x):
            h, w, c = x.shape[1], x.shape[2], x.shape[3]
            if h % 2 or w % 2:
                x = ops.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
                h, w = h + h % 2, w + w % 2
            x = ops.reshape(x, (-1, h // 2, 2, w // 2, 2, c))
            x = ops.transpose(x, (0, 1, 3, 4, 2, 5))
            x = ops.reshape(x, (-1, h // 2, w // 2, 4 * c))
            return self.reduction(self.norm(x))

    return StraightforwardSwinBlock, StraightforwardPatchMerging


def build_straightforward(name, **kwargs):
    """``create_model(name, **kwargs)`` with the straightforward block and patch merging swapped in."""
    import keras_vit
    from keras_vit.models.swin import model as swin

    block, merging = straightforward_classes()
    saved = swin.SwinTransformerBlock, swin.PatchMerging
    swin.SwinTransformerBlock, swin.PatchMerging = block, merging
    try:
        model = keras_vit.create_model(name, **kwargs)
    finally:
        swin.SwinTransformerBlock, swin.PatchMerging = saved
    assert any(isinstance(layer, block) for layer in model.layers), "the builder did not pick up the swapped block"
    return model


def copy_weights(source, target):
    """Assign every variable of ``source`` to the variable of ``target`` at the same path."""
    src = {v.path: v for v in source.weights}
    dst = {v.path: v for v in target.weights}
    if src.keys() != dst.keys():
        raise ValueError(f"variables differ: only ours {sorted(src.keys() - dst.keys())[:5]}, "
                         f"only straightforward {sorted(dst.keys() - src.keys())[:5]}")
    for path, variable in dst.items():
        variable.assign(src[path])
    return len(dst)


def transpose_ranks(runner):
    """``"4-D x48, 6-D x23"``: the TRANSPOSE nodes of a file by the rank they permute."""
    shapes = {t["index"]: t["shape"] for t in runner.interpreter.get_tensor_details()}
    counts = {}
    for node in runner.interpreter._get_ops_details():  # the public API has no node list
        if node["op_name"] == "TRANSPOSE":
            rank = len(shapes[node["inputs"][0]])
            counts[rank] = counts.get(rank, 0) + 1
    return ", ".join(f"{rank}-D x{count}" for rank, count in sorted(counts.items()))


def kecam_swin_v2_tiny():
    """keras-cv-attention-models' SwinTransformerV2Tiny_window8 (256x256) on raw pixels, or None."""
    import keras

    try:
        import_kecam()
        from keras_cv_attention_models import swin_transformer_v2
    except ImportError:
        print("kecam Swin v2 reference skipped: pip install keras-cv-attention-models", file=sys.stderr)
        return None
    inner = swin_transformer_v2.SwinTransformerV2Tiny_window8(pretrained=None, classifier_activation=None)
    inputs = keras.Input(inner.input_shape[1:])
    return keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255.0)(inputs)), name="kecam_swin_v2_tiny_w8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="swin_tiny_patch4_window7_224")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true", help="leave out kecam's Swin v2-T (a different model)")
    parser.add_argument("--keep", help="folder to keep the .tflite files in (default: a temporary one)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import ai_edge_litert
    import keras_vit
    from keras_vit.tflite import ConversionError, TFLiteRunner, export_model, inspect_ops

    load_before = os.getloadavg()
    keras.utils.set_random_seed(0)
    ours = keras_vit.create_model(args.model)
    plain = build_straightforward(args.model)
    copied = copy_weights(ours, plain)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2,) + tuple(ours.input_shape[1:])).astype(np.float32)
    logits_ours = keras.ops.convert_to_numpy(ours(images, training=False))
    logits_plain = keras.ops.convert_to_numpy(plain(images, training=False))
    keras_diff = float(np.max(np.abs(logits_ours - logits_plain)))
    print(f"Keras: {copied} variables shared; max |ours - straightforward| = {keras_diff:.2e} "
          f"(logits range {np.ptp(logits_ours):.2f})")
    assert keras_diff <= KERAS_TOLERANCE, f"the two graphs disagree: {keras_diff}"

    models = {"keras_vit": ours, "straightforward": plain}
    if not args.no_reference:
        keras.utils.set_random_seed(0)
        reference = kecam_swin_v2_tiny()
        if reference is not None:
            models[REFERENCE] = reference
    folder = args.keep or tempfile.mkdtemp(prefix="swin_graph_")
    os.makedirs(folder, exist_ok=True)
    runners, rows = {}, {}
    for label, model in models.items():
        path = os.path.join(folder, f"{label.replace(' ', '_')}.tflite")
        try:
            result = export_model(model, path, quantize="none", num_verify=2, overwrite=True)
        except ConversionError as exc:
            print(f"{label}: does not convert builtin-only: {exc}", file=sys.stderr)
            continue
        if not result.passed:
            print(f"{label}: TFLite does not match Keras: {result.verification.summary()}", file=sys.stderr)
            continue
        runner = TFLiteRunner(path, num_threads=args.threads)
        report = runner.op_report()
        ops, _ = inspect_ops(path)
        runners[label] = runner
        rows[label] = (report, model.count_params(), "x".join(map(str, runner.input_shape[1:3])), transpose_ranks(runner))
        print(f"{label}: {report.summary()}")
        print(f"  ops: {', '.join(f'{k} x{v}' for k, v in ops.items())}")

    if "keras_vit" in runners and "straightforward" in runners:
        tflite_diff = float(np.max(np.abs(runners["keras_vit"](images) - runners["straightforward"](images))))
        print(f"TFLite: max |ours - straightforward| = {tflite_diff:.2e}")
        assert tflite_diff <= KERAS_TOLERANCE, f"the two TFLite files disagree: {tflite_diff}"

    inputs = {label: rng.uniform(0, 255, runner.input_shape).astype(np.float32) for label, runner in runners.items()}
    per_round = time_alternating(runners, inputs, args.rounds, args.runs)
    load_after = os.getloadavg()
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, TF {tf.__version__}, Keras {keras.__version__}, "
          f"LiteRT {getattr(ai_edge_litert, '__version__', '?')}; {args.model}, float32, XNNPACK, "
          f"{args.threads} thread(s), {args.rounds} rounds x {args.runs} calls each, alternating call by call, "
          f"after 2 warm-up; load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print()
    print("| graph | params | input | median ms | min ms | round medians ms | TRANSPOSE ranks | partitions "
          "| ops outside XNNPACK | / keras_vit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ref = np.median(np.concatenate(per_round["keras_vit"])) if "keras_vit" in per_round else None
    for label in runners:
        report, params, size, ranks = rows[label]
        times = np.concatenate(per_round[label])
        rounds = ", ".join(f"{np.median(t):.1f}" for t in per_round[label])
        outside = "none" if report.fully_delegated else ", ".join(f"{k} x{v}" for k, v in report.outside.items())
        ratio = "- (another model)" if label == REFERENCE else (f"{np.median(times) / ref:.2f}" if ref else "-")
        print(f"| {label} | {params:,} | {size} | {np.median(times):.1f} | {times.min():.1f} | {rounds} | {ranks} | "
              f"{report.num_partitions} | {outside} | {ratio} |")


if __name__ == "__main__":
    main()
