"""Key map from timm's MobileViT v2 checkpoints (``timm/mobilevitv2_*.cvnets_in1k``).

Our layer names are timm's module names with ``_`` for ``.``; the transformer's 1x1
convolutions (``qkv_proj``, ``out_proj``, ``mlp.fc1``/``fc2``) become Dense layers over the
channels. Apple's ml-cvnets layout (``layer_1`` … ``layer_5``, ``global_rep``) is not mapped
yet: its checkpoints load through timm's conversion.
"""
import numpy as np

from ...weights.convert import Layout, Rule, conv2d, depthwise_conv2d, layout_converter

_IGNORE = [r".*num_batches_tracked"]


def conv1x1_dense(x):
    """PyTorch 1x1 Conv2d (out, in, 1, 1) -> Keras Dense (in, out)."""
    if np.ndim(x) != 4 or np.shape(x)[2:] != (1, 1):
        raise ValueError(f"a 1x1 Conv2d kernel (out, in, 1, 1) is expected, got shape {np.shape(x)}")
    return np.transpose(x[:, :, 0, 0])


def _bn(src, dst):
    """BatchNorm scale, shift and running statistics."""
    return [
        Rule(src + r"\.weight", dst + "/gamma"),
        Rule(src + r"\.bias", dst + "/beta"),
        Rule(src + r"\.running_mean", dst + "/moving_mean"),
        Rule(src + r"\.running_var", dst + "/moving_variance"),
    ]


def _affine(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _conv_bn(src, dst, transform=conv2d):
    """A timm ConvNormAct ``{src}.conv``/``{src}.bn``: ``{dst}_conv/kernel`` and ``{dst}_bn/*``."""
    return [Rule(src + r"\.conv\.weight", dst + "_conv/kernel", transform)] + _bn(src + r"\.bn", dst + "_bn")


_S, _D = r"stages\.(\d+)\.(\d+)\.", "stages_{0}_{1}_"
_T, _TD = _S + r"transformer\.(\d+)\.", "stages_{0}_{1}_transformer_{2}/"
TIMM_RULES = [
    *_conv_bn(r"stem", "stem"),
    # Depthwise: the inverted residual's 3x3 and the MobileViT v2 block's local 3x3.
    *_conv_bn(_S + r"(conv2_kxk|conv_kxk)", _D + "{2}", depthwise_conv2d),
    *_conv_bn(_S + r"(conv1_1x1|conv3_1x1|conv_proj)", _D + "{2}"),
    Rule(_S + r"conv_1x1\.weight", _D + "conv_1x1/kernel", conv2d),
    *_affine(_T + r"(norm[12])", _TD + "{3}"),
    Rule(_T + r"attn\.(qkv_proj|out_proj)\.weight", _TD + "attn/{3}/kernel", conv1x1_dense),
    Rule(_T + r"attn\.(qkv_proj|out_proj)\.bias", _TD + "attn/{3}/bias"),
    Rule(_T + r"mlp\.(fc[12])\.weight", _TD + "mlp/{3}/kernel", conv1x1_dense),
    Rule(_T + r"mlp\.(fc[12])\.bias", _TD + "mlp/{3}/bias"),
    *_affine(_S + r"norm", _D + "norm"),
    Rule(r"head\.fc\.weight", "head/kernel", lambda x: np.transpose(x)),
    Rule(r"head\.fc\.bias", "head/bias"),
]

LAYOUTS = [
    # A v2 checkpoint: a stem and transformers with a 1x1-conv qkv_proj (v1 has attn.qkv).
    Layout("timm", lambda keys: any(k.endswith("stem.conv.weight") for k in keys) and any(".attn.qkv_proj." in k for k in keys),
           TIMM_RULES, ignore=_IGNORE),
]

convert, detect_layout = layout_converter("MobileViT v2", LAYOUTS)
