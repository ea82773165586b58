"""Key map from the official T2T-ViT checkpoints (yitu-opensource/T2T-ViT state dicts)."""
from ...weights.convert import Layout, Rule, layout_converter, linear
from ...weights.resampling import position_embeddings

_T, _TD = r"tokens_to_token\.attention([12])\.", "tokens_to_token_attention{0}/"
_B, _BD = r"blocks\.(\d+)\.", "blocks_{0}/"


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


OFFICIAL_RULES = [
    Rule(r"cls_token", "cls_token/cls_token"),
    Rule(r"pos_embed", "pos_embed/pos_embed"),
    # Performer blocks: random features, k/q/v projection (kept in that order), mlp.0/mlp.2.
    Rule(_T + r"w", _TD + "w"),
    *_dense(_T + r"(kqv|proj)", _TD + "{1}"),
    *_dense(_T + r"mlp\.0", _TD + "mlp/fc1"),
    *_dense(_T + r"mlp\.2", _TD + "mlp/fc2"),
    # Transformer blocks.
    Rule(_T + r"attn\.qkv\.weight", _TD + "attn/qkv/kernel", linear),
    *_dense(_T + r"attn\.proj", _TD + "attn/proj"),
    *_dense(_T + r"mlp\.(fc[12])", _TD + "mlp/{1}"),
    *_ln(_T + r"norm([12])", _TD + "norm{1}"),
    *_dense(r"tokens_to_token\.project", "tokens_to_token_project"),
    *_ln(_B + r"norm([12])", _BD + "norm{1}"),
    Rule(_B + r"attn\.qkv\.weight", _BD + "attn/qkv/kernel", linear),
    *_dense(_B + r"attn\.proj", _BD + "attn/proj"),
    *_dense(_B + r"mlp\.(fc[12])", _BD + "mlp/{1}"),
    *_ln(r"norm", "norm"),
    *_dense(r"head", "head"),
]

LAYOUTS = [
    Layout("official", lambda keys: any(k.endswith("tokens_to_token.project.weight") for k in keys), OFFICIAL_RULES),
]

convert, detect_layout = layout_converter("T2T-ViT", LAYOUTS)


def resample(layout):
    """Position tables of another resolution: bicubic, class token kept, as the official
    ``utils.resize_pos_embed`` (``F.interpolate(mode='bicubic')``)."""
    return position_embeddings("bicubic")
