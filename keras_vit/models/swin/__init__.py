"""The Swin Transformer family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import PatchMerging, SwinTransformer, SwinTransformerBlock, features

register_family("swin", presets, builder=SwinTransformer, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["PatchMerging", "SwinTransformer", "SwinTransformerBlock"]
