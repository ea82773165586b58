"""ViT variants (sizes from the ViT paper, Table 1; Ti/S from DeiT) and their published weights.

Weights come from where they were published: Google's "How to train your ViT" (augreg)
``.npz`` files, timm's Hugging Face hub files (``augreg2``, ``orig``: Google's original
JAX weights converted by timm), and Google's transformers checkpoints.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

SIZES = {
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "base": dict(embed_dim=768, depth=12, num_heads=12),
    "large": dict(embed_dim=1024, depth=24, num_heads=16),
    "huge": dict(embed_dim=1280, depth=32, num_heads=16),
}

PAPER = "Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021"
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# (size, patch, resolution) of every registered name.
_NAMES = [
    ("tiny", 16, 224), ("tiny", 16, 384),
    ("small", 16, 224), ("small", 16, 384), ("small", 32, 224), ("small", 32, 384),
    ("base", 16, 224), ("base", 16, 384), ("base", 32, 224), ("base", 32, 384),
    ("large", 16, 224), ("large", 16, 384), ("large", 32, 224), ("large", 32, 384),
    ("huge", 14, 224),
]
VARIANTS = {
    f"vit_{size}_patch{patch}_{res}": dict(patch_size=patch, input_size=(res, res), **SIZES[size])
    for size, patch, res in _NAMES
}

# A configuration small enough for tests of every code path.
TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=4, num_heads=2, num_classes=5)

# Parameter counts of timm's VisionTransformer with a 1000-class head (the registry-wide
# test checks them against timm).
PARAMETERS = {
    "vit_tiny_patch16_224": 5_717_416,
    "vit_tiny_patch16_384": 5_790_376,
    "vit_small_patch16_224": 22_050_664,
    "vit_small_patch16_384": 22_196_584,
    "vit_small_patch32_224": 22_878_952,
    "vit_small_patch32_384": 22_915_432,
    "vit_base_patch16_224": 86_567_656,
    "vit_base_patch16_384": 86_859_496,
    "vit_base_patch32_224": 88_224_232,
    "vit_base_patch32_384": 88_297_192,
    "vit_large_patch16_224": 304_326_632,
    "vit_large_patch16_384": 304_715_752,
    "vit_large_patch32_224": 306_535_400,
    "vit_large_patch32_384": 306_632_680,
    "vit_huge_patch14_224": 632_045_800,
}

_AUGREG = "https://storage.googleapis.com/vit_models/augreg/"
# Google's augreg file names encode the pre-training and fine-tuning hyper-parameters.
_AUGREG_FILES = {
    ("vit_tiny_patch16_224", "augreg_in21k_ft_in1k"): "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz",
    ("vit_tiny_patch16_384", "augreg_in21k_ft_in1k"): "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_384.npz",
    ("vit_tiny_patch16_224", "augreg_in21k"): "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0.npz",
    ("vit_small_patch32_224", "augreg_in21k_ft_in1k"): "S_32-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz",
    ("vit_small_patch32_384", "augreg_in21k_ft_in1k"): "S_32-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_384.npz",
    ("vit_small_patch32_224", "augreg_in21k"): "S_32-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0.npz",
    ("vit_small_patch16_224", "augreg_in21k_ft_in1k"): "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz",
    ("vit_small_patch16_384", "augreg_in21k_ft_in1k"): "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_384.npz",
    ("vit_small_patch16_224", "augreg_in21k"): "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0.npz",
    ("vit_small_patch16_224", "augreg_in1k"): "S_16-i1k-300ep-lr_0.001-aug_medium2-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_224.npz",
    ("vit_small_patch16_384", "augreg_in1k"): "S_16-i1k-300ep-lr_0.001-aug_medium2-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_384.npz",
    ("vit_base_patch32_224", "augreg_in21k_ft_in1k"): "B_32-i21k-300ep-lr_0.001-aug_medium1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz",
    ("vit_base_patch32_384", "augreg_in21k_ft_in1k"): "B_32-i21k-300ep-lr_0.001-aug_light1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_384.npz",
    ("vit_base_patch32_224", "augreg_in21k"): "B_32-i21k-300ep-lr_0.001-aug_medium1-wd_0.03-do_0.0-sd_0.0.npz",
    ("vit_base_patch32_224", "augreg_in1k"): "B_32-i1k-300ep-lr_0.001-aug_medium2-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_224.npz",
    ("vit_base_patch32_384", "augreg_in1k"): "B_32-i1k-300ep-lr_0.001-aug_medium2-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_384.npz",
    ("vit_base_patch16_224", "augreg_in21k_ft_in1k"): "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_224.npz",
    ("vit_base_patch16_384", "augreg_in21k_ft_in1k"): "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_384.npz",
    ("vit_base_patch16_224", "augreg_in21k"): "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz",
    ("vit_base_patch16_224", "augreg_in1k"): "B_16-i1k-300ep-lr_0.001-aug_strong2-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_224.npz",
    ("vit_base_patch16_384", "augreg_in1k"): "B_16-i1k-300ep-lr_0.001-aug_strong2-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_384.npz",
    ("vit_large_patch16_224", "augreg_in21k_ft_in1k"): "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_224.npz",
    ("vit_large_patch16_384", "augreg_in21k_ft_in1k"): "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_384.npz",
    ("vit_large_patch16_224", "augreg_in21k"): "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1.npz",
}

# Checkpoints published through timm's hub (safetensors); num_classes 0 = no head.
_TIMM_HUB = {
    "vit_base_patch16_224": {"augreg2_in21k_ft_in1k": 1000, "orig_in21k_ft_in1k": 1000, "orig_in21k": 0},
    "vit_base_patch16_384": {"orig_in21k_ft_in1k": 1000},
    "vit_base_patch32_224": {"orig_in21k": 0},
    "vit_large_patch32_224": {"orig_in21k": 0},
    "vit_large_patch32_384": {"orig_in21k_ft_in1k": 1000},
    "vit_large_patch16_224": {"orig_in21k": 0},
    "vit_huge_patch14_224": {"orig_in21k": 0},
}

# Google's own transformers checkpoints (ImageNet-21k pre-trained, ImageNet-1k fine-tuned).
_TRANSFORMERS = {
    "vit_base_patch16_224": "google/vit-base-patch16-224",
    "vit_base_patch16_384": "google/vit-base-patch16-384",
    "vit_base_patch32_384": "google/vit-base-patch32-384",
    "vit_large_patch16_224": "google/vit-large-patch16-224",
    "vit_large_patch16_384": "google/vit-large-patch16-384",
    "vit_large_patch32_384": "google/vit-large-patch32-384",
}

# Preferred default tag per model, best ImageNet-1k accuracy first.
_DEFAULT_ORDER = ("augreg2_in21k_ft_in1k", "augreg_in21k_ft_in1k", "orig_in21k_ft_in1k", "augreg_in1k", "hf_in21k_ft_in1k")


def weights_for(name, resolution):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    size = (resolution, resolution)
    tags = {}
    for (model, tag), file in _AUGREG_FILES.items():
        if model == name:
            classes = 21843 if tag == "augreg_in21k" else 1000
            tags[tag] = WeightsTag(tag, _AUGREG + file, "google", input_size=size, num_classes=classes)
    for tag, classes in _TIMM_HUB.get(name, {}).items():
        url = f"https://huggingface.co/timm/{name}.{tag}/resolve/main/model.safetensors"
        tags[tag] = WeightsTag(tag, url, "timm", input_size=size, num_classes=classes)
    if name in _TRANSFORMERS:
        repo = _TRANSFORMERS[name]
        url = f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
        tags["hf_in21k_ft_in1k"] = WeightsTag("hf_in21k_ft_in1k", url, "transformers", input_size=size)
    return tags


def default_tag(tags):
    for tag in _DEFAULT_ORDER:
        if tag in tags:
            return tag
    return None


WEIGHTS = {name: weights_for(name, variant["input_size"][0]) for name, variant in VARIANTS.items()}
DEFAULT_WEIGHTS = {name: default_tag(tags) for name, tags in WEIGHTS.items()}
