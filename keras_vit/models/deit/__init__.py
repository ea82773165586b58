"""DeiT: presets over the ViT family (same builder, key maps and feature pyramid)."""
from ...registry import register_family
from ..vit.convert import convert, detect_layout, resample
from ..vit.model import VisionTransformer, distillation_outputs, features
from . import presets

register_family("deit", presets, builder=VisionTransformer, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["distillation_outputs"]
