"""Convolutions padded as PyTorch pads them, for families converted from PyTorch checkpoints."""
from keras import layers


def torch_conv(x, filters, kernel_size, *, name, pad_name, stride=1, depthwise=False, depth_multiplier=1,
               use_bias=False):
    """A ``Conv2D`` (or ``DepthwiseConv2D``) with PyTorch's symmetric ``kernel_size // 2`` padding.

    At stride 1 that is Keras' ``"same"``; with a stride, ``"same"`` pads more at the bottom and
    right than PyTorch, so the input is zero-padded by ``kernel_size // 2`` on every side
    (a ``ZeroPadding2D`` named ``pad_name``) and the convolution is ``"valid"``.

    Args:
        filters: output channels (ignored for ``depthwise``, which has ``depth_multiplier``
            outputs per input channel, timm's ``groups=in_chs``).
        name: the convolution layer's name (checkpoint converters map onto it).
        pad_name: the padding layer's name.

    Example:
        >>> x = torch_conv(x, 32, 3, stride=2, name="stem_conv", pad_name="stem_pad")
    """
    padding = "same"
    if stride > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=pad_name)(x)
        padding = "valid"
    if depthwise:
        return layers.DepthwiseConv2D(kernel_size, strides=stride, padding=padding, depth_multiplier=depth_multiplier,
                                      use_bias=use_bias, name=name)(x)
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias, name=name)(x)
