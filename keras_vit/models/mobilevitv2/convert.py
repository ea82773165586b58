"""Key maps from timm's and Apple ml-cvnets' MobileViT v2 checkpoints.

Our layer names are timm's module names with ``_`` for ``.``; the transformer's 1x1
convolutions (``qkv_proj``, ``out_proj``, ``mlp.fc1``/``fc2``) become Dense layers over the
channels. ml-cvnets (the original release) nests each convolution as ``block.conv`` /
``block.norm``, numbers stages ``layer_1`` … ``layer_5`` and keeps a block's transformers and
final GroupNorm in one ``global_rep`` sequence.
"""
import re

import numpy as np

from ...weights.convert import Layout, Rule, batch_norm, conv2d, depthwise_conv2d, layout_converter

_IGNORE = [r".*num_batches_tracked"]


def conv1x1_dense(x):
    """PyTorch 1x1 Conv2d (out, in, 1, 1) -> Keras Dense (in, out)."""
    if np.ndim(x) != 4 or np.shape(x)[2:] != (1, 1):
        raise ValueError(f"a 1x1 Conv2d kernel (out, in, 1, 1) is expected, got shape {np.shape(x)}")
    return np.transpose(x[:, :, 0, 0])


def _affine(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _conv_bn(src, dst, transform=conv2d):
    """A timm ConvNormAct ``{src}.conv``/``{src}.bn``: ``{dst}_conv/kernel`` and ``{dst}_bn/*``."""
    return [Rule(src + r"\.conv\.weight", dst + "_conv/kernel", transform)] + batch_norm(src + r"\.bn", dst + "_bn")


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


# --- Apple ml-cvnets: conv_1, layer_1..layer_5, classifier.1 -------------------------------
def _cv_conv(src, dst, transform=conv2d):
    """ml-cvnets ConvLayer2d: ``{src}.block.conv`` and ``{src}.block.norm``."""
    return [Rule(src + r"\.block\.conv\.weight", dst + "_conv/kernel", transform)] + batch_norm(src + r"\.block\.norm", dst + "_bn")


def _cv_dense(src, dst):
    """A 1x1 ConvLayer2d with bias and no norm, as a Dense layer."""
    return [Rule(src + r"\.block\.conv\.weight", dst + "/kernel", conv1x1_dense), Rule(src + r"\.block\.conv\.bias", dst + "/bias")]


def _cvnets_rules():
    rules = [*_cv_conv(r"conv_1", "stem"), Rule(r"classifier\.1\.weight", "head/kernel", lambda x: np.transpose(x)),
             Rule(r"classifier\.1\.bias", "head/bias")]
    ir = (("exp_1x1", "conv1_1x1", conv2d), ("conv_3x3", "conv2_kxk", depthwise_conv2d), ("red_1x1", "conv3_1x1", conv2d))
    for layer in range(1, 6):  # layer_k is our stage k - 1
        s = layer - 1
        for cv, ours, t in ir:
            rules += _cv_conv(rf"layer_{layer}\.(\d+)\.block\.{cv}", f"stages_{s}_{{0}}_{ours}", t)
        if layer < 3:
            continue
        b, d = rf"layer_{layer}\.1\.", f"stages_{s}_1_"
        g, gd = b + r"global_rep\.(\d+)\.", d + "transformer_{0}/"
        rules += [
            *_cv_conv(b + r"local_rep\.0", d + "conv_kxk", depthwise_conv2d),
            Rule(b + r"local_rep\.1\.block\.conv\.weight", d + "conv_1x1/kernel", conv2d),
            *_affine(g + r"pre_norm_attn\.0", gd + "norm1"),
            *_cv_dense(g + r"pre_norm_attn\.1\.qkv_proj", gd + "attn/qkv_proj"),
            *_cv_dense(g + r"pre_norm_attn\.1\.out_proj", gd + "attn/out_proj"),
            *_affine(g + r"pre_norm_ffn\.0", gd + "norm2"),
            *_cv_dense(g + r"pre_norm_ffn\.1", gd + "mlp/fc1"),
            *_cv_dense(g + r"pre_norm_ffn\.3", gd + "mlp/fc2"),
            # The last entry of global_rep (index = depth) is the final GroupNorm.
            *_affine(b + r"global_rep\.\d+", d + "norm"),
            *_cv_conv(b + r"conv_proj", d + "conv_proj"),
        ]
    return rules


CVNETS_RULES = _cvnets_rules()

LAYOUTS = [
    # A v2 checkpoint: a stem and transformers with a 1x1-conv qkv_proj (v1 has attn.qkv).
    Layout("timm", lambda keys: any(k.endswith("stem.conv.weight") for k in keys) and any(".attn.qkv_proj." in k for k in keys),
           TIMM_RULES, ignore=_IGNORE),
    # Training wrappers add "module." (DDP) and some releases "encoder." around the network.
    Layout("cvnets", lambda keys: any(re.search(r"(^|\.)conv_1\.block\.conv\.weight$", k) for k in keys)
           and any(".pre_norm_attn.1.qkv_proj." in k for k in keys),
           CVNETS_RULES, strip=("module.",), strip_each=("encoder.",), ignore=_IGNORE),
]

convert, detect_layout = layout_converter("MobileViT v2", LAYOUTS)
