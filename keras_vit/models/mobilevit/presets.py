"""MobileViT variants (paper, Table 4 / ml-cvnets configs) and their published weights.

The same ImageNet-1k checkpoints were published three times: by Apple (ml-cvnets ``.pt``),
converted by timm (expects RGB) and by Hugging Face transformers (keeps ml-cvnets' BGR
input order). All take pixels in [0, 1] without mean/std normalization.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Mehta & Rastegari, MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer, ICLR 2022"

_COMMON = dict(stem_channels=16, block_depths=(1, 3), transformer_depths=(2, 4, 3), patch_size=2, num_heads=4, mlp_ratio=2.0)

VARIANTS = {
    "mobilevit_xxs": dict(_COMMON, channels=(16, 24, 48, 64, 80), transformer_dims=(64, 80, 96), expand_ratio=2.0, num_features=320),
    "mobilevit_xs": dict(_COMMON, channels=(32, 48, 64, 80, 96), transformer_dims=(96, 120, 144), expand_ratio=4.0, num_features=384),
    "mobilevit_s": dict(_COMMON, channels=(32, 64, 96, 128, 160), transformer_dims=(144, 192, 240), expand_ratio=4.0, num_features=640),
}

# Parameter counts of timm's mobilevit_xxs/xs/s with a 1000-class head (BatchNorm running
# statistics are buffers there, so they are not counted: we count trainable parameters).
PARAMETERS = {
    "mobilevit_xxs": 1_272_024,
    "mobilevit_xs": 2_317_848,
    "mobilevit_s": 5_578_632,
}

INPUT_SIZE = (256, 256)
for _config in VARIANTS.values():
    _config["input_size"] = INPUT_SIZE

TINY = dict(
    input_shape=(64, 64, 3), stem_channels=8, channels=(8, 8, 16, 16, 16), block_depths=(1, 1),
    transformer_dims=(16, 16, 16), transformer_depths=(1, 1, 1), expand_ratio=2.0, num_features=16, num_heads=2, num_classes=5,
)
MEAN = (0.0, 0.0, 0.0)
STD = (1.0, 1.0, 1.0)
LICENSE = "apple-ascl"  # Apple sample code license (ml-cvnets), kept by timm and transformers

# Input convention of each checkpoint layout, for files given as a path.
LAYOUT_PREPROCESSING = {
    "timm": dict(mean=MEAN, std=STD, channel_order="rgb"),
    "transformers": dict(mean=MEAN, std=STD, channel_order="bgr"),
    "cvnets": dict(mean=MEAN, std=STD, channel_order="bgr"),
}

_TRANSFORMERS_REPOS = {
    "mobilevit_xxs": "apple/mobilevit-xx-small",
    "mobilevit_xs": "apple/mobilevit-x-small",
    "mobilevit_s": "apple/mobilevit-small",
}
_CVNETS = "https://docs-assets.developer.apple.com/ml-research/models/cvnets/classification/"


def weights_for(name):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    common = dict(license=LICENSE, input_size=INPUT_SIZE, mean=MEAN, std=STD)
    return {
        "cvnets_in1k": WeightsTag(
            "cvnets_in1k", f"https://huggingface.co/timm/{name}.cvnets_in1k/resolve/main/model.safetensors", "timm",
            channel_order="rgb", **common,
        ),
        # transformers' conversion keeps ml-cvnets' BGR input order.
        "hf_in1k": WeightsTag(
            "hf_in1k", f"https://huggingface.co/{_TRANSFORMERS_REPOS[name]}/resolve/main/pytorch_model.bin", "transformers",
            channel_order="bgr", **common,
        ),
        "cvnets_orig_in1k": WeightsTag(
            "cvnets_orig_in1k", f"{_CVNETS}{name}.pt", "cvnets", channel_order="bgr", **common,
        ),
    }


DEFAULT_TAG = "cvnets_in1k"
WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: DEFAULT_TAG for name in VARIANTS}
