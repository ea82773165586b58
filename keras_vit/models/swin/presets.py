"""Swin variants (paper, Table 1 / timm) and their published weights.

Microsoft released ImageNet-1k and ImageNet-22k (then fine-tuned on 1k) checkpoints; timm
re-publishes them on its hub, and Microsoft published transformers conversions. All take
ImageNet mean/std normalized RGB.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Liu et al., Swin Transformer: Hierarchical Vision Transformer using Shifted Windows, ICCV 2021"
MEAN = IMAGENET_MEAN
STD = IMAGENET_STD

_SIZES = {
    "tiny": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    "small": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    "base": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    "large": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}
_NAMES = [("tiny", 7, 224), ("small", 7, 224), ("base", 7, 224), ("base", 12, 384), ("large", 7, 224), ("large", 12, 384)]
VARIANTS = {
    f"swin_{size}_patch4_window{window}_{res}": dict(patch_size=4, window_size=window, input_size=(res, res), **_SIZES[size])
    for size, window, res in _NAMES
}

# timm's counts with a 1000-class head (checked against timm by the registry-wide test).
PARAMETERS = {
    "swin_tiny_patch4_window7_224": 28_288_354,
    "swin_small_patch4_window7_224": 49_606_258,
    "swin_base_patch4_window7_224": 87_768_224,
    "swin_base_patch4_window12_384": 87_903_584,
    "swin_large_patch4_window7_224": 196_532_476,
    "swin_large_patch4_window12_384": 196_735_516,
}

# Shifted windows, padding and patch merging of an odd map all happen at this size.
TINY = dict(input_shape=(64, 64, 3), embed_dim=16, depths=(2, 2, 2), num_heads=(1, 2, 2), window_size=3, num_classes=5)

# transformers pads a map before shifting it, timm after: same weights, other order.
LAYOUT_PREPROCESSING = {"transformers": dict(mean=MEAN, std=STD, channel_order="rgb", pad_before_shift=True)}

_TIMM_TAGS = {
    "swin_tiny_patch4_window7_224": ("ms_in1k", "ms_in22k_ft_in1k", "ms_in22k"),
    "swin_small_patch4_window7_224": ("ms_in22k_ft_in1k", "ms_in1k", "ms_in22k"),
    "swin_base_patch4_window7_224": ("ms_in22k_ft_in1k", "ms_in1k", "ms_in22k"),
    "swin_base_patch4_window12_384": ("ms_in22k_ft_in1k", "ms_in1k", "ms_in22k"),
    "swin_large_patch4_window7_224": ("ms_in22k_ft_in1k", "ms_in22k"),
    "swin_large_patch4_window12_384": ("ms_in22k_ft_in1k", "ms_in22k"),
}
# Microsoft's transformers checkpoints (ImageNet-1k heads; 22k-pretrained where so named).
_TRANSFORMERS = {
    "swin_tiny_patch4_window7_224": "microsoft/swin-tiny-patch4-window7-224",
    "swin_small_patch4_window7_224": "microsoft/swin-small-patch4-window7-224",
    "swin_base_patch4_window7_224": "microsoft/swin-base-patch4-window7-224",
    "swin_base_patch4_window12_384": "microsoft/swin-base-patch4-window12-384",
    "swin_large_patch4_window7_224": "microsoft/swin-large-patch4-window7-224",
    "swin_large_patch4_window12_384": "microsoft/swin-large-patch4-window12-384",
}


def weights_for(name, resolution):
    size = (resolution, resolution)
    common = dict(license="mit", input_size=size, mean=MEAN, std=STD)
    tags = {}
    for tag in _TIMM_TAGS[name]:
        url = f"https://huggingface.co/timm/{name}.{tag}/resolve/main/model.safetensors"
        tags[tag] = WeightsTag(tag, url, "timm", num_classes=21841 if tag == "ms_in22k" else 1000, **common)
    url = f"https://huggingface.co/{_TRANSFORMERS[name]}/resolve/main/model.safetensors"
    tags["hf_in1k"] = WeightsTag("hf_in1k", url, "transformers", config=dict(pad_before_shift=True), **common)
    return tags


WEIGHTS = {name: weights_for(name, variant["input_size"][0]) for name, variant in VARIANTS.items()}
DEFAULT_WEIGHTS = {name: tags[0] for name, tags in _TIMM_TAGS.items()}
