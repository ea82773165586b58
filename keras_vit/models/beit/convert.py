"""Key maps from timm and transformers BEiT checkpoints, and their table resizing.

timm keeps q and v biases as parameters beside a bias-less fused ``qkv`` (our layout);
transformers has separate ``query``/``key``/``value`` Linears, the key one without a bias.
At another input size the two references resize the relative position tables differently:
timm (on load, ``resize_rel_pos_bias_table``) places the source offsets geometrically, as
BEiT's fine-tuning code did; transformers (at every forward) resizes the
``(2 Wh - 1, 2 Ww - 1)`` table grid by plain bilinear interpolation (``align_corners=False``).
"""

import numpy as np

from ...layers.resample import resample_grid
from ...weights.convert import Layout, Rule, conv2d, layout_converter, linear
from ...weights.resampling import chain, position_embeddings, relative_position_tables, relative_table_source

_B, _BD = r"blocks\.(\d+)\.", "blocks_{0}/"
TIMM_RULES = [
    Rule(r"patch_embed\.proj\.weight", "patch_embed/proj/kernel", conv2d),
    Rule(r"patch_embed\.proj\.bias", "patch_embed/proj/bias"),
    Rule(r"cls_token", "cls_token/cls_token"),
    Rule(r"pos_embed", "pos_embed/pos_embed"),
    Rule(r"rel_pos_bias\.relative_position_bias_table", "rel_pos_bias/relative_position_bias_table"),
    Rule(_B + r"norm([12])\.weight", _BD + "norm{1}/gamma"),
    Rule(_B + r"norm([12])\.bias", _BD + "norm{1}/beta"),
    Rule(_B + r"attn\.(qkv|proj)\.weight", _BD + "attn/{1}/kernel", linear),
    Rule(_B + r"attn\.proj\.bias", _BD + "attn/proj/bias"),
    Rule(_B + r"attn\.([qv])_bias", _BD + "attn/{1}_bias"),
    Rule(_B + r"attn\.relative_position_bias_table", _BD + "attn/relative_position_bias/relative_position_bias_table"),
    Rule(_B + r"mlp\.(fc[12])\.weight", _BD + "mlp/{1}/kernel", linear),
    Rule(_B + r"mlp\.(fc[12])\.bias", _BD + "mlp/{1}/bias"),
    Rule(_B + r"gamma_([12])", _BD + "ls{1}/gamma"),
    Rule(r"(norm|fc_norm)\.weight", "{0}/gamma"),
    Rule(r"(norm|fc_norm)\.bias", "{0}/beta"),
    Rule(r"head\.weight", "head/kernel", linear),
    Rule(r"head\.bias", "head/bias"),
]
# Index buffers (rebuilt from the window) and the constant zero k bias of older checkpoints.
_TIMM_IGNORE = (r".*relative_position_index", r".*k_bias")

_L, _LD = r"encoder\.layer\.(\d+)\.", "blocks_{0}/"
_SELF = _L + r"attention\.attention\."
HF_RULES = [
    Rule(r"embeddings\.patch_embeddings\.projection\.weight", "patch_embed/proj/kernel", conv2d),
    Rule(r"embeddings\.patch_embeddings\.projection\.bias", "patch_embed/proj/bias"),
    Rule(r"embeddings\.cls_token", "cls_token/cls_token"),
    Rule(r"embeddings\.position_embeddings", "pos_embed/pos_embed"),
    Rule(r"encoder\.relative_position_bias\.relative_position_bias_table", "rel_pos_bias/relative_position_bias_table"),
    Rule(_L + r"layernorm_before\.weight", _LD + "norm1/gamma"),
    Rule(_L + r"layernorm_before\.bias", _LD + "norm1/beta"),
    Rule(_L + r"layernorm_after\.weight", _LD + "norm2/gamma"),
    Rule(_L + r"layernorm_after\.bias", _LD + "norm2/beta"),
    Rule(_SELF + r"query\.weight", _LD + "attn/qkv/kernel", linear, part=0),
    Rule(_SELF + r"key\.weight", _LD + "attn/qkv/kernel", linear, part=1),
    Rule(_SELF + r"value\.weight", _LD + "attn/qkv/kernel", linear, part=2),
    Rule(_SELF + r"query\.bias", _LD + "attn/q_bias"),
    Rule(_SELF + r"value\.bias", _LD + "attn/v_bias"),
    Rule(_SELF + r"relative_position_bias\.relative_position_bias_table", _LD + "attn/relative_position_bias/relative_position_bias_table"),
    Rule(_L + r"attention\.output\.dense\.weight", _LD + "attn/proj/kernel", linear),
    Rule(_L + r"attention\.output\.dense\.bias", _LD + "attn/proj/bias"),
    Rule(_L + r"intermediate\.dense\.weight", _LD + "mlp/fc1/kernel", linear),
    Rule(_L + r"intermediate\.dense\.bias", _LD + "mlp/fc1/bias"),
    Rule(_L + r"output\.dense\.weight", _LD + "mlp/fc2/kernel", linear),
    Rule(_L + r"output\.dense\.bias", _LD + "mlp/fc2/bias"),
    Rule(_L + r"lambda_([12])", _LD + "ls{1}/gamma"),
    # BeitModel's final LayerNorm (class-token pooling) or the pooler's (mean pooling).
    Rule(r"layernorm\.weight", "norm/gamma"),
    Rule(r"layernorm\.bias", "norm/beta"),
    Rule(r"pooler\.layernorm\.weight", "fc_norm/gamma"),
    Rule(r"pooler\.layernorm\.bias", "fc_norm/beta"),
    Rule(r"classifier\.weight", "head/kernel", linear),
    Rule(r"classifier\.bias", "head/bias"),
]

LAYOUTS = [
    Layout("transformers", lambda keys: any("patch_embeddings.projection" in k for k in keys), HF_RULES, strip=(),
           strip_each=("beit.",), ignore=(r".*relative_position_index",)),
    Layout("timm", lambda keys: any(k.endswith("patch_embed.proj.weight") for k in keys), TIMM_RULES, ignore=_TIMM_IGNORE),
]

convert, detect_layout = layout_converter("BEiT", LAYOUTS)


def _bilinear_tables(path, array, target_shape, model):
    """transformers' resize: the table grid bilinearly to ``(2 Wh' - 1, 2 Ww' - 1)``."""
    source = relative_table_source(path, array, target_shape, model)
    if source is None:
        return None
    layer, side = source
    new = (2 * layer.window_size[0] - 1, 2 * layer.window_size[1] - 1)
    grid = resample_grid(array[: side * side].reshape(side, side, -1), new, "bilinear").reshape(new[0] * new[1], -1)
    return np.concatenate([grid, array[side * side :]], axis=0)


def resample(layout):
    """Load-time hook: relative position tables (and absolute embeddings, where present)
    resized as the layout's reference does."""
    if layout == "transformers":
        return chain(_bilinear_tables, position_embeddings("bicubic"))
    return chain(relative_position_tables, position_embeddings("bicubic_antialias"))
