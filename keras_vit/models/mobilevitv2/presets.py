"""MobileViT v2 variants (paper, Table 6 / ml-cvnets configs) and their published weights.

One architecture at seven width multipliers: stage widths ``int(c * m)`` of
(64, 128, 256, 384, 512), a stem of ``int(32 * m)``, and transformers half as wide as the
block they sit in (rounded to a multiple of 8). Apple released the ImageNet-1k weights with
ml-cvnets; timm converted them (RGB input in [0, 1], no mean/std normalization). The
tags are timm's files; ml-cvnets ``.pt`` files load when given as a path.
"""
from ...weights.tags import WeightsTag
from ..mobilevit.model import make_divisible
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Mehta & Rastegari, Separable Self-attention for Mobile Vision Transformers, TMLR 2023"

MULTIPLIERS = {"050": 0.5, "075": 0.75, "100": 1.0, "125": 1.25, "150": 1.5, "175": 1.75, "200": 2.0}


def _variant(multiplier):
    """Constructor keywords of the network at a width multiplier (ml-cvnets' rounding)."""
    channels = tuple(int(c * multiplier) for c in (64, 128, 256, 384, 512))
    return dict(
        stem_channels=int(32 * multiplier),
        channels=channels,
        block_depths=(1, 2),
        transformer_dims=tuple(make_divisible(0.5 * c) for c in channels[2:]),
        transformer_depths=(2, 4, 3),
        expand_ratio=2.0,
        patch_size=2,
        mlp_ratio=2.0,
    )


INPUT_SIZE = (256, 256)
VARIANTS = {f"mobilevitv2_{suffix}": dict(_variant(m), input_size=INPUT_SIZE) for suffix, m in MULTIPLIERS.items()}

# Parameter counts of timm's mobilevitv2_* with a 1000-class head (BatchNorm running
# statistics are buffers there, so they are not counted: we count trainable parameters).
PARAMETERS = {
    "mobilevitv2_050": 1_370_593,
    "mobilevitv2_075": 2_866_009,
    "mobilevitv2_100": 4_901_841,
    "mobilevitv2_125": 7_478_089,
    "mobilevitv2_150": 10_594_753,
    "mobilevitv2_175": 14_251_833,
    "mobilevitv2_200": 18_449_329,
}
REFERENCES = {name: ("timm", name) for name in VARIANTS}

TINY = dict(
    input_shape=(64, 64, 3), stem_channels=8, channels=(8, 16, 16, 16, 24), block_depths=(1, 2),
    transformer_dims=(8, 8, 16), transformer_depths=(1, 1, 1), num_classes=5,
)
MEAN = (0.0, 0.0, 0.0)
STD = (1.0, 1.0, 1.0)
LICENSE = "apple-ascl"  # Apple sample code license (ml-cvnets), kept by timm ("cvnets-license")

# Input convention of each checkpoint layout, for files given as a path: ml-cvnets' own files
# take BGR (transformers' MobileViT v2 image processor flips RGB for the same weights), timm's RGB.
LAYOUT_PREPROCESSING = {
    "timm": dict(mean=MEAN, std=STD, channel_order="rgb"),
    "cvnets": dict(mean=MEAN, std=STD, channel_order="bgr"),
}


def weights_for(name):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    return {
        "cvnets_in1k": WeightsTag(
            "cvnets_in1k", f"https://huggingface.co/timm/{name}.cvnets_in1k/resolve/main/model.safetensors", "timm",
            license=LICENSE, input_size=INPUT_SIZE, mean=MEAN, std=STD, channel_order="rgb",
        ),
    }


DEFAULT_TAG = "cvnets_in1k"
WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: DEFAULT_TAG for name in VARIANTS}
