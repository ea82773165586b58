"""PVT v1 variants (paper, Table 1) and their published weights.

The authors' ImageNet-1k checkpoints (whai362/PVT, GitHub release v2) and their
transformers conversions on the Hugging Face hub (Zetatech/pvt-*-224). ImageNet mean/std
normalized RGB. There is no timm PVT v1: parameter counts are checked against transformers'
``PvtForImageClassification``.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Wang et al., Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions, ICCV 2021"
MEAN = IMAGENET_MEAN
STD = IMAGENET_STD

VARIANTS = {
    "pvt_tiny": dict(depths=(2, 2, 2, 2)),
    "pvt_small": dict(depths=(3, 4, 6, 3)),
    "pvt_medium": dict(depths=(3, 4, 18, 3)),
    "pvt_large": dict(depths=(3, 8, 27, 3)),
}
for _config in VARIANTS.values():
    _config["input_size"] = (224, 224)

# transformers' counts with a 1000-class head (checked by the registry-wide test); the
# paper's 13.2M, 24.5M, 44.2M and 61.4M.
PARAMETERS = {
    "pvt_tiny": 13_229_288,
    "pvt_small": 24_485_864,
    "pvt_medium": 44_208_104,
    "pvt_large": 61_369_320,
}

REFERENCES = {
    name: ("transformers", "PvtForImageClassification", "PvtConfig", dict(depths=list(config["depths"])))
    for name, config in VARIANTS.items()
}

TINY = dict(input_shape=(64, 64, 3), depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 32), num_heads=(1, 2, 2, 4), num_classes=5)

# The official code: LayerNorm epsilon 1e-5 in the patch embeddings and the spatial
# reduction (PyTorch's default); transformers uses 1e-6 everywhere.
_OFFICIAL_CONFIG = dict(patch_norm_epsilon=1e-5, sr_norm_epsilon=1e-5)
LAYOUT_PREPROCESSING = {"official": dict(mean=MEAN, std=STD, channel_order="rgb", **_OFFICIAL_CONFIG)}


def weights_for(name):
    size = name.split("_")[1]
    common = dict(license="apache-2.0", input_size=(224, 224), mean=MEAN, std=STD)
    return {
        "in1k": WeightsTag("in1k", f"https://huggingface.co/Zetatech/pvt-{size}-224/resolve/main/pytorch_model.bin", "transformers",
                           file_name=f"pvt-{size}-224.bin", **common),
        "official_in1k": WeightsTag("official_in1k", f"https://github.com/whai362/PVT/releases/download/v2/pvt_{size}.pth", "official",
                                    config=dict(_OFFICIAL_CONFIG), **common),
    }


WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: "in1k" for name in VARIANTS}
