"""Key map from timm's EfficientViT (MIT, ``efficientvit_b*``) checkpoints.

Our layer names are timm's module names with ``_`` for ``.`` and without timm's ``blocks``
and ``main`` wrappers (``stages.2.blocks.1.context_module.main.qkv.conv`` ->
``stages_2_1_context_qkv_conv``); the head's MLP is ``head_fc``/``head_norm`` and its
classifier ``head`` (timm's ``head.classifier.0/1/4``).
"""
from ...weights.convert import Layout, Rule, batch_norm, conv2d, depthwise_conv2d, layout_converter, linear

_IGNORE = [r".*num_batches_tracked"]


def _conv_norm(src, dst, transform=conv2d):
    """A ConvNormAct: ``{src}.conv`` (with its bias where it has one) and ``{src}.norm``."""
    return [
        Rule(src + r"\.conv\.weight", dst + "_conv/kernel", transform),
        Rule(src + r"\.conv\.bias", dst + "_conv/bias"),
        *batch_norm(src + r"\.norm", dst + "_norm"),
    ]


def _mbconv(src, dst):
    """An MBConv (or the stem's DSConv, which has no inverted_conv); ``src`` has 2 groups."""
    return [
        *_conv_norm(src + r"(inverted_conv|point_conv)", dst + "_{2}"),
        *_conv_norm(src + r"depth_conv", dst + "_depth_conv", depthwise_conv2d),
    ]


def _rules():
    block, ours = r"stages\.(\d+)\.blocks\.(\d+)\.", "stages_{0}_{1}"
    mla, mla_ours = block + r"context_module\.main\.", ours + "_context"
    return [
        *_conv_norm(r"stem\.in_conv", "stem_in_conv"),
        *_conv_norm(r"stem\.res(\d+)\.main\.depth_conv", "stem_res{0}_depth_conv", depthwise_conv2d),
        *_conv_norm(r"stem\.res(\d+)\.main\.point_conv", "stem_res{0}_point_conv"),
        Rule(mla + r"qkv\.conv\.weight", mla_ours + "_qkv_conv/kernel", conv2d),
        Rule(mla + r"aggreg\.(\d+)\.0\.weight", mla_ours + "_aggreg_{2}_0/kernel", depthwise_conv2d),
        Rule(mla + r"aggreg\.(\d+)\.1\.weight", mla_ours + "_aggreg_{2}_1/kernel", conv2d),
        *_conv_norm(mla + r"proj", mla_ours + "_proj"),
        *_mbconv(block + r"main\.", ours),
        *_mbconv(block + r"local_module\.main\.", ours + "_local"),
        *_conv_norm(r"head\.in_conv", "head_in_conv"),
        Rule(r"head\.classifier\.0\.weight", "head_fc/kernel", linear),
        Rule(r"head\.classifier\.1\.weight", "head_norm/gamma"),
        Rule(r"head\.classifier\.1\.bias", "head_norm/beta"),
        Rule(r"head\.classifier\.4\.weight", "head/kernel", linear),
        Rule(r"head\.classifier\.4\.bias", "head/bias"),
    ]


TIMM_RULES = _rules()

LAYOUTS = [
    Layout("timm", lambda keys: any(k.endswith("stem.in_conv.conv.weight") for k in keys), TIMM_RULES, ignore=_IGNORE),
]

convert, detect_layout = layout_converter("EfficientViT", LAYOUTS)
