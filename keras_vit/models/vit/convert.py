"""Key maps from timm, transformers and Google (JAX/Flax ``.npz``) ViT checkpoints."""
from ...weights.convert import Layout, Rule, conv2d, layout_converter, linear, strip_prefix
from ...weights.resampling import position_embeddings

# timm: one Linear per projection, qkv already fused in our order.
TIMM_RULES = [
    Rule(r"patch_embed\.proj\.weight", "patch_embed/proj/kernel", conv2d),
    Rule(r"patch_embed\.proj\.bias", "patch_embed/proj/bias"),
    Rule(r"cls_token", "cls_token/cls_token"),
    Rule(r"dist_token", "cls_token/dist_token"),
    Rule(r"pos_embed", "pos_embed/pos_embed"),
    Rule(r"blocks\.(\d+)\.norm([12])\.weight", "blocks_{0}/norm{1}/gamma"),
    Rule(r"blocks\.(\d+)\.norm([12])\.bias", "blocks_{0}/norm{1}/beta"),
    Rule(r"blocks\.(\d+)\.attn\.(qkv|proj)\.weight", "blocks_{0}/attn/{1}/kernel", linear),
    Rule(r"blocks\.(\d+)\.attn\.(qkv|proj)\.bias", "blocks_{0}/attn/{1}/bias"),
    Rule(r"blocks\.(\d+)\.mlp\.(fc[12])\.weight", "blocks_{0}/mlp/{1}/kernel", linear),
    Rule(r"blocks\.(\d+)\.mlp\.(fc[12])\.bias", "blocks_{0}/mlp/{1}/bias"),
    Rule(r"blocks\.(\d+)\.(ls[12])\.gamma", "blocks_{0}/{1}/gamma"),
    Rule(r"(norm|fc_norm)\.weight", "{0}/gamma"),
    Rule(r"(norm|fc_norm)\.bias", "{0}/beta"),
    Rule(r"(head|head_dist)\.weight", "{0}/kernel", linear),
    Rule(r"(head|head_dist)\.bias", "{0}/bias"),
]

# transformers' ViTForImageClassification / ViTModel: separate q, k, v Linears.
_HF_LAYER = r"encoder\.layer\.(\d+)\."
HF_RULES = [
    Rule(r"embeddings\.patch_embeddings\.projection\.weight", "patch_embed/proj/kernel", conv2d),
    Rule(r"embeddings\.patch_embeddings\.projection\.bias", "patch_embed/proj/bias"),
    Rule(r"embeddings\.cls_token", "cls_token/cls_token"),
    Rule(r"embeddings\.distillation_token", "cls_token/dist_token"),
    Rule(r"embeddings\.position_embeddings", "pos_embed/pos_embed"),
    Rule(_HF_LAYER + r"layernorm_before\.weight", "blocks_{0}/norm1/gamma"),
    Rule(_HF_LAYER + r"layernorm_before\.bias", "blocks_{0}/norm1/beta"),
    Rule(_HF_LAYER + r"layernorm_after\.weight", "blocks_{0}/norm2/gamma"),
    Rule(_HF_LAYER + r"layernorm_after\.bias", "blocks_{0}/norm2/beta"),
    Rule(_HF_LAYER + r"attention\.attention\.query\.weight", "blocks_{0}/attn/qkv/kernel", linear, part=0),
    Rule(_HF_LAYER + r"attention\.attention\.key\.weight", "blocks_{0}/attn/qkv/kernel", linear, part=1),
    Rule(_HF_LAYER + r"attention\.attention\.value\.weight", "blocks_{0}/attn/qkv/kernel", linear, part=2),
    Rule(_HF_LAYER + r"attention\.attention\.query\.bias", "blocks_{0}/attn/qkv/bias", part=0),
    Rule(_HF_LAYER + r"attention\.attention\.key\.bias", "blocks_{0}/attn/qkv/bias", part=1),
    Rule(_HF_LAYER + r"attention\.attention\.value\.bias", "blocks_{0}/attn/qkv/bias", part=2),
    Rule(_HF_LAYER + r"attention\.output\.dense\.weight", "blocks_{0}/attn/proj/kernel", linear),
    Rule(_HF_LAYER + r"attention\.output\.dense\.bias", "blocks_{0}/attn/proj/bias"),
    Rule(_HF_LAYER + r"intermediate\.dense\.weight", "blocks_{0}/mlp/fc1/kernel", linear),
    Rule(_HF_LAYER + r"intermediate\.dense\.bias", "blocks_{0}/mlp/fc1/bias"),
    Rule(_HF_LAYER + r"output\.dense\.weight", "blocks_{0}/mlp/fc2/kernel", linear),
    Rule(_HF_LAYER + r"output\.dense\.bias", "blocks_{0}/mlp/fc2/bias"),
    Rule(r"layernorm\.weight", "norm/gamma"),
    Rule(r"layernorm\.bias", "norm/beta"),
    Rule(r"(?:cls_)?classifier\.weight", "head/kernel", linear),
    Rule(r"(?:cls_)?classifier\.bias", "head/bias"),
    # DeiTForImageClassificationWithTeacher's second head.
    Rule(r"distillation_classifier\.weight", "head_dist/kernel", linear),
    Rule(r"distillation_classifier\.bias", "head_dist/bias"),
]


