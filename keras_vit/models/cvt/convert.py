"""Key maps from transformers and official (microsoft/CvT) CvT checkpoints.

Our layer names are the official module names with ``_`` for ``.``; the only regrouping is
``conv_proj_k``/``conv_proj_v``, which live under the attention's key/value step
``conv_proj_kv``. transformers renames every module (its conversion script,
``convert_cvt_original_pytorch_checkpoint_to_pytorch.py``, lists the pairs) and nests the
network under ``cvt.``.
"""
from ...weights.convert import Layout, Rule, conv2d, depthwise_conv2d, layout_converter, linear

_IGNORE = (r".*num_batches_tracked",)
_BN = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance"))
_OURS_PROJ = {"q": "conv_proj_q", "k": "conv_proj_kv/conv_proj_k", "v": "conv_proj_kv/conv_proj_v"}


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


def _dense(src, dst):
    return [Rule(src + r"\.weight", dst + "/kernel", linear), Rule(src + r"\.bias", dst + "/bias")]


def _rules(stage, block, names):
    """Rules of one layout; ``names`` maps our module names to the layout's (regex pieces)."""
    s, b = "stage{0}_", "stage{0}_blocks_{1}/"
    rules = [
        Rule(stage + names["cls_token"], s + "cls_token/cls_token"),
        Rule(stage + names["embed_proj"] + r"\.weight", s + "patch_embed_proj/kernel", conv2d),
        Rule(stage + names["embed_proj"] + r"\.bias", s + "patch_embed_proj/bias"),
        *_ln(stage + names["embed_norm"], s + "patch_embed_norm"),
        *_ln(block + names["norm1"], b + "norm1"),
        *_ln(block + names["norm2"], b + "norm2"),
        *_dense(block + names["proj"], b + "attn/proj"),
        *_dense(block + names["fc1"], b + "mlp/fc1"),
        *_dense(block + names["fc2"], b + "mlp/fc2"),
        *_ln(names["norm"], "norm"),
        *_dense(names["head"], "head"),
    ]
    for part, ours in _OURS_PROJ.items():
        conv, bn = names["conv_proj"](part)
        rules.append(Rule(block + conv + r"\.weight", b + f"attn/{ours}/conv/kernel", depthwise_conv2d))
        rules += [Rule(block + bn + rf"\.{theirs}", b + f"attn/{ours}/bn/{mine}") for theirs, mine in _BN]
        rules += _dense(block + names["linear"](part), b + f"attn/{part}")
    return rules


_HF_WORD = {"q": "query", "k": "key", "v": "value"}
HF_RULES = _rules(
    r"encoder\.stages\.(\d+)\.",
    r"encoder\.stages\.(\d+)\.layers\.(\d+)\.",
    dict(
        cls_token="cls_token",
        embed_proj=r"embedding\.convolution_embeddings\.projection",
        embed_norm=r"embedding\.convolution_embeddings\.normalization",
        norm1="layernorm_before",
        norm2="layernorm_after",
        proj=r"attention\.output\.dense",
        fc1=r"intermediate\.dense",
        fc2=r"output\.dense",
        norm="layernorm",
        head="classifier",
        conv_proj=lambda p: (
            rf"attention\.attention\.convolution_projection_{_HF_WORD[p]}\.convolution_projection\.convolution",
            rf"attention\.attention\.convolution_projection_{_HF_WORD[p]}\.convolution_projection\.normalization",
        ),
        linear=lambda p: rf"attention\.attention\.projection_{_HF_WORD[p]}",
    ),
)

OFFICIAL_RULES = _rules(
    r"stage(\d+)\.",
    r"stage(\d+)\.blocks\.(\d+)\.",
    dict(
        cls_token="cls_token",
        embed_proj=r"patch_embed\.proj",
        embed_norm=r"patch_embed\.norm",
        norm1="norm1",
        norm2="norm2",
        proj=r"attn\.proj",
        fc1=r"mlp\.fc1",
        fc2=r"mlp\.fc2",
        norm="norm",
        head="head",
        conv_proj=lambda p: (rf"attn\.conv_proj_{p}\.conv", rf"attn\.conv_proj_{p}\.bn"),
        linear=lambda p: rf"attn\.proj_{p}",
    ),
)

LAYOUTS = [
    Layout("transformers", lambda keys: any("convolution_embeddings.projection" in k for k in keys), HF_RULES, strip=(),
           strip_each=("cvt.",), ignore=_IGNORE),
    # The official training code saves DDP-wrapped models ("module.").
    Layout("official", lambda keys: any(k.endswith("patch_embed.proj.weight") and "stage0" in k for k in keys), OFFICIAL_RULES,
           strip=("module.",), ignore=_IGNORE),
]

convert, detect_layout = layout_converter("CvT", LAYOUTS)
