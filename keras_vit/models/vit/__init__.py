"""The ViT family: model builder, named variants and their weights."""
from ...registry import ModelSpec, model_shortcut, register_model
from .convert import convert, detect_layout
from .model import VisionTransformer
from .presets import PARAMETER_COUNTS, SIZES, VARIANTS, default_tag, weights_for

# Each source's reference resizes position embeddings its own way (see layers/resample.py).
RESAMPLE = {"timm": "bicubic_antialias", "transformers": "bicubic", "google": "bilinear", "keras_vit": "bicubic_antialias"}

for _size, _patch, _res in VARIANTS:
    _name = f"vit_{_size}_patch{_patch}_{_res}"
    _tags = weights_for(_name, _res)
    register_model(
        ModelSpec(
            name=_name,
            family="vit",
            builder=VisionTransformer,
            config=dict(patch_size=_patch, **SIZES[_size]),
            convert=convert,
            detect=detect_layout,
            weights=_tags,
            default_weights=default_tag(_tags),
            resample=RESAMPLE,
            input_size=(_res, _res),
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            parameters=PARAMETER_COUNTS[_name],
            paper="Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021",
        )
    )


ViTTi16 = model_shortcut("vit_tiny_patch16_224", "ViTTi16")
ViTS16 = model_shortcut("vit_small_patch16_224", "ViTS16")
ViTB16 = model_shortcut("vit_base_patch16_224", "ViTB16")
ViTB32 = model_shortcut("vit_base_patch32_224", "ViTB32")
ViTL16 = model_shortcut("vit_large_patch16_224", "ViTL16")
ViTL32 = model_shortcut("vit_large_patch32_224", "ViTL32")
ViTH14 = model_shortcut("vit_huge_patch14_224", "ViTH14")

__all__ = ["VisionTransformer", "ViTTi16", "ViTS16", "ViTB16", "ViTB32", "ViTL16", "ViTL32", "ViTH14"]
