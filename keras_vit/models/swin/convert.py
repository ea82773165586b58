"""Key maps from timm and transformers Swin checkpoints.

Our layer names are timm's module names with ``_`` for ``.``. transformers keeps the
downsampling at the end of a stage (``layers.{i}.downsample`` is our ``layers_{i+1}``), splits
q, k and v, and renamed its modules in version 5 (``attention.self.query`` ->
``attention.q_proj``); both namings load. Relative position tables are resized when a window
changes (smaller inputs shrink the windows of late stages), as timm does when loading.
"""
from ...weights.convert import Layout, Rule, conv2d, layout_converter, linear
from ...weights.resampling import relative_position_tables


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


_B, _BD = r"layers\.(\d+)\.blocks\.(\d+)\.", "layers_{0}_blocks_{1}/"
TIMM_RULES = [
    Rule(r"patch_embed\.proj\.weight", "patch_embed/proj/kernel", conv2d),
    Rule(r"patch_embed\.proj\.bias", "patch_embed/proj/bias"),
    *_ln(r"patch_embed\.norm", "patch_embed_norm"),
    *_ln(_B + r"norm([12])", _BD + "norm{2}"),
    Rule(_B + r"attn\.relative_position_bias_table", _BD + "attn/relative_position/relative_position_bias_table"),
    *_dense(_B + r"attn\.(qkv|proj)", _BD + "attn/{2}"),
    *_dense(_B + r"mlp\.(fc[12])", _BD + "mlp/{2}"),
    *_ln(r"layers\.(\d+)\.downsample\.norm", "layers_{0}_downsample/norm"),
    Rule(r"layers\.(\d+)\.downsample\.reduction\.weight", "layers_{0}_downsample/reduction/kernel", linear),
    *_ln(r"norm", "norm"),
    *_dense(r"head\.fc", "head"),
]


def _hf_rules(state):
    """transformers numbers the downsampling by the stage it ends; ours by the stage it starts."""
    b, bd = r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.", "layers_{0}_blocks_{1}/"
    rules = [
        Rule(r"embeddings\.patch_embeddings\.projection\.weight", "patch_embed/proj/kernel", conv2d),
        Rule(r"embeddings\.patch_embeddings\.projection\.bias", "patch_embed/proj/bias"),
        *_ln(r"embeddings\.norm", "patch_embed_norm"),
        *_ln(b + r"layernorm_before", bd + "norm1"),
        *_ln(b + r"layernorm_after", bd + "norm2"),
        Rule(b + r"attention\.(?:self\.|relative_position_bias\.)relative_position_bias_table",
             bd + "attn/relative_position/relative_position_bias_table"),
        *_dense(b + r"attention\.(?:output\.dense|o_proj)", bd + "attn/proj"),
        *_dense(b + r"(?:intermediate\.dense|mlp\.fc1)", bd + "mlp/fc1"),
        *_dense(b + r"(?:output\.dense|mlp\.fc2)", bd + "mlp/fc2"),
        *_ln(r"layernorm", "norm"),
        *_dense(r"classifier", "head"),
    ]
    for part, (old, new) in enumerate((("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"))):
        src = b + rf"attention\.(?:self\.{old}|{new})"
        rules += [Rule(src + r"\.weight", bd + "attn/qkv/kernel", linear, part=part), Rule(src + r"\.bias", bd + "attn/qkv/bias", part=part)]
    stages = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")}
    for i in stages:
        d = rf"encoder\.layers\.{i}\.downsample\."
        rules += [*_ln(d + "norm", f"layers_{i + 1}_downsample/norm"),
                  Rule(d + r"reduction\.weight", f"layers_{i + 1}_downsample/reduction/kernel", linear)]
    return rules


_IGNORE = (r".*relative_position_index", r".*attn_mask", r"pooler\..*")

LAYOUTS = [
    Layout("transformers", lambda keys: any("patch_embeddings.projection" in k for k in keys), _hf_rules, strip=(),
           strip_each=("swin.",), ignore=_IGNORE),
    Layout("timm", lambda keys: any(k.endswith("patch_embed.proj.weight") for k in keys) and any(".attn.relative_position_bias_table" in k for k in keys),
           TIMM_RULES, ignore=_IGNORE),
]

convert, detect_layout = layout_converter("Swin", LAYOUTS)


def resample(layout):
    """Relative position tables resized as timm's ``resize_rel_pos_bias_table`` when a window shrinks."""
    return relative_position_tables
