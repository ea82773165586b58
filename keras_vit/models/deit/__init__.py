"""DeiT: data-efficient image transformers.

"Training data-efficient image transformers & distillation through attention", Touvron et
al., ICML 2021 (https://arxiv.org/abs/2012.12877). The architecture is ViT's; the
``_distilled`` variants add a distillation token and a second head trained against a
teacher (see ``keras_vit.training``). At inference the two heads' logits are averaged.
"""
from ...layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ...registry import ModelSpec, register_model
from ...weights.tags import WeightsTag
from ..vit import RESAMPLE
from ..vit.convert import convert, detect_layout
from ..vit.model import VisionTransformer, distillation_outputs
from ..vit.presets import SIZES

# name -> (size, resolution, distilled, parameters with a 1000-class head, as timm)
VARIANTS = {
    "deit_tiny_patch16_224": ("tiny", 224, False, 5_717_416),
    "deit_small_patch16_224": ("small", 224, False, 22_050_664),
    "deit_base_patch16_224": ("base", 224, False, 86_567_656),
    "deit_base_patch16_384": ("base", 384, False, 86_859_496),
    "deit_tiny_distilled_patch16_224": ("tiny", 224, True, 5_910_800),
    "deit_small_distilled_patch16_224": ("small", 224, True, 22_436_432),
    "deit_base_distilled_patch16_224": ("base", 224, True, 87_338_192),
    "deit_base_distilled_patch16_384": ("base", 384, True, 87_630_032),
}


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


for _name, (_size, _res, _distilled, _params) in VARIANTS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="deit",
            builder=VisionTransformer,
            config=dict(patch_size=16, distilled=_distilled, **SIZES[_size]),
            convert=convert,
            detect=detect_layout,
            weights=_tags(_name, _size, _res, _distilled),
            default_weights="fb_in1k",
            resample=RESAMPLE,
            input_size=(_res, _res),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            parameters=_params,
            paper="Touvron et al., Training data-efficient image transformers & distillation through attention, ICML 2021",
        )
    )

__all__ = ["VARIANTS", "distillation_outputs"]
