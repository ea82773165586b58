"""Key maps from timm and transformers PVT v2 checkpoints.

Our layer names are timm's modules with ``_`` for ``.``; the attention's reduction lives in
its ``spatial_reduction`` step (timm: ``attn.sr``/``attn.norm``). transformers numbers the
first patch embedding as stage 0's and splits k and v, which are joined into ``kv``.
"""
from ...weights.convert import Layout, Rule, conv2d, depthwise_conv2d, layout_converter, linear


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


def _conv(src, dst, transform=conv2d):
    return [Rule(src + r"\.weight", dst + "/kernel", transform), Rule(src + r"\.bias", dst + "/bias")]


_B, _BD = r"stages\.(\d+)\.blocks\.(\d+)\.", "stages_{0}_blocks_{1}/"
TIMM_RULES = [
    *_conv(r"patch_embed\.proj", "patch_embed_proj"),
    *_ln(r"patch_embed\.norm", "patch_embed_norm"),
    *_conv(r"stages\.(\d+)\.downsample\.proj", "stages_{0}_downsample_proj"),
    *_ln(r"stages\.(\d+)\.downsample\.norm", "stages_{0}_downsample_norm"),
    *_ln(_B + r"norm([12])", _BD + "norm{2}"),
    *_dense(_B + r"attn\.(q|kv|proj)", _BD + "attn/{2}"),
    *_conv(_B + r"attn\.sr", _BD + "attn/spatial_reduction/sr"),
    *_ln(_B + r"attn\.norm", _BD + "attn/spatial_reduction/norm"),
    *_dense(_B + r"mlp\.(fc[12])", _BD + "mlp/{2}"),
    *_conv(_B + r"mlp\.dwconv", _BD + "mlp/dwconv", depthwise_conv2d),
    *_ln(r"stages\.(\d+)\.norm", "stages_{0}_norm"),
    *_dense(r"head", "head"),
]


def _hf_rules(state):
    b, bd = r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.", "stages_{0}_blocks_{1}/"
    rules = [
        *_conv(r"encoder\.layers\.0\.patch_embedding\.proj", "patch_embed_proj"),
        *_ln(r"encoder\.layers\.0\.patch_embedding\.layer_norm", "patch_embed_norm"),
        *_conv(r"encoder\.layers\.(\d+)\.patch_embedding\.proj", "stages_{0}_downsample_proj"),
        *_ln(r"encoder\.layers\.(\d+)\.patch_embedding\.layer_norm", "stages_{0}_downsample_norm"),
        *_ln(b + r"layer_norm_1", bd + "norm1"),
        *_ln(b + r"layer_norm_2", bd + "norm2"),
        *_dense(b + r"attention\.query", bd + "attn/q"),
        *_dense(b + r"attention\.proj", bd + "attn/proj"),
        *_conv(b + r"attention\.spatial_reduction", bd + "attn/spatial_reduction/sr"),
        *_ln(b + r"attention\.layer_norm", bd + "attn/spatial_reduction/norm"),
        *_dense(b + r"mlp\.dense1", bd + "mlp/fc1"),
        *_dense(b + r"mlp\.dense2", bd + "mlp/fc2"),
        *_conv(b + r"mlp\.dwconv\.dwconv", bd + "mlp/dwconv", depthwise_conv2d),
        *_ln(r"encoder\.layers\.(\d+)\.layer_norm", "stages_{0}_norm"),
        *_dense(r"classifier", "head"),
    ]
    for part, name in enumerate(("key", "value")):
        rules += [Rule(b + rf"attention\.{name}\.weight", bd + "attn/kv/kernel", linear, part=part),
                  Rule(b + rf"attention\.{name}\.bias", bd + "attn/kv/bias", part=part)]
    return rules


LAYOUTS = [
    Layout("transformers", lambda keys: any(".patch_embedding.proj." in k for k in keys), _hf_rules, strip=(),
           strip_each=("pvt_v2.",)),
    Layout("timm", lambda keys: any(k.endswith("patch_embed.proj.weight") for k in keys) and any(".attn.kv." in k for k in keys), TIMM_RULES),
]

convert, detect_layout = layout_converter("PVT v2", LAYOUTS)
