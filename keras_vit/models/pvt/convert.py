"""Key maps from transformers and official PVT v1 checkpoints.

Our layer names are the official modules with ``_`` for ``.``; the attention's reduction
lives in its ``spatial_reduction`` step (official: ``attn.sr``/``attn.norm``). transformers
numbers stages from 0 (``patch_embeddings.0`` is ``patch_embed1``) and splits the official
``kv`` into ``key`` and ``value``, which are joined again.
"""
import re

from ...weights.convert import Layout, Rule, conv2d, layout_converter, linear
from ...weights.resampling import position_embeddings


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


def _conv(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", conv2d), Rule(src + r"\.bias", dst + "/bias")]


_B, _BD = r"block(\d+)\.(\d+)\.", "block{0}_{1}/"
OFFICIAL_RULES = [
    *_conv(r"patch_embed(\d+)\.proj", "patch_embed{0}_proj"),
    *_ln(r"patch_embed(\d+)\.norm", "patch_embed{0}_norm"),
    Rule(r"pos_embed(\d+)", "pos_embed{0}/pos_embed"),
    Rule(r"cls_token", "cls_token/cls_token"),
    *_ln(_B + r"norm([12])", _BD + "norm{2}"),
    *_dense(_B + r"attn\.(q|kv|proj)", _BD + "attn/{2}"),
    *_conv(_B + r"attn\.sr", _BD + "attn/spatial_reduction/sr"),
    *_ln(_B + r"attn\.norm", _BD + "attn/spatial_reduction/norm"),
    *_dense(_B + r"mlp\.(fc[12])", _BD + "mlp/{2}"),
    *_ln(r"norm", "norm"),
    *_dense(r"head", "head"),
]


def _hf_rules(state):
    stages = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.patch_embeddings\.(\d+)\.", k))})
    rules = [*_ln(r"encoder\.layer_norm", "norm"), *_dense(r"classifier", "head")]
    for i in stages:
        e, n = rf"encoder\.patch_embeddings\.{i}\.", i + 1
        b, bd = rf"encoder\.block\.{i}\.(\d+)\.", f"block{n}_{{0}}/"
        rules += [
            *_conv(e + "projection", f"patch_embed{n}_proj"),
            *_ln(e + "layer_norm", f"patch_embed{n}_norm"),
            Rule(e + "position_embeddings", f"pos_embed{n}/pos_embed"),
            Rule(e + "cls_token", "cls_token/cls_token"),
            *_ln(b + "layer_norm_1", bd + "norm1"),
            *_ln(b + "layer_norm_2", bd + "norm2"),
            *_dense(b + r"attention\.self\.query", bd + "attn/q"),
            *_conv(b + r"attention\.self\.sequence_reduction", bd + "attn/spatial_reduction/sr"),
            *_ln(b + r"attention\.self\.layer_norm", bd + "attn/spatial_reduction/norm"),
            *_dense(b + r"attention\.output\.dense", bd + "attn/proj"),
            *_dense(b + r"mlp\.dense1", bd + "mlp/fc1"),
            *_dense(b + r"mlp\.dense2", bd + "mlp/fc2"),
        ]
        for part, name in enumerate(("key", "value")):
            rules += [Rule(b + rf"attention\.self\.{name}\.weight", bd + "attn/kv/kernel", linear, part=part),
                      Rule(b + rf"attention\.self\.{name}\.bias", bd + "attn/kv/bias", part=part)]
    return rules


LAYOUTS = [
    Layout("transformers", lambda keys: any("encoder.patch_embeddings." in k for k in keys) and any(".attention.self.query." in k for k in keys),
           _hf_rules, strip=(), strip_each=("pvt.",)),
    Layout("official", lambda keys: "pos_embed1" in keys and any(k.startswith("patch_embed1.proj.") for k in keys), OFFICIAL_RULES),
]

convert, detect_layout = layout_converter("PVT", LAYOUTS)


def resample(layout):
    """Every layout's reference resizes the per-stage tables bilinearly (no antialiasing),
    the class token's row kept: the official ``_get_pos_embed``."""
    return position_embeddings("bilinear")
