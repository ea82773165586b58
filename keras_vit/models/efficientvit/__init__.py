"""The EfficientViT family of MIT Han Lab (Cai et al., ICCV 2023; timm's ``efficientvit_b*``):
model builder, named variants and their weights. Not Microsoft's EfficientViT (``efficientvit_m*``)."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout
from .model import EfficientViT, ReLULinearAttention, features

register_family("efficientvit", presets, builder=EfficientViT, convert=convert, detect=detect_layout, features=features)

__all__ = ["EfficientViT", "ReLULinearAttention"]