def _flatten_in(x):
    """Flax DenseGeneral (C, heads, head_dim) -> Dense (C, heads * head_dim)."""
    return x.reshape(x.shape[0], -1)


def _flatten_bias(x):
    return x.reshape(-1)


def _flatten_out(x):
    """Flax DenseGeneral (heads, head_dim, C) -> Dense (heads * head_dim, C)."""
    return x.reshape(-1, x.shape[-1])


def _google_rules(mha, mlp, ln2):
    # The original ViT code numbers a block's submodules in creation order
    # (LayerNorm_0, MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3); big_vision
    # numbers per type (LayerNorm_0, MultiHeadDotProductAttention_0, LayerNorm_1, MlpBlock_0).
    blk = r"Transformer/encoderblock_(\d+)/"
    rules = [
        Rule(r"embedding/kernel", "patch_embed/proj/kernel"),
        Rule(r"embedding/bias", "patch_embed/proj/bias"),
        Rule(r"cls", "cls_token/cls_token"),
        Rule(r"(?:Transformer/posembed_input/)?pos_embedding", "pos_embed/pos_embed"),
        Rule(blk + r"LayerNorm_0/scale", "blocks_{0}/norm1/gamma"),
        Rule(blk + r"LayerNorm_0/bias", "blocks_{0}/norm1/beta"),
        Rule(blk + f"LayerNorm_{ln2}/scale", "blocks_{0}/norm2/gamma"),
        Rule(blk + f"LayerNorm_{ln2}/bias", "blocks_{0}/norm2/beta"),
        Rule(blk + f"MlpBlock_{mlp}/Dense_0/kernel", "blocks_{0}/mlp/fc1/kernel"),
        Rule(blk + f"MlpBlock_{mlp}/Dense_0/bias", "blocks_{0}/mlp/fc1/bias"),
        Rule(blk + f"MlpBlock_{mlp}/Dense_1/kernel", "blocks_{0}/mlp/fc2/kernel"),
        Rule(blk + f"MlpBlock_{mlp}/Dense_1/bias", "blocks_{0}/mlp/fc2/bias"),
        Rule(blk + f"MultiHeadDotProductAttention_{mha}/out/kernel", "blocks_{0}/attn/proj/kernel", _flatten_out),
        Rule(blk + f"MultiHeadDotProductAttention_{mha}/out/bias", "blocks_{0}/attn/proj/bias"),
        Rule(r"Transformer/encoder_norm/scale", "norm/gamma"),
        Rule(r"Transformer/encoder_norm/bias", "norm/beta"),
        Rule(r"head/kernel", "head/kernel"),
        Rule(r"head/bias", "head/bias"),
    ]
    for part, name in enumerate(("query", "key", "value")):
        rules.append(Rule(blk + f"MultiHeadDotProductAttention_{mha}/{name}/kernel", "blocks_{0}/attn/qkv/kernel", _flatten_in, part=part))
        rules.append(Rule(blk + f"MultiHeadDotProductAttention_{mha}/{name}/bias", "blocks_{0}/attn/qkv/bias", _flatten_bias, part=part))
    return rules


def _unscan(state):
    """big_vision may store the blocks stacked ("encoderblock/...", leading depth axis)."""
    out = {}
    for key, value in state.items():
        if key.startswith("Transformer/encoderblock/"):
            rest = key[len("Transformer/encoderblock/"):]
            for i in range(value.shape[0]):
                out[f"Transformer/encoderblock_{i}/{rest}"] = value[i]
        else:
            out[key] = value
    return out


def _google_prepare(state):
    return _unscan(strip_prefix(state, ("opt/target/", "params/img/", "params/")))


def _google_rules_for(state):
    big_vision = any("MultiHeadDotProductAttention_0" in k for k in state)
    return _google_rules(*((0, 0, 1) if big_vision else (1, 3, 2)))


LAYOUTS = [
    Layout("google", lambda keys: any(k.endswith("embedding/kernel") for k in keys), _google_rules_for, strip=(),
           prepare=_google_prepare, ignore=(r"pre_logits/.*",)),  # timm drops in21k's representation layer too
    Layout("transformers", lambda keys: any("patch_embeddings.projection" in k for k in keys), HF_RULES, strip=(),
           strip_each=("vit.", "deit."), ignore=(r"pooler\..*",)),
    Layout("timm", lambda keys: any(k.endswith("patch_embed.proj.weight") for k in keys), TIMM_RULES),
]

convert, detect_layout = layout_converter("ViT", LAYOUTS)

# Each source's reference resizes position embeddings its own way (see layers/resample.py).
RESAMPLE_METHODS = {"timm": "bicubic_antialias", "transformers": "bicubic", "google": "bilinear", "keras_vit": "bicubic_antialias"}


def resample(layout):
    """The load-time hook of a layout: position embeddings resampled as its reference does."""
    return position_embeddings(RESAMPLE_METHODS.get(layout, "bicubic_antialias"))
