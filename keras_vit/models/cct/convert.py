"""Key map from the official CCT checkpoints (SHI-Labs/Compact-Transformers state dicts)."""
from ...weights.convert import Layout, Rule, conv2d, layout_converter, linear
from ...weights.resampling import position_embeddings

_B, _BD = r"classifier\.blocks\.(\d+)\.", "blocks_{0}/"
OFFICIAL_RULES = [
    Rule(r"tokenizer\.conv_layers\.(\d+)\.0\.weight", "tokenizer_conv_{0}/kernel", conv2d),
    Rule(r"classifier\.positional_emb", "positional_emb/pos_embed"),
    Rule(r"classifier\.attention_pool\.weight", "seq_pool/attention_pool/kernel", linear),
    Rule(r"classifier\.attention_pool\.bias", "seq_pool/attention_pool/bias"),
    # Official pre_norm -> norm1 and norm1 (after the attention residual) -> norm2.
    Rule(_B + r"pre_norm\.weight", _BD + "norm1/gamma"),
    Rule(_B + r"pre_norm\.bias", _BD + "norm1/beta"),
    Rule(_B + r"norm1\.weight", _BD + "norm2/gamma"),
    Rule(_B + r"norm1\.bias", _BD + "norm2/beta"),
    Rule(_B + r"self_attn\.(qkv|proj)\.weight", _BD + "attn/{1}/kernel", linear),
    Rule(_B + r"self_attn\.proj\.bias", _BD + "attn/proj/bias"),
    Rule(_B + r"linear1\.weight", _BD + "mlp/fc1/kernel", linear),
    Rule(_B + r"linear1\.bias", _BD + "mlp/fc1/bias"),
    Rule(_B + r"linear2\.weight", _BD + "mlp/fc2/kernel", linear),
    Rule(_B + r"linear2\.bias", _BD + "mlp/fc2/bias"),
    Rule(r"classifier\.norm\.weight", "norm/gamma"),
    Rule(r"classifier\.norm\.bias", "norm/beta"),
    Rule(r"classifier\.fc\.weight", "head/kernel", linear),
    Rule(r"classifier\.fc\.bias", "head/bias"),
]

LAYOUTS = [
    Layout("official", lambda keys: any(k.endswith("tokenizer.conv_layers.0.0.weight") for k in keys), OFFICIAL_RULES),
]

convert, detect_layout = layout_converter("CCT", LAYOUTS)


def resample(layout):
    """Position tables of another resolution: bilinear, as the official ``pe_check``
    (``F.interpolate(mode='bilinear')``, no prefix token)."""
    return position_embeddings("bilinear")
