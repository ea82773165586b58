"""PVT v2 variants (paper, Table 1 / timm) and their published weights.

The authors' ImageNet-1k checkpoints (whai362/PVT) are re-published by timm on its hub and
by OpenGVLab as transformers checkpoints. ImageNet mean/std normalized RGB.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Wang et al., PVT v2: Improved Baselines with Pyramid Vision Transformer, Computational Visual Media 2022"
MEAN = IMAGENET_MEAN
STD = IMAGENET_STD

_WIDE = dict(embed_dims=(64, 128, 320, 512), num_heads=(1, 2, 5, 8))
VARIANTS = {
    "pvt_v2_b0": dict(depths=(2, 2, 2, 2), embed_dims=(32, 64, 160, 256), num_heads=(1, 2, 5, 8)),
    "pvt_v2_b1": dict(depths=(2, 2, 2, 2), **_WIDE),
    "pvt_v2_b2": dict(depths=(3, 4, 6, 3), **_WIDE),
    "pvt_v2_b3": dict(depths=(3, 4, 18, 3), **_WIDE),
    "pvt_v2_b4": dict(depths=(3, 8, 27, 3), **_WIDE),
    "pvt_v2_b5": dict(depths=(3, 6, 40, 3), mlp_ratios=(4.0, 4.0, 4.0, 4.0), **_WIDE),
    "pvt_v2_b2_li": dict(depths=(3, 4, 6, 3), linear=True, **_WIDE),
}
for _config in VARIANTS.values():
    _config["input_size"] = (224, 224)

# timm's counts with a 1000-class head (checked against timm by the registry-wide test).
PARAMETERS = {
    "pvt_v2_b0": 3_666_760,
    "pvt_v2_b1": 14_009_000,
    "pvt_v2_b2": 25_362_856,
    "pvt_v2_b3": 45_238_696,
    "pvt_v2_b4": 62_556_072,
    "pvt_v2_b5": 81_956_008,
    "pvt_v2_b2_li": 22_553_512,
}

TINY = dict(input_shape=(64, 64, 3), depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 32), num_heads=(1, 2, 2, 4), num_classes=5)

# transformers uses one LayerNorm epsilon (1e-6) everywhere; timm 1e-5 in the patch
# embeddings and the spatial reduction.
_HF_CONFIG = dict(patch_norm_epsilon=1e-6, sr_norm_epsilon=1e-6)
LAYOUT_PREPROCESSING = {"transformers": dict(mean=MEAN, std=STD, channel_order="rgb", **_HF_CONFIG)}


def weights_for(name):
    common = dict(license="apache-2.0", input_size=(224, 224), mean=MEAN, std=STD)
    return {
        "in1k": WeightsTag("in1k", f"https://huggingface.co/timm/{name}.in1k/resolve/main/model.safetensors", "timm", **common),
        "hf_in1k": WeightsTag("hf_in1k", f"https://huggingface.co/OpenGVLab/{name}/resolve/main/model.safetensors", "transformers",
                              config=dict(_HF_CONFIG), **common),
    }


WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: "in1k" for name in VARIANTS}
