"""DeiT variants: ViT sizes trained with DeiT's recipe, and the distilled ones with a
distillation token and head; Facebook's weights as timm and transformers publish them.

"Training data-efficient image transformers & distillation through attention", Touvron et
al., ICML 2021 (https://arxiv.org/abs/2012.12877). The architecture is ViT's; the
``_distilled`` variants add a distillation token and a second head trained against a
teacher (see ``keras_vit.training``). At inference the two heads' logits are averaged.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...weights.tags import WeightsTag
from ..vit.presets import SIZES
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Touvron et al., Training data-efficient image transformers & distillation through attention, ICML 2021"
MEAN, STD = IMAGENET_MEAN, IMAGENET_STD

_NAMES = {  # name -> (size, resolution, distilled)
    "deit_tiny_patch16_224": ("tiny", 224, False),
    "deit_small_patch16_224": ("small", 224, False),
    "deit_base_patch16_224": ("base", 224, False),
    "deit_base_patch16_384": ("base", 384, False),
    "deit_tiny_distilled_patch16_224": ("tiny", 224, True),
    "deit_small_distilled_patch16_224": ("small", 224, True),
    "deit_base_distilled_patch16_224": ("base", 224, True),
    "deit_base_distilled_patch16_384": ("base", 384, True),
}
VARIANTS = {
    name: dict(patch_size=16, distilled=distilled, input_size=(res, res), **SIZES[size])
    for name, (size, res, distilled) in _NAMES.items()
}

# Parameters with a 1000-class head, as timm counts them.
PARAMETERS = {
    "deit_tiny_patch16_224": 5_717_416,
    "deit_small_patch16_224": 22_050_664,
    "deit_base_patch16_224": 86_567_656,
    "deit_base_patch16_384": 86_859_496,
    "deit_tiny_distilled_patch16_224": 5_910_800,
    "deit_small_distilled_patch16_224": 22_436_432,
    "deit_base_distilled_patch16_224": 87_338_192,
    "deit_base_distilled_patch16_384": 87_630_032,
}

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=4, num_heads=2, num_classes=5)


def _tags(name, size, resolution, distilled):
    # Facebook's weights as re-published on timm's hub (safetensors, no torch needed), and
    # Facebook's own transformers checkpoints.
    kind = f"{size}-distilled" if distilled else size
    common = dict(input_size=(resolution, resolution), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    return {
        "fb_in1k": WeightsTag("fb_in1k", f"https://huggingface.co/timm/{name}.fb_in1k/resolve/main/model.safetensors", "timm", **common),
        "hf_fb_in1k": WeightsTag(
            "hf_fb_in1k",
            f"https://huggingface.co/facebook/deit-{kind}-patch16-{resolution}/resolve/main/model.safetensors",
            "transformers",
            **common,
        ),
    }


WEIGHTS = {name: _tags(name, size, res, distilled) for name, (size, res, distilled) in _NAMES.items()}
DEFAULT_WEIGHTS = {name: "fb_in1k" for name in VARIANTS}
