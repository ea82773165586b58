"""T2T-ViT variants (official ``models/t2t_vit.py``) and the checkpoints Yitu published.

``t2t_vit_*`` use Performer tokens-to-token blocks, ``t2t_vit_t_*`` transformer ones.

Attention scale: the official constructors use ``head_dim ** -0.5``, except when they load
the published weights, which were trained with ``embed_dim ** -0.5`` (``pretrained=True``
sets ``qk_scale``). The named variants here are the published models, so they set
``embed_dim ** -0.5``; pass ``qk_scale=None`` for the constructors' from-scratch default.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Yuan et al., Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet, ICCV 2021"

# (tokens_type, embed_dim, depth, num_heads, mlp_ratio) of the official constructors.
_SIZES = {
    "t2t_vit_7": ("performer", 256, 7, 4, 2.0),
    "t2t_vit_10": ("performer", 256, 10, 4, 2.0),
    "t2t_vit_12": ("performer", 256, 12, 4, 2.0),
    "t2t_vit_14": ("performer", 384, 14, 6, 3.0),
    "t2t_vit_19": ("performer", 448, 19, 7, 3.0),
    "t2t_vit_24": ("performer", 512, 24, 8, 3.0),
    "t2t_vit_t_14": ("transformer", 384, 14, 6, 3.0),
    "t2t_vit_t_19": ("transformer", 448, 19, 7, 3.0),
    "t2t_vit_t_24": ("transformer", 512, 24, 8, 3.0),
}
VARIANTS = {
    name: dict(tokens_type=t, embed_dim=d, depth=n, num_heads=h, mlp_ratio=r, qk_scale=d**-0.5, input_size=(224, 224))
    for name, (t, d, n, h, r) in _SIZES.items()
}

# Exact counts with a 1000-class head, frozen sinusoid table and performer features included
# (nn.Parameters in the official code).
PARAMETERS = {
    "t2t_vit_7": 4_310_222,
    "t2t_vit_10": 5_889_230,
    "t2t_vit_12": 6_941_902,
    "t2t_vit_14": 21_545_550,
    "t2t_vit_19": 39_177_422,
    "t2t_vit_24": 64_105_934,
    "t2t_vit_t_14": 21_541_070,
    "t2t_vit_t_19": 39_172_942,
    "t2t_vit_t_24": 64_101_454,
}

_README = "official README.md (ImageNet tables, #params)"
REFERENCES = {
    "t2t_vit_7": ("official", "full_models_t2t.json", "t2t_vit_7"),
    "t2t_vit_10": ("published", "5.9", _README),
    "t2t_vit_12": ("published", "6.9", _README),
    "t2t_vit_14": ("official", "full_models_t2t.json", "t2t_vit_14"),
    "t2t_vit_19": ("published", "39.2", _README),
    "t2t_vit_24": ("published", "64.1", _README),
    "t2t_vit_t_14": ("official", "full_models_t2t.json", "t2t_vit_t_14"),
    "t2t_vit_t_19": ("published", "39.2", _README),
    "t2t_vit_t_24": ("published", "64.1", _README),
}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

TINY = dict(input_shape=(64, 64, 3), embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, token_dim=16, qk_scale=32**-0.5, num_classes=5)

_RELEASES = "https://github.com/yitu-opensource/T2T-ViT/releases/download/main/"
_FILES = {
    "t2t_vit_7": "71.7_T2T_ViT_7.pth.tar",
    "t2t_vit_10": "75.2_T2T_ViT_10.pth.tar",
    "t2t_vit_12": "76.5_T2T_ViT_12.pth.tar",
    "t2t_vit_14": "81.5_T2T_ViT_14.pth.tar",
    "t2t_vit_19": "81.9_T2T_ViT_19.pth.tar",
    "t2t_vit_24": "82.3_T2T_ViT_24.pth.tar",
    "t2t_vit_t_14": "81.7_T2T_ViTt_14.pth.tar",
    "t2t_vit_t_19": "82.4_T2T_ViTt_19.pth.tar",
    "t2t_vit_t_24": "82.6_T2T_ViTt_24.pth.tar",
}
_LICENSE = "bsd-3-clause-clear"  # the repository's Clear BSD License
WEIGHTS = {
    name: {"in1k": WeightsTag("in1k", _RELEASES + file, "official", license=_LICENSE, mean=MEAN, std=STD)}
    for name, file in _FILES.items()
}
WEIGHTS["t2t_vit_14"]["in1k_384"] = WeightsTag(
    "in1k_384", _RELEASES + "83.3_T2T_ViT_14.pth.tar", "official", license=_LICENSE, input_size=(384, 384), mean=MEAN, std=STD
)
WEIGHTS["t2t_vit_24"]["in1k_token_labeling"] = WeightsTag(
    "in1k_token_labeling", _RELEASES + "84.2_T2T_ViT_24.pth.tar", "official", license=_LICENSE, mean=MEAN, std=STD
)
DEFAULT_WEIGHTS = {name: "in1k" for name in _FILES}
