"""The ViT family: model builder, named variants and their weights."""
from ...registry import model_shortcut, register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import VisionTransformer, features

register_family("vit", presets, builder=VisionTransformer, convert=convert, detect=detect_layout, resample=resample, features=features)

ViTTi16 = model_shortcut("vit_tiny_patch16_224", "ViTTi16")
ViTS16 = model_shortcut("vit_small_patch16_224", "ViTS16")
ViTB16 = model_shortcut("vit_base_patch16_224", "ViTB16")
ViTB32 = model_shortcut("vit_base_patch32_224", "ViTB32")
ViTL16 = model_shortcut("vit_large_patch16_224", "ViTL16")
ViTL32 = model_shortcut("vit_large_patch32_224", "ViTL32")
ViTH14 = model_shortcut("vit_huge_patch14_224", "ViTH14")

__all__ = ["VisionTransformer", "ViTTi16", "ViTS16", "ViTB16", "ViTB32", "ViTL16", "ViTL32", "ViTH14"]
