"""Graph forms that TensorFlow's CPU kernels fuse, with the same weights and arithmetic.

On x86 CPUs TensorFlow rewrites inference graphs with oneDNN: a 2-D ``MatMul`` followed by its
bias and GELU/ReLU becomes one kernel, and so does ``Conv2D`` followed by an inference-mode
``FusedBatchNormV3`` and ``x * sigmoid(x)``. Keras' own layers produce graphs that miss both
patterns: ``Dense`` on ``(B, N, C)`` puts a reshape between the MatMul and the bias add, and
``BatchNormalization`` and ``"swish"`` compute with separate Mul/Add/Swish kernels. The helpers
here emit the fusable forms:

* :func:`tokenwise`: a token-wise layer computed on ``(-1, C)`` matrices;
* :class:`BatchNormalization`: Keras' layer (same variables, same training behaviour) that, at
  inference on the TensorFlow backend, calls ``FusedBatchNormV3``;
* :class:`SiLU`: ``x * sigmoid(x)`` at inference, ``keras.ops.silu`` (its own gradient) in training.

Outputs equal Keras' up to float32 rounding (max abs diff ~1e-6 on logits). Training steps
(``training=True``) and other backends take Keras' path unchanged. ``with fused(False):``
(``FUSE = False``) restores the earlier graphs (read when a model is traced, not when it is
built): ``benchmarks/perf.py`` times both, :func:`executed_kernels` shows which kernels ran, and
the documentation's CPU-performance decision record says what was measured.
"""
import collections
import contextlib
import glob
import os
import shutil
import tempfile

import keras
from keras import layers, ops

#: Emit the fusable graph forms (see the module docstring). Only benchmarks switch it off.
FUSE = True


@contextlib.contextmanager
def fused(enabled=True):
    """Trace models inside the block with the fusable forms on (``True``) or off, then restore ``FUSE``.

    The flag is read when a model is traced, so call (or trace) the function inside the block.

    Example:
        >>> with fused(False):
        ...     earlier = tf.function(lambda x: model(x, training=False))(images)
    """
    global FUSE
    previous, FUSE = FUSE, enabled
    try:
        yield
    finally:
        FUSE = previous


#: Profiler events of the executor itself, not kernels.
_NOT_KERNELS = {"StartRegion", "StopRegion", "Record", "Process", "ReadVariableOp", "AssignVariableOp",
                "NoOp", "Identity", "_Arg", "_Retval", "Const"}


