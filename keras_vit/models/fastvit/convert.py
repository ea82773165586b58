"""Key maps from timm's FastViT checkpoints, in both forms.

Our layer names are timm's module paths with ``_`` for ``.``, so one table serves both
layouts: rules map each module path (still dotted) to a variable, and :func:`convert` turns
the dots into underscores. What differs is the transform, chosen by where a convolution
sits: depthwise ones (``stem.1``, RepMixer, ConvFFN's 7 x 7, position encoding, the
downsampling's large kernel) become ``DepthwiseConv2D`` kernels, the others ``Conv2D``.

- ``timm``: the training form (every re-parameterizable branch), as timm's Hugging Face
  weights are published; loads into ``inference_mode=False`` models.
- ``timm_reparameterized``: what ``timm.utils.reparameterize_model`` leaves (one
  ``reparam_conv`` per folded module); loads into ``inference_mode=True`` models, after
  :func:`.reparam.fold_arrays` folds the parts timm keeps apart (the ConvFFN's BatchNorm,
  the layer scales, the attention's BatchNorm).
"""
import re

import numpy as np

from ...weights.convert import Layout, Rule, conv2d, depthwise_conv2d, layout_converter, linear
from .reparam import fold_arrays

_IGNORE = [r".*num_batches_tracked"]
_M = r"([\w.]+)"
_DEPTHWISE = (
    r"(stem\.1\.[\w.]+|[\w.]+\.token_mixer\.(?:mixer\.[\w.]+|reparam_conv)|[\w.]+\.mlp\.conv\.conv"
    r"|[\w.]+\.pos_emb\.[\w.]+|[\w.]+\.downsample\.proj\.0\.[\w.]+|final_conv\.(?:conv_kxk\.0\.conv|conv_scale\.conv|reparam_conv))"
)


def _flat_scale(x):
    """timm's LayerScale2d ``(C, 1, 1)`` -> ``(C,)``."""
    return np.reshape(x, (-1,))


RULES = [
    Rule(_M + r"\.layer_scale\.gamma", "{0}_layer_scale/gamma", _flat_scale),
    Rule(_M + r"\.layer_scale_([12])\.gamma", "{0}_layer_scale_{1}/gamma", _flat_scale),
    Rule(_M + r"\.token_mixer\.(qkv|proj)\.weight", "{0}_token_mixer/{1}/kernel", linear),
    Rule(_M + r"\.token_mixer\.(qkv|proj)\.bias", "{0}_token_mixer/{1}/bias"),
    Rule(r"head\.fc\.weight", "head/kernel", linear),
    Rule(r"head\.fc\.bias", "head/bias"),
    # BatchNorms: ConvNormAct's bn, MobileOne's identity, the attention block's norm.
    Rule(r"([\w.]+\.(?:bn|identity|norm))\.weight", "{0}/gamma"),
    Rule(r"([\w.]+\.(?:bn|identity|norm))\.bias", "{0}/beta"),
    Rule(r"([\w.]+\.(?:bn|identity|norm))\.running_mean", "{0}/moving_mean"),
    Rule(r"([\w.]+\.(?:bn|identity|norm))\.running_var", "{0}/moving_variance"),
    Rule(_DEPTHWISE + r"\.weight", "{0}/kernel", depthwise_conv2d),
    Rule(_M + r"\.weight", "{0}/kernel", conv2d),
    Rule(_M + r"\.bias", "{0}/bias"),
]


def _stage_widths(state):
    widths = {}
    for key, value in state.items():
        m = re.fullmatch(r"stages\.(\d+)\.blocks\.0\.mlp\.fc2\.weight", key)
        if m:
            widths[int(m.group(1))] = np.shape(value)[0]
    return widths


def _group_depthwise(state):
    """The depthwise kernels that widen the map, ``(out, 1, k, k)`` with ``groups = in``
    (the downsampling's and the final convolution's) -> ``(in, out / in, k, k)``, which
    ``depthwise_conv2d`` turns into Keras' ``(k, k, in, multiplier)``: output channel
    ``c * multiplier + j`` in both. ``in`` is the width of the stage before."""
    widths = _stage_widths(state)
    out = dict(state)
    for key, value in state.items():
        down = re.fullmatch(r"stages\.(\d+)\.downsample\.proj\.0\.[\w.]+\.weight", key)
        final = re.fullmatch(r"final_conv\.(conv_kxk\.0\.conv|conv_scale\.conv|reparam_conv)\.weight", key)
        previous = None
        if down:
            previous = widths.get(int(down.group(1)) - 1)
        elif final and widths:
            previous = widths[max(widths)]
        if previous is None or np.ndim(value) != 4 or np.shape(value)[0] % previous:
            continue  # nothing to read the input width from: left as it is, for the error report
        value = np.asarray(value)
        out[key] = value.reshape(previous, value.shape[0] // previous, *value.shape[2:])
    return out


LAYOUTS = [
    Layout("timm", lambda keys: any(k.endswith("stem.0.conv_kxk.0.conv.weight") for k in keys), RULES,
           ignore=_IGNORE, prepare=_group_depthwise),
    Layout("timm_reparameterized", lambda keys: any(k.endswith("stem.0.reparam_conv.weight") for k in keys), RULES,
           ignore=_IGNORE, prepare=_group_depthwise),
]

_convert, detect_layout = layout_converter("FastViT", LAYOUTS)


def convert(state):
    """``(arrays, layout)``: a timm FastViT checkpoint (either form) in our variable paths."""
    arrays, layout = _convert(state)
    arrays = {key.replace(".", "_"): value for key, value in arrays.items()}
    if layout == "timm_reparameterized":
        arrays = fold_arrays(arrays)
    return arrays, layout
