"""Convolutions padded as PyTorch pads them, for families converted from PyTorch checkpoints."""
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_vit")
class Subsample2D(layers.Layer):
    """Every ``stride``-th row and column, starting at the first: ``x[:, ::s, ::s, :]``.

    A 1 x 1 convolution with stride ``s`` reads exactly these pixels, so ``torch_conv`` builds it
    as this layer followed by a stride-1 convolution. The reason is a bug, not speed: the
    gradient of a strided 1 x 1 ``Conv2D`` in TensorFlow 2.21's oneDNN kernels (on by default
    on x86) writes outside its buffers. ``fit`` then corrupts the heap and the process aborts
    (``corrupted size vs. prev_size``, ``munmap_chunk(): invalid pointer``) or silently goes
    on with damaged memory. Slicing, then a stride-1 convolution, gives the same values and
    gradients without that kernel; TFLite runs it as ``STRIDED_SLICE`` and ``CONV_2D``.
    """

    def __init__(self, stride, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, x):
        s = self.stride
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        if h is None or w is None or c is None:
            return x[:, ::s, ::s, :]
        # With static sizes, as reshapes and a unit-stride slice: XNNPACK (LiteRT's CPU
        # delegate) runs those, not a strided STRIDED_SLICE. Pad to multiples of the stride
        # (the padding is never picked), fold each s x s cell into the last axes, keep its
        # top-left pixel.
        ph, pw = -h % s, -w % s
        if ph or pw:
            x = ops.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]])
        rows, cols = (h + ph) // s, (w + pw) // s
        x = ops.reshape(x, (-1, rows, s, cols, s * c))[:, :, :1, :, :c]
        return ops.reshape(x, (-1, rows, cols, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.stride
        return (b, None if h is None else -(-h // s), None if w is None else -(-w // s), c)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


def torch_conv(x, filters, kernel_size, *, name, pad_name, stride=1, depthwise=False, depth_multiplier=1,
               use_bias=False):
    """A ``Conv2D`` (or ``DepthwiseConv2D``) with PyTorch's symmetric ``kernel_size // 2`` padding.

    At stride 1 that is Keras' ``"same"``; with a stride, ``"same"`` pads more at the bottom and
    right than PyTorch, so the input is zero-padded by ``kernel_size // 2`` on every side
    (a ``ZeroPadding2D`` named ``pad_name``) and the convolution is ``"valid"``. A strided
    1 x 1 convolution is a ``Subsample2D`` (``{name}_subsample``) and a stride-1 convolution.

    Args:
        filters: output channels (ignored for ``depthwise``, which has ``depth_multiplier``
            outputs per input channel, timm's ``groups=in_chs``).
        name: the convolution layer's name (checkpoint converters map onto it).
        pad_name: the padding layer's name.

    Example:
        >>> x = torch_conv(x, 32, 3, stride=2, name="stem_conv", pad_name="stem_pad")
    """
    padding = "same"
    if stride > 1 and kernel_size == 1:
        # Same values as the strided 1 x 1 convolution, without TensorFlow's broken gradient
        # kernel for it (see Subsample2D). The convolution keeps its name and weights.
        x = Subsample2D(stride, name=f"{name}_subsample")(x)
        stride = 1
    elif stride > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=pad_name)(x)
        padding = "valid"
    if depthwise:
        return layers.DepthwiseConv2D(kernel_size, strides=stride, padding=padding, depth_multiplier=depth_multiplier,
                                      use_bias=use_bias, name=name)(x)
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias, name=name)(x)