def executed_kernels(run, steps=1):
    """The kernels TensorFlow ran for ``steps`` calls of ``run()``, from a ``tf.profiler`` trace.

    Returns ``(calls, milliseconds)``: two ``Counter``s by op type (``_MklNativeFusedMatMul`` is
    a MatMul with its bias and activation fused), summed over the steps. Only the executor's
    ``tf_Compute`` threads count: the intra-op pool's lines repeat the same kernels' names.
    """
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="keras_vit_kernels_")
    try:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            run()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
            space.ParseFromString(f.read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    calls, milliseconds = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op = name.rsplit(":", 1)[1] if ":" in name and not name.startswith("__") else None
                if op and op not in _NOT_KERNELS:
                    calls[op] += 1
                    milliseconds[op] += event.duration_ps / 1e9
    return calls, milliseconds


def _tensorflow():
    return FUSE and keras.backend.backend() == "tensorflow"


def tokenwise(fn, x, training=None):
    """``fn(x)`` for an ``fn`` that acts on the last axis only, computed on ``x`` as ``(-1, C)``.

    Other backends than TensorFlow, training steps (``training=True``), inputs of rank 2 and
    inputs with an unknown non-batch dimension are passed to ``fn`` unchanged: the fusion is an
    inference rewrite for oneDNN, and training graphs stay exactly Keras' (the backward pass
    gains nothing from it; on MobileViT-XXS the reshapes cost ~7% of a training step).

    Example:
        >>> y = tokenwise(dense, tokens)  # (B, N, C) -> (B, N, units), one 2-D MatMul
    """
    shape = tuple(x.shape)
    if not _tensorflow() or training or len(shape) <= 2 or any(d is None for d in shape[1:]):
        return fn(x)
    y = fn(ops.reshape(x, (-1, shape[-1])))
    return ops.reshape(y, (-1,) + shape[1:-1] + (y.shape[-1],))


@keras.saving.register_keras_serializable(package="keras_vit")
class BatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose inference on TensorFlow is ``FusedBatchNormV3``.

    Same arguments, variables and checkpoints as Keras' layer; training steps (``training=True``
    on a trainable layer), masks, renorm, synchronized BN, non-float32 inputs, other axes than
    the last of a 4-D input, and other backends use Keras' computation unchanged.

    Example:
        >>> x = BatchNormalization(epsilon=1e-5, momentum=0.9, name="stem_bn")(x)
    """

    def call(self, inputs, training=None, mask=None):
        fusable = (
            _tensorflow() and not (training and self.trainable) and mask is None and not self.renorm
            and not getattr(self, "synchronized", False) and len(inputs.shape) == 4
            and self.axis in (-1, 3) and inputs.dtype == "float32"
        )
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else ops.ones((channels,), "float32")
        beta = self.beta if self.center else ops.zeros((channels,), "float32")
        # The raw op: tf.nn.fused_batch_norm raises epsilon to at least 1.001e-5 (a cuDNN limit),
        # which would change MobileViT's 1e-5.
        outputs = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=ops.convert_to_tensor(gamma), offset=ops.convert_to_tensor(beta),
            mean=ops.convert_to_tensor(self.moving_mean), variance=ops.convert_to_tensor(self.moving_variance),
            epsilon=float(self.epsilon), data_format="NHWC", is_training=False,
        )[0]
        return outputs


@keras.saving.register_keras_serializable(package="keras_vit")
class SiLU(layers.Layer):
    """SiLU (swish), ``x * sigmoid(x)``: the form oneDNN fuses into the convolution before it.

    Training steps use ``keras.ops.silu`` (same values, a cheaper gradient).

    Example:
        >>> x = SiLU(name="stem_act")(x)
    """

    def call(self, x, training=None):
        if training or not _tensorflow():
            return ops.silu(x)
        return x * ops.sigmoid(x)

    def compute_output_shape(self, input_shape):
        return input_shape



def _foldable_layer_norm(layer, x, training):
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    return (_tensorflow() and not training and not layer.rms_scaling and x.dtype == "float32"
            and layer.compute_dtype == "float32" and [a % len(x.shape) for a in axis] == [len(x.shape) - 1])


def _folded_layer_norm(layer, x):
    import tensorflow as tf

    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    inv = tf.math.rsqrt(variance + layer.epsilon)
    y = x * inv + (-mean * inv)
    if layer.scale:
        y = y * ops.convert_to_tensor(layer.gamma)
    if layer.center:
        y = y + ops.convert_to_tensor(layer.beta)
    return y


def layer_norm(layer, x, training=None):
    """``layer(x)`` for a built ``keras.layers.LayerNormalization``, at inference on TensorFlow in
    the form TFLite's converter folds into the next matrix multiply.

    Keras computes ``x * (rsqrt(var + eps) * gamma) + (beta - mean * rsqrt(var + eps) * gamma)``:
    the scale mixes per-token statistics with per-channel weights, so five full-size element-wise
    ops remain in the TFLite file (three MUL, two ADD). Here the statistics are applied first,
    ``x * r + (-mean * r)`` with ``r`` per token (two full-size ops), then ``* gamma + beta``,
    which the converter folds into the FULLY_CONNECTED or CONV_2D that follows (litert-torch's
    files have the same form). On XNNPACK, one thread, LayerNorm + qkv at MobileViT-XXS's first
    block shape (1x32x32x64) took 274 us against 334 us (issue 25). Same values up to float32
    rounding; training steps, other backends, non-float32 inputs, RMS scaling and axes other
    than the last take Keras' path unchanged.

    Example:
        >>> y = layer_norm(self.norm1, x, training)  # inside a block's call()
    """
    if not _foldable_layer_norm(layer, x, training):
        return layer(x)
    return _folded_layer_norm(layer, x)


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerNormalization(layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` whose inference on TensorFlow is :func:`layer_norm`'s form.

    Same arguments, variables and checkpoints as Keras' layer; training steps use Keras' path.

    Example:
        >>> x = LayerNormalization(epsilon=1e-5, name="stages_2_1_norm")(x)
    """

    def call(self, inputs, training=None):
        if not _foldable_layer_norm(self, inputs, training):
            return super().call(inputs)
        return _folded_layer_norm(self, inputs)
