"""Key maps from timm, transformers and Apple ml-cvnets MobileViT checkpoints.

Our layer names are timm's module names with ``_`` for ``.``, so the timm map is nearly an
identity; transformers renames every module and splits qkv; ml-cvnets (the original
release) nests each conv as ``block.conv``/``block.norm`` and numbers stages from 1.
"""
import re

from ...weights.convert import Layout, Rule, batch_norm, conv2d, depthwise_conv2d, layout_converter, linear

_IGNORE = [r".*num_batches_tracked"]


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


def _conv_bn(src_conv, src_bn, dst, transform=conv2d):
    """A ConvNormAct: ``{dst}_conv/kernel`` and ``{dst}_bn/*``."""
    return [Rule(src_conv + r"\.weight", dst + "_conv/kernel", transform)] + batch_norm(src_bn, dst + "_bn")


# --- timm: stem.conv, stages.{s}.{b}.<module>, final_conv, head.fc --------------------------
_S, _D = r"stages\.(\d+)\.(\d+)\.", "stages_{0}_{1}_"
_T, _TD = _S + r"transformer\.(\d+)\.", "stages_{0}_{1}_transformer_{2}/"
_CONVS = r"(conv1_1x1|conv3_1x1|conv_kxk|conv_proj|conv_fusion)"
TIMM_RULES = [
    *_conv_bn(r"stem\.conv", r"stem\.bn", "stem"),
    *_conv_bn(r"final_conv\.conv", r"final_conv\.bn", "final_conv"),
    *_conv_bn(_S + r"conv2_kxk\.conv", _S + r"conv2_kxk\.bn", _D + "conv2_kxk", depthwise_conv2d),
    Rule(_S + _CONVS + r"\.conv\.weight", _D + "{2}_conv/kernel", conv2d),
    *batch_norm(_S + _CONVS + r"\.bn", _D + "{2}_bn"),
    Rule(_S + r"conv_1x1\.weight", _D + "conv_1x1/kernel", conv2d),
    *_ln(_T + r"norm([12])", _TD + "norm{3}"),
    *_dense(_T + r"attn\.(qkv|proj)", _TD + "attn/{3}"),
    *_dense(_T + r"mlp\.(fc[12])", _TD + "mlp/{3}"),
    *_ln(_S + r"norm", _D + "norm"),
    *_dense(r"head\.fc", "head"),
]


# --- transformers: conv_stem, encoder.layer.{s}, conv_1x1_exp, classifier -------------------
def _hf_conv(src, dst, transform=conv2d):
    return _conv_bn(src + r"\.convolution", src + r"\.normalization", dst, transform)


_L = r"encoder\.layer\.(\d+)\."
_HL, _HLD = _L + r"transformer\.layer\.(\d+)\.", "stages_{0}_1_transformer_{1}/"
_HF_IR = (("expand_1x1", "conv1_1x1", conv2d), ("conv_3x3", "conv2_kxk", depthwise_conv2d), ("reduce_1x1", "conv3_1x1", conv2d))
HF_RULES = [
    *_hf_conv(r"conv_stem", "stem"),
    *_hf_conv(r"conv_1x1_exp", "final_conv"),
    *[r for hf, ours, t in _HF_IR for r in _hf_conv(_L + r"layer\.(\d+)\." + hf, "stages_{0}_{1}_" + ours, t)],
    *[r for hf, ours, t in _HF_IR for r in _hf_conv(_L + r"downsampling_layer\." + hf, "stages_{0}_0_" + ours, t)],
    *_hf_conv(_L + r"conv_kxk", "stages_{0}_1_conv_kxk"),
    Rule(_L + r"conv_1x1\.convolution\.weight", "stages_{0}_1_conv_1x1/kernel", conv2d),
    *_hf_conv(_L + r"conv_projection", "stages_{0}_1_conv_proj"),
    *_hf_conv(_L + r"fusion", "stages_{0}_1_conv_fusion"),
    *[
        Rule(_HL + rf"attention\.attention\.{name}\.{kind}", _HLD + f"attn/qkv/{ours}", linear if kind == "weight" else None, part=i)
        for i, name in enumerate(("query", "key", "value"))
        for kind, ours in (("weight", "kernel"), ("bias", "bias"))
    ],
    *_dense(_HL + r"attention\.output\.dense", _HLD + "attn/proj"),
    *_dense(_HL + r"intermediate\.dense", _HLD + "mlp/fc1"),
    *_dense(_HL + r"output\.dense", _HLD + "mlp/fc2"),
    *_ln(_HL + r"layernorm_before", _HLD + "norm1"),
    *_ln(_HL + r"layernorm_after", _HLD + "norm2"),
    *_ln(_L + r"layernorm", "stages_{0}_1_norm"),
    *_dense(r"classifier", "head"),
]


# --- Apple ml-cvnets: conv_1, layer_1..layer_5, conv_1x1_exp, classifier.fc -----------------
def _cv_conv(src, dst, transform=conv2d):
    """ml-cvnets ConvLayer: ``{src}.block.conv`` and ``{src}.block.norm``."""
    return _conv_bn(src + r"\.block\.conv", src + r"\.block\.norm", dst, transform)


def _cvnets_rules():
    rules = [*_cv_conv(r"conv_1", "stem"), *_cv_conv(r"conv_1x1_exp", "final_conv"), *_dense(r"classifier\.fc", "head")]
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
            *_cv_conv(b + r"local_rep\.conv_3x3", d + "conv_kxk"),
            Rule(b + r"local_rep\.conv_1x1\.block\.conv\.weight", d + "conv_1x1/kernel", conv2d),
            *_ln(g + r"pre_norm_mha\.0", gd + "norm1"),
            *_dense(g + r"pre_norm_mha\.1\.qkv_proj", gd + "attn/qkv"),
            *_dense(g + r"pre_norm_mha\.1\.out_proj", gd + "attn/proj"),
            *_ln(g + r"pre_norm_ffn\.0", gd + "norm2"),
            *_dense(g + r"pre_norm_ffn\.1", gd + "mlp/fc1"),
            *_dense(g + r"pre_norm_ffn\.4", gd + "mlp/fc2"),
            # The last entry of global_rep (index = depth) is the final LayerNorm.
            *_ln(b + r"global_rep\.\d+", d + "norm"),
            *_cv_conv(b + r"conv_proj", d + "conv_proj"),
            *_cv_conv(b + r"fusion", d + "conv_fusion"),
        ]
    return rules


CVNETS_RULES = _cvnets_rules()


LAYOUTS = [
    Layout("transformers", lambda keys: any("conv_stem.convolution" in k for k in keys), HF_RULES, strip=(),
           strip_each=("mobilevit.",), ignore=_IGNORE),
    # Training wrappers add "module." (DDP) and some releases "encoder." around the network.
    Layout("cvnets", lambda keys: any(re.search(r"(^|\.)conv_1\.block\.conv\.weight$", k) for k in keys), CVNETS_RULES,
           strip=("module.",), strip_each=("encoder.",), ignore=_IGNORE),
    Layout("timm", lambda keys: any(k.endswith("stem.conv.weight") for k in keys), TIMM_RULES, ignore=_IGNORE),
]

convert, detect_layout = layout_converter("MobileViT", LAYOUTS)
