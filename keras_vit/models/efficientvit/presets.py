"""EfficientViT (MIT) B-series variants (timm's ``efficientvit_b0`` … ``b3``) and their weights.

Cai et al.'s ImageNet-1k checkpoints (mit-han-lab/efficientvit), re-published by timm on its
hub at several resolutions. ImageNet mean/std normalized RGB, Apache-2.0. Not Microsoft's
EfficientViT (``efficientvit_m*``), which is another network.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Cai, Li, Hu, Gan & Han, EfficientViT: Multi-Scale Linear Attention for High-Resolution Dense Prediction, ICCV 2023"
MEAN = IMAGENET_MEAN
STD = IMAGENET_STD
LICENSE = "apache-2.0"

VARIANTS = {
    "efficientvit_b0": dict(widths=(8, 16, 32, 64, 128), depths=(1, 2, 2, 2, 2), head_dim=16, head_widths=(1024, 1280)),
    "efficientvit_b1": dict(widths=(16, 32, 64, 128, 256), depths=(1, 2, 3, 3, 4), head_dim=16, head_widths=(1536, 1600)),
    "efficientvit_b2": dict(widths=(24, 48, 96, 192, 384), depths=(1, 3, 4, 4, 6), head_dim=32, head_widths=(2304, 2560)),
    "efficientvit_b3": dict(widths=(32, 64, 128, 256, 512), depths=(1, 4, 6, 6, 9), head_dim=32, head_widths=(2304, 2560)),
}
for _config in VARIANTS.values():
    _config["input_size"] = (224, 224)

# timm's counts with a 1000-class head (checked against timm by the registry-wide test;
# BatchNorm running statistics are buffers there, not counted).
PARAMETERS = {
    "efficientvit_b0": 3_410_008,
    "efficientvit_b1": 9_102_024,
    "efficientvit_b2": 24_330_712,
    "efficientvit_b3": 48_646_056,
}

TINY = dict(input_shape=(64, 64, 3), widths=(8, 8, 16, 16, 32), depths=(1, 2, 1, 1, 1), head_dim=8, head_widths=(32, 48), num_classes=5)

# Resolutions timm publishes per model (timm's pretrained tags r224_in1k, r256_in1k, r288_in1k).
_RESOLUTIONS = {
    "efficientvit_b0": (224,),
    "efficientvit_b1": (224, 256, 288),
    "efficientvit_b2": (224, 256, 288),
    "efficientvit_b3": (224, 256, 288),
}


def weights_for(name):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    return {
        f"r{size}_in1k": WeightsTag(
            f"r{size}_in1k", f"https://huggingface.co/timm/{name}.r{size}_in1k/resolve/main/model.safetensors", "timm",
            license=LICENSE, input_size=(size, size), mean=MEAN, std=STD,
        )
        for size in _RESOLUTIONS[name]
    }


WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: "r224_in1k" for name in VARIANTS}
REFERENCES = {name: ("timm", name) for name in VARIANTS}
